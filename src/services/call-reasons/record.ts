/**
 * One call-personalisation record: validation and normalisation shared by `call-reason push`
 * (flags) and `call-reason upload` (CSV rows). Pure and allocation-light: the upload validates
 * every row of files with millions of rows, so the common case (clean digits, epoch ms) takes
 * fast paths and only failures allocate error objects.
 *
 * The readings chosen where api/README.md §10 contradicts itself:
 * - numbers: digits with the country code, no "+" (a "+" or "00" prefix, spaces, dashes, dots and
 *   brackets are normalised away); 8–15 digits, not starting with 0;
 * - label_id: required, a UUID (OAS; the docs' notes say it must be a dynamic label of this client);
 * - dynamic_label_name: optional (VB-new + OAS: defaults to the label's name); when given, 3–40 characters;
 * - dynamic_call_reason: optional; when given, 10–100 characters (the real-time v2 table and the notes;
 *   the batch tables' "3–10" is contradicted by their own examples), and no special characters:
 *   letters (any script), digits, spaces and the punctuation . , ' - ? ! : ( ) & / only;
 * - times: integer epoch milliseconds; ends_at after starts_at, not before now, and at most 24 h after starts_at.
 */
import { normalisePhoneNumber } from '../../util/phone.js';
import { characterProblem, quoteValue } from '../../util/text.js';
import { MAX_EPOCH_MS, parseDuration, parseTime, TimeParseError } from '../../util/time.js';

/** Field values as read from a CSV row or from flags (v2 names; the CSV reader maps v1 names). */
export interface CallReasonInput {
  caller_number?: string;
  receiver_number?: string;
  starts_at?: string;
  ends_at?: string;
  label_id?: string;
  dynamic_label_name?: string;
  dynamic_call_reason?: string;
}

/** Values for fields a row leaves empty (from flags). Times: epoch ms, or text parseTime accepts. */
export interface CallReasonDefaults {
  label_id?: string;
  dynamic_label_name?: string;
  dynamic_call_reason?: string;
  starts_at?: number | string;
  /** ends_at = starts_at + duration_ms when the row has no ends_at (and no ends_at default). */
  duration_ms?: number;
  ends_at?: number | string;
}

/** A v2 record as the API wants it. */
export interface CallReasonRecord {
  caller_number: string;
  receiver_number: string;
  starts_at: number;
  ends_at: number;
  label_id: string;
  dynamic_label_name?: string;
  dynamic_call_reason?: string;
}

/** The deprecated v1 shape (cp-realtime-v1, cp-bulk-v1). */
export interface CallReasonRecordV1 {
  caller: string;
  receiver: string;
  starts_at: number;
  ends_at: number;
  label_id: string;
  label_name?: string;
  call_reason?: string;
}

export type CallReasonField = keyof CallReasonInput;

export interface FieldError {
  field: CallReasonField;
  message: string;
}

export type ValidationResult = { ok: true; record: CallReasonRecord } | { ok: false; errors: FieldError[] };

export interface ValidateOptions {
  /** "Now" in epoch ms: ends_at may not be before it; relative times are relative to it. */
  now: number;
  defaults?: CallReasonDefaults;
}

export const MAX_WINDOW_MS = 24 * 60 * 60 * 1000;
export const LABEL_NAME_MIN = 3;
export const LABEL_NAME_MAX = 40;
export const CALL_REASON_MIN = 10;
export const CALL_REASON_MAX = 100;
export const CALL_REASON_PUNCTUATION = ".,'-?!:()&/";

