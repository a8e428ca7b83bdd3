import { epochSecondsToMs } from './epoch.js';
import type { EventToStore } from './store.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEvent, type WebhookEventType } from './types.js';

/**
 * Validation of an incoming webhook body (api/README.md §8.1, §8.2). Strict on what identifies and
 * dates an event (event_id, event_type, created_at, the payload object of its type); tolerant of
 * what the docs show varying (null times, "NA", placeholder numbers, fields added later): documented
 * payload fields are type-checked only when present, and unknown fields are kept. A 400 makes
 * Truecaller retry the event 7 times and then give up, so rejecting is reserved for bodies we could
 * not store or export meaningfully.
 */
export type ValidationResult =
  | { ok: true; event: WebhookEvent; record: EventToStore }
  | { ok: false; reason: string; field?: string };

const MAX_EVENT_ID_LENGTH = 200;

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

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

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

function checkFields(payload: Record<string, unknown>, fields: Record<string, Kind>, prefix: string) {
  for (const [name, kind] of Object.entries(fields)) {
    if (!(name in payload)) continue;
    const problem = fieldProblem(payload[name], kind);
    if (problem) return { ok: false as const, reason: `${prefix}.${name} ${problem}`, field: `${prefix}.${name}` };
  }
  return undefined;
}

export function validateEvent(body: unknown, rawText?: string): ValidationResult {
  if (!isObject(body)) return { ok: false, reason: `the body must be a JSON object (got ${describe(body)})` };

  const eventId = body.event_id;
  if (typeof eventId !== 'string' || eventId.trim() === '') {
    return { ok: false, reason: 'event_id is missing or not a non-empty string', field: 'event_id' };
  }
  if (eventId.length > MAX_EVENT_ID_LENGTH || /[\u0000-\u001f\u007f]/.test(eventId)) {
    return { ok: false, reason: `event_id must be at most ${MAX_EVENT_ID_LENGTH} printable characters`, field: 'event_id' };
  }

  const type = body.event_type;
  if (typeof type !== 'string' || !(WEBHOOK_EVENT_TYPES as readonly string[]).includes(type)) {
    return {
      ok: false,
      reason: `event_type must be ${WEBHOOK_EVENT_TYPES.map((t) => `"${t}"`).join(' or ')} (got ${describe(type)})`,
      field: 'event_type',
    };
  }

  const createdAt = body.created_at;
  if (createdAt === undefined || createdAt === null || (typeof createdAt !== 'string' && typeof createdAt !== 'number')) {
    return { ok: false, reason: `created_at is missing or not epoch seconds (got ${describe(createdAt)})`, field: 'created_at' };
  }
  if (epochSecondsToMs(createdAt) === null) {
    return { ok: false, reason: `created_at must be epoch seconds (got ${describe(createdAt)})`, field: 'created_at' };
  }

  if ('client_account_id' in body && body.client_account_id !== null && typeof body.client_account_id !== 'string') {
    return { ok: false, reason: `client_account_id must be a string (got ${describe(body.client_account_id)})`, field: 'client_account_id' };
  }

  if (type === 'cmb') {
    const payload = body.cmb_payload;
    if (!isObject(payload)) {
      return { ok: false, reason: `cmb_payload must be an object for event_type "cmb" (got ${describe(payload)})`, field: 'cmb_payload' };
    }
    const problem = checkFields(payload, CMB_FIELDS, 'cmb_payload');
    if (problem) return problem;
  } else {
    const payload = body.survey_payload;
    if (!isObject(payload)) {
      return {
        ok: false,
        reason: `survey_payload must be an object for event_type "user_feedback" (got ${describe(payload)})`,
        field: 'survey_payload',
      };
    }
    const problem = checkFields(payload, SURVEY_FIELDS, 'survey_payload');
    if (problem) return problem;
    const responses = payload.user_responses;
    if (responses !== undefined && responses !== null) {
      if (!Array.isArray(responses)) {
        return { ok: false, reason: `survey_payload.user_responses must be an array (got ${describe(responses)})`, field: 'survey_payload.user_responses' };
      }
      for (const [index, pair] of responses.entries()) {
        const where = `survey_payload.user_responses[${index}]`;
        if (!isObject(pair)) return { ok: false, reason: `${where} must be an object with question and response`, field: where };
        const question = fieldProblem(pair.question ?? null, 'string');
        if (question) return { ok: false, reason: `${where}.question ${question}`, field: `${where}.question` };
        const response = fieldProblem(pair.response ?? null, 'answer');
        if (response) return { ok: false, reason: `${where}.response ${response}`, field: `${where}.response` };
      }
    }
  }

  const event = body as WebhookEvent;
  return {
    ok: true,
    event,
    record: {
      event_id: eventId,
      event_type: type as WebhookEventType,
      created_at: String(createdAt),
      body: rawText ?? JSON.stringify(body),
    },
  };
}

/** Parses a request body (UTF-8 text) and validates it. */
export function parseEvent(input: string): ValidationResult {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (error) {
    return { ok: false, reason: `the body is not valid JSON: ${(error as Error).message}` };
  }
  return validateEvent(body, text);
}
