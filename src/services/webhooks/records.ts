import { epochSecondsToIso } from './epoch.js';
import type { KnownEventType, StoredWebhookEvent } from './store-types.js';
import type { CmbPayload, SurveyPayload, UserResponse, WebhookEvent } from './types.js';

/**
 * Flat export rows for webhook events (stable API; the log exports use it for --source webhook).
 *
 * - `cmb`: one row per event. `user_feedback`: one row per question/response pair (an event with no
 *   responses still gives one row, with question/response null, so no event disappears from a CSV).
 * - Raw values are kept exactly as they came (null, "NA", "Phone number not available", epoch-second
 *   strings); each epoch-second field gets an `<name>_iso` column (ISO-8601 UTC, or null when the raw
 *   value is null/"NA"/unparseable) right after it.
 * - Every row of a type has the same keys in the same order (CMB_EXPORT_FIELDS / FEEDBACK_EXPORT_FIELDS),
 *   missing fields as null, so CSV headers are stable.
 * - `received_at` (ISO-8601, when the listener first stored it), `deliveries` and `conflicts` (how many
 *   redeliveries had a different body) come from the store; null when given a bare event.
 * - An unrecognised event (stored although it is not a documented one) fills what it can, and
 *   carries `unrecognised_reason` and `raw`: the body as it came, as text (CSV, table) or as the
 *   parsed JSON value (JSON formats). Both are null for documented events. An event of an unknown
 *   type takes the shape of the export it appears in.
 */

/** A field's value as it came in the event: normally a string, or null (epoch seconds stay strings). */
export type RawValue = string | number | boolean | null;

export interface CmbExportRow {
  event_id: string;
  event_type: string;
  client_account_id: RawValue;
  created_at: RawValue;
  created_at_iso: string | null;
  business_number: RawValue;
  feature_set: RawValue;
  client_number: RawValue;
  requested_at: RawValue;
  requested_at_iso: string | null;
  requested_date: RawValue;
  requested_slot: RawValue;
  preferred_from_time: RawValue;
  preferred_from_time_iso: string | null;
  preferred_to_time: RawValue;
  preferred_to_time_iso: string | null;
  is_interested: RawValue;
  alternate_number: RawValue;
  cmb_config_name: RawValue;
  received_at: string | null;
  deliveries: number | null;
  conflicts: number | null;
  unrecognised_reason: string | null;
  /** The body as it came (unrecognised events only): text, or the parsed value (see RowOptions). */
  raw: unknown;
}

export interface FeedbackExportRow {
  event_id: string;
  event_type: string;
  client_account_id: RawValue;
  created_at: RawValue;
  created_at_iso: string | null;
  survey_name: RawValue;
  business_number: RawValue;
  feature_set: RawValue;
  client_number: RawValue;
  requested_at: RawValue;
  requested_at_iso: string | null;
  /** 1-based position of the pair in user_responses; null when the event had none. */
  response_index: number | null;
  question: RawValue;
  response: RawValue;
  received_at: string | null;
  deliveries: number | null;
  conflicts: number | null;
  unrecognised_reason: string | null;
  /** The body as it came (unrecognised events only): text, or the parsed value (see RowOptions). */
  raw: unknown;
}

export type WebhookExportRow = CmbExportRow | FeedbackExportRow;

export const CMB_EXPORT_FIELDS: readonly (keyof CmbExportRow)[] = [
  'event_id',
  'event_type',
  'client_account_id',
  'created_at',
  'created_at_iso',
  'business_number',
  'feature_set',
  'client_number',
  'requested_at',
  'requested_at_iso',
  'requested_date',
  'requested_slot',
  'preferred_from_time',
  'preferred_from_time_iso',
  'preferred_to_time',
  'preferred_to_time_iso',
  'is_interested',
  'alternate_number',
  'cmb_config_name',
  'received_at',
  'deliveries',
  'conflicts',
  'unrecognised_reason',
  'raw',
];

export const FEEDBACK_EXPORT_FIELDS: readonly (keyof FeedbackExportRow)[] = [
  'event_id',
  'event_type',
  'client_account_id',
  'created_at',
  'created_at_iso',
  'survey_name',
  'business_number',
  'feature_set',
  'client_number',
  'requested_at',
  'requested_at_iso',
  'response_index',
  'question',
  'response',
  'received_at',
  'deliveries',
  'conflicts',
  'unrecognised_reason',
  'raw',
];