/** Epoch ms below this (March 1973) is almost certainly seconds typed by mistake (same rule as util/time). */
const MIN_PLAUSIBLE_EPOCH_MS = 100_000_000_000;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CALL_REASON_UNICODE = /^[\p{L}\p{M}\p{N} .,'\-?!:()&/]*$/u;

/** ASCII lookup table for call-reason characters. */
const REASON_ASCII = new Uint8Array(128);
for (let c = 48; c <= 57; c += 1) REASON_ASCII[c] = 1;
for (let c = 65; c <= 90; c += 1) REASON_ASCII[c] = 1;
for (let c = 97; c <= 122; c += 1) REASON_ASCII[c] = 1;
REASON_ASCII[32] = 1;
for (const ch of CALL_REASON_PUNCTUATION) REASON_ASCII[ch.charCodeAt(0)] = 1;

function present(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

/** Trims only when needed (CSV cells are usually clean). */
function clean(value: string): string {
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(value.length - 1);
  return first <= 32 || last <= 32 || first === 0xfeff ? value.trim().replace(/^\uFEFF/, '') : value;
}

let phoneReason = '';

/** Digits-only fast path; everything else goes through the shared normaliser. Sets phoneReason on failure. */
function phone(value: string): string | undefined {
  const n = value.length;
  if (n >= 8 && n <= 15 && value.charCodeAt(0) > 48 && value.charCodeAt(0) <= 57) {
    let digits = true;
    for (let i = 1; i < n; i += 1) {
      const c = value.charCodeAt(i);
      if (c < 48 || c > 57) {
        digits = false;
        break;
      }
    }
    if (digits) return value;
  }
  const result = normalisePhoneNumber(value);
  if (result.ok) return result.number;
  phoneReason = result.reason;
  return undefined;
}

/** Epoch-ms fast path; ISO-8601 and relative forms through util/time. Returns a message on failure. */
function time(value: string, now: number): number | string {
  const n = value.length;
  if (n >= 12 && n <= 15) {
    let ms = 0;
    let i = 0;
    for (; i < n; i += 1) {
      const c = value.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      ms = ms * 10 + c;
    }
    if (i === n) return ms;
  }
  try {
    return parseTime(value, now);
  } catch (error) {
    return error instanceof TimeParseError ? error.message : String(error);
  }
}

function defaultTime(value: number | string | undefined, now: number): number | string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'number' ? value : time(value, now);
}

/** Length in characters (code points), cheap for ASCII. */
function charLength(value: string): number {
  for (let i = 0; i < value.length; i += 1) {
    if (value.charCodeAt(i) >= 0xd800) {
      let count = 0;
      for (const _ of value) count += 1;
      return count;
    }
  }
  return value.length;
}

function reasonCharactersOk(value: string): boolean {
  for (let i = 0; i < value.length; i += 1) {
    const c = value.charCodeAt(i);
    if (c >= 128) return CALL_REASON_UNICODE.test(value);
    if (REASON_ASCII[c] === 0) return false;
  }
  return true;
}

function firstBadReasonCharacter(value: string): string | undefined {
  for (const ch of value) if (!CALL_REASON_UNICODE.test(ch)) return ch;
  return undefined;
}

function push(errors: FieldError[] | undefined, field: CallReasonField, message: string): FieldError[] {
  const list = errors ?? [];
  list.push({ field, message });
  return list;
}

/** The last label id that passed: uploads repeat the same one on every row. */
let lastGoodLabelId = '';

function labelIdProblem(value: string): string | undefined {
  if (value === lastGoodLabelId) return undefined;
  if (value.length !== 36 || !UUID.test(value)) return `label_id ${quoteValue(value)} is not a UUID`;
  lastGoodLabelId = value;
  return undefined;
}

const NO_DEFAULTS: CallReasonDefaults = {};

function plausibleTime(ms: number): boolean {
  return Number.isSafeInteger(ms) && ms >= MIN_PLAUSIBLE_EPOCH_MS && ms <= MAX_EPOCH_MS;
}

/**
 * A field that failed its own check: bytes that were not UTF-8 or a control character are named
 * as such (they are what went wrong, and often invisible), else the check's own message.
 */
function fieldProblem(field: CallReasonField, value: string, otherwise: string): string {
  const problem = characterProblem(value);
  return problem ? `${field} ${problem}` : otherwise;
}

/** Validates and normalises one record. Never throws for bad input: failures come back as field errors. */
export function validateCallReason(input: CallReasonInput, options: ValidateOptions): ValidationResult {
  const now = options.now;
  const defaults = options.defaults ?? NO_DEFAULTS;
  let errors: FieldError[] | undefined;

  let caller = '';
  let value = input.caller_number;
  if (present(value)) {
    const number = phone(clean(value));
    if (number !== undefined) caller = number;
    else errors = push(errors, 'caller_number', `caller_number ${phoneReason}`);
  } else errors = push(errors, 'caller_number', 'caller_number is required');

  let receiver = '';
  value = input.receiver_number;
  if (present(value)) {
    const number = phone(clean(value));
    if (number !== undefined) receiver = number;
    else errors = push(errors, 'receiver_number', `receiver_number ${phoneReason}`);
  } else errors = push(errors, 'receiver_number', 'receiver_number is required');

  let startsAt: number | undefined;
  const start = present(input.starts_at) ? time(clean(input.starts_at), now) : (defaultTime(defaults.starts_at, now) ?? now);
  if (typeof start === 'number') startsAt = start;
  else errors = push(errors, 'starts_at', fieldProblem('starts_at', input.starts_at ?? '', `starts_at: ${start}`));

  let endsAt: number | undefined;
  let end: number | string | undefined;
  if (present(input.ends_at)) end = time(clean(input.ends_at), now);
  else if (defaults.ends_at !== undefined) end = defaultTime(defaults.ends_at, now);
  else if (defaults.duration_ms !== undefined) end = startsAt === undefined ? undefined : startsAt + defaults.duration_ms;
  else end = 'ends_at is required (a column, or --ends-at / --duration)';
  if (typeof end === 'number') endsAt = end;
  else if (end !== undefined) {
    errors = push(errors, 'ends_at', end.startsWith('ends_at') ? end : fieldProblem('ends_at', input.ends_at ?? '', `ends_at: ${end}`));
  }

  if (startsAt !== undefined && !plausibleTime(startsAt)) {
    errors = push(errors, 'starts_at', `starts_at ${startsAt} is not a plausible epoch-milliseconds time (years 1973 to 9999)`);
    startsAt = undefined;
  }
  if (endsAt !== undefined && !plausibleTime(endsAt)) {
    errors = push(errors, 'ends_at', `ends_at ${endsAt} is not a plausible epoch-milliseconds time (years 1973 to 9999)`);
    endsAt = undefined;
  }
  if (endsAt !== undefined) {
    if (endsAt < now) errors = push(errors, 'ends_at', `ends_at (${new Date(endsAt).toISOString()}) is in the past`);
    if (startsAt !== undefined) {
      if (endsAt <= startsAt) errors = push(errors, 'ends_at', 'ends_at must be after starts_at');
      else if (endsAt - startsAt > MAX_WINDOW_MS) errors = push(errors, 'ends_at', 'ends_at is more than 24 hours after starts_at');
    }
  }

  let labelId = '';
  value = present(input.label_id) ? clean(input.label_id) : defaults.label_id;
  if (!present(value)) errors = push(errors, 'label_id', 'label_id is required (a column, or --label-id)');
  else {
    const problem = labelIdProblem(value);
    if (problem) errors = push(errors, 'label_id', fieldProblem('label_id', value, problem));
    else labelId = value;
  }

  let labelName: string | undefined;
  value = present(input.dynamic_label_name) ? clean(input.dynamic_label_name) : defaults.dynamic_label_name;
  if (present(value)) {
    const length = charLength(value);
    // Only the length is documented for label names: tabs and line breaks pass, other controls do not.
    const problem = characterProblem(value, { allowWhitespace: true });
    if (problem) errors = push(errors, 'dynamic_label_name', `dynamic_label_name ${problem}`);
    else if (length < LABEL_NAME_MIN || length > LABEL_NAME_MAX) {
      errors = push(errors, 'dynamic_label_name', `dynamic_label_name must be ${LABEL_NAME_MIN}-${LABEL_NAME_MAX} characters (has ${length})`);
    } else labelName = value;
  }

  let reason: string | undefined;
  value = present(input.dynamic_call_reason) ? clean(input.dynamic_call_reason) : defaults.dynamic_call_reason;
  if (present(value)) {
    const length = charLength(value);
    const problem = characterProblem(value);
    if (problem) errors = push(errors, 'dynamic_call_reason', `dynamic_call_reason ${problem}`);
    else if (length < CALL_REASON_MIN || length > CALL_REASON_MAX) {
      errors = push(errors, 'dynamic_call_reason', `dynamic_call_reason must be ${CALL_REASON_MIN}-${CALL_REASON_MAX} characters (has ${length})`);
    } else if (!reasonCharactersOk(value)) {
      const bad = firstBadReasonCharacter(value);
      errors = push(
        errors,
        'dynamic_call_reason',
        `dynamic_call_reason has a special character${bad ? ` (${quoteValue(bad)})` : ''}; allowed: letters, digits, spaces and ${CALL_REASON_PUNCTUATION}`,
      );
    } else reason = value;
  }

  if (errors) return { ok: false, errors };
  const record: CallReasonRecord = {
    caller_number: caller,
    receiver_number: receiver,
    starts_at: startsAt!,
    ends_at: endsAt!,
    label_id: labelId,
  };
  if (labelName !== undefined) record.dynamic_label_name = labelName;
  if (reason !== undefined) record.dynamic_call_reason = reason;
  return { ok: true, record };
}

/** The deprecated v1 field names. */
export function toV1Record(record: CallReasonRecord): CallReasonRecordV1 {
  const v1: CallReasonRecordV1 = {
    caller: record.caller_number,
    receiver: record.receiver_number,
    starts_at: record.starts_at,
    ends_at: record.ends_at,
    label_id: record.label_id,
  };
  if (record.dynamic_label_name !== undefined) v1.label_name = record.dynamic_label_name;
  if (record.dynamic_call_reason !== undefined) v1.call_reason = record.dynamic_call_reason;
  return v1;
}

/** Flag values for defaults, as commander hands them over. */
export interface DefaultFlags {
  labelId?: string;
  labelName?: string;
  reason?: string;
  startsAt?: string;
  endsAt?: string;
  duration?: string;
}

export class DefaultFlagError extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Defaults from flags, with times resolved once (so every row shares the same "now").
 * Throws DefaultFlagError naming the flag; commands wrap it in a UsageError.
 */
export function defaultsFromFlags(flags: DefaultFlags, now: number): CallReasonDefaults {
  const defaults: CallReasonDefaults = {};
  // A bad character in a flag is named as the flag's fault, not once for every row.
  const text = (flag: string, value: string, allowWhitespace = false): string => {
    const problem = characterProblem(value, { allowWhitespace });
    if (problem) throw new DefaultFlagError(flag, `${flag} ${problem}`);
    return value.trim();
  };
  if (flags.labelId !== undefined) defaults.label_id = text('--label-id', flags.labelId);
  if (flags.labelName !== undefined) defaults.dynamic_label_name = text('--label-name', flags.labelName, true);
  if (flags.reason !== undefined) defaults.dynamic_call_reason = text('--reason', flags.reason);
  const timeFlag = (flag: string, value: string): number => {
    try {
      return parseTime(value, now);
    } catch (error) {
      throw new DefaultFlagError(flag, `${flag}: ${(error as Error).message}`);
    }
  };
  if (flags.startsAt !== undefined) defaults.starts_at = timeFlag('--starts-at', flags.startsAt);
  if (flags.endsAt !== undefined) defaults.ends_at = timeFlag('--ends-at', flags.endsAt);
  if (flags.duration !== undefined) {
    if (flags.endsAt !== undefined) throw new DefaultFlagError('--duration', '--duration and --ends-at cannot be used together');
    try {
      defaults.duration_ms = parseDuration(flags.duration);
    } catch (error) {
      throw new DefaultFlagError('--duration', `--duration: ${(error as Error).message}`);
    }
    if (defaults.duration_ms <= 0 || defaults.duration_ms > MAX_WINDOW_MS) {
      throw new DefaultFlagError('--duration', `--duration must be more than 0 and at most 24h (got ${flags.duration})`);
    }
  }
  return defaults;
}
