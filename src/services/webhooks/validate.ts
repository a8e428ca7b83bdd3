import { isUtf8 } from 'node:buffer';
import { epochSecondsToMs } from './epoch.js';
import { KNOWN_EVENT_TYPES, type EventToStore } from './store-types.js';

/**
 * Classifies an authenticated delivery (api/README.md §8.1, §8.2). The sender retries a non-200
 * 7 times and then drops the event for good, so everything that CAN be stored is: any JSON object
 * with a string `event_id`, kept byte for byte. What the docs do not describe (an unknown
 * event_type, a field of another type, a body that is not UTF-8…) is stored flagged unrecognised,
 * with the reasons. Only a body that cannot be stored at all is refused: not JSON, not an object,
 * no string event_id (and, in the listener, over the size limit).
 */
export type Classification =
  | { ok: true; record: EventToStore }
  | { ok: false; reason: string; field?: string };

/** Longest unrecognised_reason kept (the reasons of a very odd body could be long). */
const MAX_REASON_LENGTH = 1000;
/** How much of a broken body an error message quotes. */
const QUOTE_LENGTH = 60;

type Kind = 'string' | 'epoch' | 'boolean' | 'answer';

const CMB_FIELDS: Record<string, Kind> = {
  business_number: 'string',
  feature_set: 'string',
  client_number: 'string',
  requested_at: 'epoch',
  requested_date: 'string',
  requested_slot: 'string',
  preferred_from_time: 'epoch',
  preferred_to_time: 'epoch',
  is_interested: 'boolean',
  alternate_number: 'string',
  cmb_config_name: 'string',
};

const SURVEY_FIELDS: Record<string, Kind> = {
  name: 'string',
  business_number: 'string',
  feature_set: 'string',
  client_number: 'string',
  requested_at: 'epoch',
};


function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  return typeof value === 'object' ? 'an object' : `${typeof value} ${String(value)}`;
}

/** null is allowed everywhere the docs show it can be missing; the kind decides the rest. */
function fieldProblem(value: unknown, kind: Kind): string | undefined {
  if (value === null) return undefined;
  switch (kind) {
    case 'string':
      return typeof value === 'string' ? undefined : `must be a string (got ${describe(value)})`;
    case 'boolean':
      return typeof value === 'boolean' ? undefined : `must be true or false (got ${describe(value)})`;
    case 'answer':
      return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
        ? undefined
        : `must be a string (got ${describe(value)})`;
    case 'epoch':
      if (value === 'NA' || value === '') return undefined;
      return epochSecondsToMs(value) === null ? `must be epoch seconds (got ${describe(value)})` : undefined;
  }
}

function checkFields(payload: Record<string, unknown>, fields: Record<string, Kind>, prefix: string, problems: string[]): void {
  for (const [name, kind] of Object.entries(fields)) {
    if (!(name in payload)) continue;
    const problem = fieldProblem(payload[name], kind);
    if (problem) problems.push(`${prefix}.${name} ${problem}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every way a parsed object differs from the documented shapes; empty for a documented event. */
export function eventProblems(body: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const eventId = body.event_id as string;
  if (eventId.trim() === '') problems.push('event_id is empty');
  else if (/[\u0000-\u001f\u007f]/.test(eventId)) problems.push('event_id has control characters');

  const type = body.event_type;
  const known = typeof type === 'string' && (KNOWN_EVENT_TYPES as readonly string[]).includes(type);
  if (!known) {
    problems.push(
      type === undefined
        ? 'event_type is missing'
        : `event_type ${describe(type)} is not ${KNOWN_EVENT_TYPES.map((t) => `"${t}"`).join(' or ')}`,
    );
  }

  const createdAt = body.created_at;
  if (createdAt === undefined || createdAt === null) problems.push('created_at is missing');
  else if (epochSecondsToMs(createdAt) === null) problems.push(`created_at must be epoch seconds (got ${describe(createdAt)})`);

  if ('client_account_id' in body && body.client_account_id !== null && typeof body.client_account_id !== 'string') {
    problems.push(`client_account_id must be a string (got ${describe(body.client_account_id)})`);
  }

  if (type === 'cmb') {
    const payload = body.cmb_payload;
    if (!isObject(payload)) problems.push(`cmb_payload must be an object for event_type "cmb" (got ${describe(payload)})`);
    else checkFields(payload, CMB_FIELDS, 'cmb_payload', problems);
  } else if (type === 'user_feedback') {
    const payload = body.survey_payload;
    if (!isObject(payload)) {
      problems.push(`survey_payload must be an object for event_type "user_feedback" (got ${describe(payload)})`);
    } else {
      checkFields(payload, SURVEY_FIELDS, 'survey_payload', problems);
      const responses = payload.user_responses;
      if (responses !== undefined && responses !== null) {
        if (!Array.isArray(responses)) {
          problems.push(`survey_payload.user_responses must be an array (got ${describe(responses)})`);
        } else {
          for (const [index, pair] of responses.entries()) {
            const where = `survey_payload.user_responses[${index}]`;
            if (!isObject(pair)) {
              problems.push(`${where} must be an object with question and response`);
              continue;
            }
            const question = fieldProblem(pair.question ?? null, 'string');
            if (question) problems.push(`${where}.question ${question}`);
            const response = fieldProblem(pair.response ?? null, 'answer');
            if (response) problems.push(`${where}.response ${response}`);
          }
        }
      }
    }
  }
  return problems;
}

/** The raw value of created_at as text: a string as sent, a number as its JSON text, else null. */
function createdAtText(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return JSON.stringify(value);
  return null;
}

function cut(text: string, length: number): string {
  return text.length > length ? `${text.slice(0, length)}…` : text;
}

/** Classifies a request body (the raw bytes, stored as they are). */
export function classifyDelivery(bytes: Uint8Array): Classification {
  if (bytes.length === 0) return { ok: false, reason: 'the body is empty' };
  const validUtf8 = isUtf8(bytes);
  // Decoded only to read it; the bytes are what is stored. A leading BOM is allowed (RFC 8259 §8.1).
  let text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, reason: `the body is not valid JSON: ${JSON.stringify(cut(text, QUOTE_LENGTH))}` };
  }
  if (!isObject(body)) return { ok: false, reason: `the body must be a JSON object (got ${describe(body)})` };
  const eventId = body.event_id;
  if (typeof eventId !== 'string') {
    return {
      ok: false,
      reason: eventId === undefined ? 'event_id is missing: the event cannot be identified' : `event_id must be a string (got ${describe(eventId)})`,
      field: 'event_id',
    };
  }
  const problems = eventProblems(body);
  if (!validUtf8) problems.unshift('the body is not valid UTF-8');
  const reason = problems.length === 0 ? null : cut(problems.join('; '), MAX_REASON_LENGTH);
  return {
    ok: true,
    record: {
      event_id: eventId,
      event_type: typeof body.event_type === 'string' ? body.event_type : null,
      created_at: createdAtText(body.created_at),
      created_at_ms: epochSecondsToMs(body.created_at),
      body: bytes,
      unrecognised_reason: reason,
    },
  };
}