/** A value exactly as it came; an absent field is null. */
function raw(value: unknown): RawValue {
  return value === undefined ? null : (value as RawValue);
}

function isStored(input: StoredWebhookEvent | WebhookEvent): input is StoredWebhookEvent {
  return typeof (input as StoredWebhookEvent).seq === 'number' && (input as StoredWebhookEvent).body instanceof Uint8Array;
}

/** The stored bytes as text: UTF-8 (invalid sequences become U+FFFD), a leading BOM dropped. */
export function decodeBody(body: Uint8Array): string {
  const text = Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

/** The stored event parsed (the listener only stores JSON objects). */
export function parseStoredEvent(stored: StoredWebhookEvent): WebhookEvent {
  return JSON.parse(decodeBody(stored.body)) as WebhookEvent;
}

export interface RowOptions {
  /** The export the rows are for: decides the shape of an event of unknown type (default cmb). */
  type?: KnownEventType;
  /** `raw` of unrecognised events: 'text' (CSV, table: the body as it came) or 'value' (JSON: parsed). */
  raw?: 'text' | 'value';
}

/** Rows for one event: a stored one (from the store's events()) or a bare event object. */
export function toExportRows(input: StoredWebhookEvent | WebhookEvent, options: RowOptions = {}): WebhookExportRow[] {
  const stored = isStored(input) ? input : undefined;
  const text = stored ? decodeBody(stored.body) : undefined;
  const parsed: unknown = text === undefined ? input : JSON.parse(text);
  const event = (isObject(parsed) ? parsed : {}) as WebhookEvent;
  const unrecognised = stored?.unrecognised_reason ?? null;
  const common = {
    event_id: stored ? stored.event_id : String(event.event_id),
    event_type: raw(event.event_type) as string,
    client_account_id: raw(event.client_account_id),
    created_at: raw(event.created_at),
    created_at_iso: epochSecondsToIso(event.created_at),
  };
  const meta = {
    received_at: stored?.received_at ?? null,
    deliveries: stored?.deliveries ?? null,
    conflicts: stored?.conflicts ?? null,
    unrecognised_reason: unrecognised,
    raw: unrecognised === null ? null : options.raw === 'value' ? parsed : text ?? JSON.stringify(parsed),
  };
  const shape = event.event_type === 'cmb' || event.event_type === 'user_feedback' ? event.event_type : (options.type ?? 'cmb');

  if (shape === 'user_feedback') {
    const payload: SurveyPayload = isObject(event.survey_payload) ? event.survey_payload : {};
    const base = {
      ...common,
      survey_name: raw(payload.name),
      business_number: raw(payload.business_number),
      feature_set: raw(payload.feature_set),
      client_number: raw(payload.client_number),
      requested_at: raw(payload.requested_at),
      requested_at_iso: epochSecondsToIso(payload.requested_at),
    };
    const responses: UserResponse[] = Array.isArray(payload.user_responses) ? payload.user_responses : [];
    if (responses.length === 0) {
      return [{ ...base, response_index: null, question: null, response: null, ...meta }];
    }
    return responses.map((pair, index) => ({
      ...base,
      response_index: index + 1,
      question: raw(isObject(pair) ? pair.question : undefined),
      response: raw(isObject(pair) ? pair.response : pair),
      ...meta,
    }));
  }

  const payload: CmbPayload = isObject(event.cmb_payload) ? event.cmb_payload : {};
  const row: CmbExportRow = {
    ...common,
    business_number: raw(payload.business_number),
    feature_set: raw(payload.feature_set),
    client_number: raw(payload.client_number),
    requested_at: raw(payload.requested_at),
    requested_at_iso: epochSecondsToIso(payload.requested_at),
    requested_date: raw(payload.requested_date),
    requested_slot: raw(payload.requested_slot),
    preferred_from_time: raw(payload.preferred_from_time),
    preferred_from_time_iso: epochSecondsToIso(payload.preferred_from_time),
    preferred_to_time: raw(payload.preferred_to_time),
    preferred_to_time_iso: epochSecondsToIso(payload.preferred_to_time),
    is_interested: raw(payload.is_interested),
    alternate_number: raw(payload.alternate_number),
    cmb_config_name: raw(payload.cmb_config_name),
    ...meta,
  };
  return [row];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
