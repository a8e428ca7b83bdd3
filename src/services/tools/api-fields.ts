import { UsageError } from '../../errors.js';

/**
 * `tcb api` fields and headers, parsed before anything is sent. Pure apart from the reader given
 * for `@file` values, so every rule is unit-tested.
 *
 * -f key=value   a string
 * -F key=value   true, false, null and JSON numbers become literals; @file / @- read text
 * key[sub]=v     nests objects; key[]=v appends to an array; a bare key[] is an empty array
 */
export interface FieldArgument {
  flag: '-f' | '-F';
  text: string;
}

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface ParsedField {
  /** The key as typed, e.g. `items[][id]`: the query-string name. */
  key: string;
  /** `items`, ``, `id`: '' is an array position. */
  segments: string[];
  /** undefined only for a bare `key[]` (an empty array). */
  value: JsonValue | undefined;
  argument: string;
}

/** Reads `@file` (or `@-` for stdin) as text; errors name the flag. */
export type TextReader = (source: string, flag: string) => string;

const KEY = /^([^[\]=]+)((?:\[[^[\]]*\])*)$/;
const INTEGER = /^-?(?:0|[1-9]\d*)$/;
const DECIMAL = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

function describe(field: FieldArgument): string {
  return `${field.flag} ${field.text.length > 60 ? `${field.text.slice(0, 57)}...` : field.text}`;
}

export function parseKey(key: string, where: string): string[] {
  const match = KEY.exec(key);
  if (!match) {
    throw new UsageError(`${where}: "${key}" is not a field name; use name, name[sub] or name[]`, { field: 'field' });
  }
  const segments = [match[1]!];
  for (const part of match[2]!.matchAll(/\[([^[\]]*)\]/g)) segments.push(part[1]!);
  return segments;
}

/** -F: JSON literals for true/false/null and numbers JavaScript holds exactly; anything else stays text. */
export function typedValue(text: string): JsonValue {
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  if (INTEGER.test(text)) {
    const number = Number(text);
    // A 20-digit id would lose digits as a JSON number: keep it as the text typed.
    return Number.isSafeInteger(number) ? number : text;
  }
  if (DECIMAL.test(text)) {
    const number = Number(text);
    if (Number.isFinite(number)) return number;
  }
  return text;
}

export function parseField(field: FieldArgument, read: TextReader): ParsedField {
  const where = describe(field);
  const equals = field.text.indexOf('=');
  if (equals < 0) {
    const segments = parseKey(field.text, where);
    if (segments[segments.length - 1] !== '') {
      throw new UsageError(`${where}: expected key=value (a bare key[] makes an empty array)`, { field: 'field' });
    }
    return { key: field.text, segments, value: undefined, argument: where };
  }
  const key = field.text.slice(0, equals);
  const text = field.text.slice(equals + 1);
  const segments = parseKey(key, where);
  let value: JsonValue;
  if (field.flag === '-f') value = text;
  else if (text.startsWith('@')) value = read(text.slice(1), where);
  else value = typedValue(text);
  return { key, segments, value, argument: where };
}

function isObject(value: unknown): value is Record<string, JsonValue> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Own properties only, and `__proto__` as a plain key, never the prototype. */
function put(container: Record<string, JsonValue> | JsonValue[], key: string | number, value: JsonValue): void {
  Object.defineProperty(container, key, { value, enumerable: true, writable: true, configurable: true });
}

function get(container: Record<string, JsonValue> | JsonValue[], key: string | number): JsonValue | undefined {
  return Object.prototype.hasOwnProperty.call(container, key) ? (container as Record<string, JsonValue>)[key as string] : undefined;
}

/** Fields → one JSON object, in the order given. Conflicting keys are an error naming both. */
export function buildBody(fields: readonly ParsedField[]): Record<string, JsonValue> {
  const root: Record<string, JsonValue> = {};
  const conflict = (field: ParsedField, what: string): never => {
    throw new UsageError(`${field.argument}: ${what}`, { field: 'field' });
  };
  const nameOf = (field: ParsedField, depth: number) =>
    field.segments[0]! + field.segments.slice(1, depth).map((segment) => `[${segment}]`).join('');

  for (const field of fields) {
    let parent: Record<string, JsonValue> | JsonValue[] = root;
    let key: string | number = field.segments[0]!;
    for (let i = 1; i < field.segments.length; i += 1) {
      const segment = field.segments[i]!;
      const next = field.segments[i + 1];
      let current = get(parent, key);
      if (segment === '') {
        if (current === undefined) put(parent, key, (current = []));
        if (!Array.isArray(current)) conflict(field, `${nameOf(field, i)} is already ${kindOf(current)}, not an array`);
        const array = current as JsonValue[];
        if (next === undefined) {
          parent = array;
          key = array.length;
          continue;
        }
        // items[][a]=1 items[][b]=2 fill one object; a key seen again starts the next one.
        const last = array[array.length - 1];
        if (next !== '' && isObject(last) && get(last, next) === undefined) {
          parent = array;
          key = array.length - 1;
          continue;
        }
        array.push(next === '' ? [] : {});
        parent = array;
        key = array.length - 1;
        continue;
      }
      if (current === undefined) put(parent, key, (current = {}));
      if (!isObject(current)) conflict(field, `${nameOf(field, i)} is already ${kindOf(current)}, not an object`);
      parent = current as Record<string, JsonValue>;
      key = segment;
    }
    // A bare key[] only makes sure its array exists (it may already have items).
    if (field.value === undefined) continue;
    if (!Array.isArray(parent) && get(parent, key) !== undefined) {
      conflict(field, `${field.key} is already set to ${kindOf(get(parent, key))}; to send a list use ${field.key.replace(/\[\]$/, '')}[]=…`);
    }
    put(parent, key, field.value);
  }
  return root;
}

function kindOf(value: JsonValue | undefined): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}

/** Fields of a GET (or of a request with --input) become query parameters, keys as typed. */
export function toQuery(fields: readonly ParsedField[]): Array<[string, string]> {
  return fields.map((field) => {
    if (field.value === undefined) throw new UsageError(`${field.argument}: an empty array has no query-string form`, { field: 'field' });
    const value = field.value;
    return [field.key, typeof value === 'string' ? value : JSON.stringify(value)];
  });
}

const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** -H 'Name: value'. Authorization is tcb's, from its credentials. */
export function parseHeader(text: string): [string, string] {
  const colon = text.indexOf(':');
  const name = colon < 0 ? text.trim() : text.slice(0, colon).trim();
  const value = colon < 0 ? '' : text.slice(colon + 1).trim();
  if (colon < 0 || !HEADER_NAME.test(name)) {
    throw new UsageError(`-H ${JSON.stringify(text)}: expected "Name: value"`, { field: 'header' });
  }
  // Control characters would split the request; fetch also refuses anything beyond Latin-1.
  if (/[\0-\x08\x0a-\x1f\x7f]/.test(value) || /[^\0-\xff]/.test(value)) {
    throw new UsageError(`-H ${name}: the value has control characters or characters outside Latin-1`, { field: 'header' });
  }
  if (name.toLowerCase() === 'authorization') {
    throw new UsageError('-H Authorization cannot be given: tcb sends its own token, from its credentials', {
      field: 'header',
      hint: 'to call the API with another key, use another profile (--profile) or TCB_KEY_ID/TCB_API_KEY',
    });
  }
  return [name, value];
}
