// Call personalisation (API reference §6.2–6.4, §7.1–7.3, §9.2): real-time and batch, v2 and the
// deprecated v1, plus batch status (v2 on both /v2 and /v3, and v1).
//
// Validation answers with the documented bodies: v2 → 400 {"status_info":{"status":"error","field","message":
// "Request body is invalid: …"}}; v1 → 400 {"status":"failure","message":"… BatchID: <id>"} (the docs do not
// show the HTTP status of a v1 failure; 400 is our choice). A batch of 0 or more than 500 records is a 400.
//
// Batches complete `batchDelayMs` after they are accepted (default 1500 ms; tests set
// callReasonSandbox(handle.state).config.batchDelayMs).
// Until then every record is {"status":"pending"}; afterwards "success", or "failed" with one of the
// documented Call Reason Errors (§9.2), chosen deterministically:
//   receiver number ending in 01 → "Not a Truecaller user"
//                              02 → "OS not supported"
//                              03 → "App version not supported"
//                              04 → "Failed to push"
//   call reason with a disallowed special character → "Invalid input" (batch endpoints only; the
//   real-time endpoints reject such a record at once with a 400 naming dynamic_call_reason / call_reason)
// Status records come back in the order they were sent (the numbers are masked, as documented).
//
// counters.extra: recordsReceived (records in accepted requests, every endpoint), duplicateRecordsReceived
// (same caller, receiver, starts_at, ends_at and call reason as a record received before),
// batchesAccepted (cp-batch-v2 and cp-bulk-v1), realtimeRecordsAccepted (cp-realtime-v1/v2).
import { randomUUID } from 'node:crypto';
import type { RouteContext, RouteDefinition, RouteResponse } from '../types.js';
import type { SandboxState } from '../state.js';
import { moduleState } from '../state.js';
import { slugResponse } from '../errors.js';

export const MAX_BATCH_RECORDS = 500;
const DAY_MS = 24 * 60 * 60 * 1000;

/** The Call Reason Errors of api/README.md §9.2, keyed by the receiver-number suffix that triggers them. */
export const FAILURE_BY_RECEIVER_SUFFIX: Readonly<Record<string, string>> = {
  '01': 'Not a Truecaller user',
  '02': 'OS not supported',
  '03': 'App version not supported',
  '04': 'Failed to push',
};
export const INVALID_INPUT_REASON = 'Invalid input';

/**
 * Characters the sandbox treats as "special" in a call reason (the docs do not list them): anything
 * other than letters, digits, spaces and . , ' - ? ! : ( ) & /
 */
const SPECIAL_CHARACTER = /[^\p{L}\p{M}\p{N} .,'\-?!:()&/]/u;

/** The label of the documented cp-* examples; it is not in labels-get, but its id is accepted. */
const DOCUMENTED_EXAMPLE_LABEL = { id: 'c6d86658-008d-4c08-98fb-2bf2649d59a5', name: 'Centro Bank KYC Department' };

type ApiVersion = 'v1' | 'v2';

/** A record as stored, whichever version sent it. */
interface StoredRecord {
  id: string;
  caller: string;
  receiver: string;
  startsAt: number;
  endsAt: number;
  labelId: string | null;
  labelName: string | null;
  callReason: string | null;
  createdAt: number;
  /** Set when the record fails once its batch completes. */
  failure: string | undefined;
}

export interface StoredBatch {
  id: string;
  version: ApiVersion;
  createdAt: number;
  completesAt: number;
  records: StoredRecord[];
}

export interface CallReasonConfig {
  /**
   * How long after acceptance a batch reaches its final state. Undefined: the core knob
   * `batchDelayMs` if the sandbox core has one, else DEFAULT_BATCH_DELAY_MS.
   */
  batchDelayMs: number | undefined;
  /**
   * The docs do not say in which order batch status lists its records; tests set 'reversed' to
   * check that clients do not rely on the order they sent.
   */
  statusOrder: 'sent' | 'reversed';
}

export interface CallReasonSandbox {
  config: CallReasonConfig;
  batches: Map<string, StoredBatch>;
  /** Duplicate keys of every record received. */
  seen: Set<string>;
  /** Records accepted by the real-time endpoints, in order (v1 ones are also in a batch). */
  realtime: StoredRecord[];
}

export const DEFAULT_BATCH_DELAY_MS = 1500;

/** This module's state; tests set `callReasonSandbox(handle.state).config.batchDelayMs`. */
export function callReasonSandbox(state: SandboxState): CallReasonSandbox {
  return moduleState(state, 'call-reasons', () => ({
    config: { batchDelayMs: undefined, statusOrder: 'sent' },
    batches: new Map(),
    seen: new Set(),
    realtime: [],
  }));
}

/**
 * Completes pending batches now (POST /__sandbox/batches/complete) instead of after the batch
 * delay: one batch by id, or all. Returns how many were still pending.
 */
export function completeBatches(state: SandboxState, now: number, batchId?: string): number {
  let completed = 0;
  for (const batch of callReasonSandbox(state).batches.values()) {
    if (batchId !== undefined && batch.id !== batchId) continue;
    if (batch.completesAt > now) {
      batch.completesAt = now;
      completed += 1;
    }
  }
  return completed;
}

function batchDelay(ctx: RouteContext): number {
  const override = callReasonSandbox(ctx.state).config.batchDelayMs;
  if (override !== undefined) return override;
  return ctx.knobs.batchDelayMs ?? DEFAULT_BATCH_DELAY_MS;
}

// ---------- validation ----------

interface FieldNames {
  caller: string;
  receiver: string;
  labelName: string;
  callReason: string;
}

const V2_FIELDS: FieldNames = {
  caller: 'caller_number',
  receiver: 'receiver_number',
  labelName: 'dynamic_label_name',
  callReason: 'dynamic_call_reason',
};
const V1_FIELDS: FieldNames = { caller: 'caller', receiver: 'receiver', labelName: 'label_name', callReason: 'call_reason' };

class Invalid extends Error {
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(reason);
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function phone(record: Record<string, unknown>, field: string): string {
  const value = record[field];
  if (value === undefined || value === null || value === '') throw new Invalid(field, `${field} is required`);
  if (typeof value !== 'string') throw new Invalid(field, `${field} must be a string`);
  // The rule is "country code + number, no '+'"; the documented batch example itself sends "+91…",
  // so a leading "+" is tolerated and stripped.
  const digits = value.startsWith('+') ? value.slice(1) : value;
  if (!/^\d{8,15}$/.test(digits)) {
    throw new Invalid(field, `${field} must be the country code and number, digits only (e.g. 911234567890)`);
  }
  return digits;
}

function epochMs(record: Record<string, unknown>, field: string): number {
  const value = record[field];
  if (value === undefined || value === null) throw new Invalid(field, `${field} is required`);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Invalid(field, `${field} must be an integer (epoch milliseconds)`);
  }
  return value;
}

function optionalString(record: Record<string, unknown>, field: string): string | null {
  const value = record[field];
  if (value === undefined || value === null) return null;
  if (typeof value !== 'string') throw new Invalid(field, `${field} must be a string`);
  return value;
}

function lengthBetween(field: string, value: string | null, min: number, max: number): void {
  if (value === null) return;
  const length = [...value].length;
  if (length < min || length > max) throw new Invalid(field, `${field} must be ${min} to ${max} characters long`);
}

/** Validates one record; `realtime` rejects special characters at once instead of failing the record later. */
function readRecord(ctx: RouteContext, raw: unknown, names: FieldNames, realtime: boolean): StoredRecord {
  if (!isPlainObject(raw)) throw new Invalid('', 'each record must be a JSON object');
  const caller = phone(raw, names.caller);
  const receiver = phone(raw, names.receiver);
  const startsAt = epochMs(raw, 'starts_at');
  const endsAt = epochMs(raw, 'ends_at');
  if (endsAt < ctx.now) throw new Invalid('ends_at', 'ends_at cannot be older than current time');
  if (endsAt < startsAt) throw new Invalid('ends_at', 'ends_at cannot be before starts_at');
  if (endsAt - startsAt > DAY_MS) throw new Invalid('ends_at', 'ends_at cannot be more than 24 hours after starts_at');

  const labelId = optionalString(raw, 'label_id');
  let labelName = optionalString(raw, names.labelName);
  if (labelId !== null) {
    const label =
      ctx.state.labels.find((l) => l.id === labelId) ??
      (labelId === DOCUMENTED_EXAMPLE_LABEL.id ? DOCUMENTED_EXAMPLE_LABEL : undefined);
    if (!label) throw new Invalid('label_id', 'label_id is not a dynamic label of this client');
    labelName ??= label.name; // VB-new: the name defaults to the label's
  }
  lengthBetween(names.labelName, optionalString(raw, names.labelName), 3, 40);
  const callReason = optionalString(raw, names.callReason);
  lengthBetween(names.callReason, callReason, 10, 100);
  const special = callReason !== null && SPECIAL_CHARACTER.test(callReason);
  if (special && realtime) throw new Invalid(names.callReason, `${names.callReason} must not contain special characters`);

  return {
    id: randomUUID(),
    caller,
    receiver,
    startsAt,
    endsAt,
    labelId,
    labelName,
    callReason,
    createdAt: ctx.now,
    failure: special ? INVALID_INPUT_REASON : FAILURE_BY_RECEIVER_SUFFIX[receiver.slice(-2)],
  };
}

/** `call_records` of a batch: an array of 1–500 valid records, or an Invalid naming the first bad field. */
function readBatch(ctx: RouteContext, names: FieldNames): StoredRecord[] {
  const body = ctx.body;
  if (!isPlainObject(body)) throw new Invalid('call_records', 'body must be a JSON object with call_records');
  const list = body.call_records;
  if (!Array.isArray(list)) throw new Invalid('call_records', 'call_records is required and must be an array');
  if (list.length < 1 || list.length > MAX_BATCH_RECORDS) {
    throw new Invalid('call_records', `call_records must hold 1 to ${MAX_BATCH_RECORDS} records (got ${list.length})`);
  }
  return list.map((raw, index) => {
    try {
      return readRecord(ctx, raw, names, false);
    } catch (error) {
      if (!(error instanceof Invalid)) throw error;
      const prefix = `call_records[${index}]`;
      const field = error.field ? `${prefix}.${error.field}` : prefix;
      throw new Invalid(field, error.field ? error.reason.replace(error.field, field) : `${prefix}: ${error.reason}`);
    }
  });
}

// ---------- bookkeeping ----------

function duplicateKey(r: StoredRecord): string {
  return JSON.stringify([r.caller, r.receiver, r.startsAt, r.endsAt, r.callReason ?? '']);
}

function receive(ctx: RouteContext, records: readonly StoredRecord[]): void {
  const { seen } = callReasonSandbox(ctx.state);
  let duplicates = 0;
  for (const record of records) {
    const key = duplicateKey(record);
    if (seen.has(key)) duplicates += 1;
    else seen.add(key);
  }
  ctx.bump('recordsReceived', records.length);
  if (duplicates > 0) ctx.bump('duplicateRecordsReceived', duplicates);
}

function storeBatch(ctx: RouteContext, version: ApiVersion, records: StoredRecord[], delayMs: number): StoredBatch {
  const batch: StoredBatch = { id: randomUUID(), version, createdAt: ctx.now, completesAt: ctx.now + delayMs, records };
  callReasonSandbox(ctx.state).batches.set(batch.id, batch);
  return batch;
}

// ---------- responses ----------

function v2Error(status: number, field: string, message: string): RouteResponse {
  return { status, json: { status_info: { status: 'error', field, message } } };
}

const v2Invalid = (error: Invalid): RouteResponse => v2Error(400, error.field, `Request body is invalid: ${error.reason}`);

function v1Envelope(status: number, outcome: 'success' | 'failure', message: string, batchId?: string): RouteResponse {
  return { status, json: { status: outcome, message: batchId ? `${message}. BatchID: ${batchId}` : message } };
}

function mask(value: string): string {
  return '*'.repeat(value.length);
}

function recordStatus(batch: StoredBatch, record: StoredRecord, now: number): { status: string; message?: string } {
  if (now < batch.completesAt) return { status: 'pending' };
  return record.failure ? { status: 'failed', message: record.failure } : { status: 'success' };
}

// ---------- handlers ----------

function realtimeV2(ctx: RouteContext): RouteResponse {
  let record: StoredRecord;
  try {
    if (!isPlainObject(ctx.body)) throw new Invalid('', 'body must be a JSON object');
    record = readRecord(ctx, ctx.body, V2_FIELDS, true);
  } catch (error) {
    if (error instanceof Invalid) return v2Invalid(error);
    throw error;
  }
  receive(ctx, [record]);
  callReasonSandbox(ctx.state).realtime.push(record);
  ctx.bump('realtimeRecordsAccepted');
  return { status: 200, json: { status_info: { status: 'success', message: 'Record processed successfully' } } };
}

function batchV2(ctx: RouteContext): RouteResponse {
  let records: StoredRecord[];
  try {
    records = readBatch(ctx, V2_FIELDS);
  } catch (error) {
    if (error instanceof Invalid) return v2Invalid(error);
    throw error;
  }
  receive(ctx, records);
  const batch = storeBatch(ctx, 'v2', records, batchDelay(ctx));
  ctx.bump('batchesAccepted');
  return { status: 200, json: { batch_id: batch.id } };
}

function realtimeV1(ctx: RouteContext): RouteResponse {
  let record: StoredRecord;
  try {
    if (!isPlainObject(ctx.body)) throw new Invalid('', 'body must be a JSON object');
    record = readRecord(ctx, ctx.body, V1_FIELDS, true);
  } catch (error) {
    if (error instanceof Invalid) return v1Envelope(400, 'failure', error.reason, randomUUID());
    throw error;
  }
  receive(ctx, [record]);
  callReasonSandbox(ctx.state).realtime.push(record);
  ctx.bump('realtimeRecordsAccepted');
  // Real-time: the one-record batch is final at once.
  const batch = storeBatch(ctx, 'v1', [record], 0);
  return v1Envelope(200, 'success', 'Records Uploaded Successfully', batch.id);
}

function bulkV1(ctx: RouteContext): RouteResponse {
  let records: StoredRecord[];
  try {
    records = readBatch(ctx, V1_FIELDS);
  } catch (error) {
    if (error instanceof Invalid) return v1Envelope(400, 'failure', error.reason, randomUUID());
    throw error;
  }
  receive(ctx, records);
  const batch = storeBatch(ctx, 'v1', records, batchDelay(ctx));
  ctx.bump('batchesAccepted');
  return v1Envelope(200, 'success', 'Records Uploaded Successfully', batch.id);
}

function findBatch(ctx: RouteContext): StoredBatch | 'missing' | undefined {
  const batchId = ctx.query.get('batchId')?.trim();
  if (!batchId) return 'missing';
  return callReasonSandbox(ctx.state).batches.get(batchId);
}

function recordsInStatusOrder(ctx: RouteContext, batch: StoredBatch): StoredRecord[] {
  return callReasonSandbox(ctx.state).config.statusOrder === 'reversed' ? [...batch.records].reverse() : batch.records;
}

function statusV2(ctx: RouteContext): RouteResponse {
  const batch = findBatch(ctx);
  if (batch === 'missing') return v2Error(400, 'batchId', 'Request query is invalid: batchId is required');
  if (!batch) return v2Error(404, 'batchId', 'batch not found');
  return {
    status: 200,
    json: {
      client_account_id: ctx.params.clientAccountId,
      batch_id: batch.id,
      data: recordsInStatusOrder(ctx, batch).map((r) => ({
        id: r.id,
        caller_number: mask(r.caller),
        receiver_number: mask(r.receiver),
        label_id: r.labelId,
        dynamic_label_name: r.labelName,
        dynamic_call_reason: r.callReason,
        starts_at: r.startsAt,
        ends_at: r.endsAt,
        status_info: recordStatus(batch, r, ctx.now),
        created_at: new Date(r.createdAt).toISOString(),
      })),
    },
  };
}

function statusV1(ctx: RouteContext): RouteResponse {
  const batch = findBatch(ctx);
  if (batch === 'missing') return slugResponse(400, 'invalid-input', 'batchId is required');
  if (!batch) return slugResponse(404, 'not-found', 'batch not found');
  return {
    status: 200,
    json: recordsInStatusOrder(ctx, batch).map((r) => {
      const status = recordStatus(batch, r, ctx.now);
      return {
        id: r.id,
        client_account_id: ctx.params.clientAccountId,
        batch_id: batch.id,
        caller: mask(r.caller),
        receiver: mask(r.receiver),
        label_id: r.labelId,
        label_name: r.labelName,
        call_reason: r.callReason,
        starts_at: r.startsAt,
        ends_at: r.endsAt,
        status: status.status,
        ...(status.message ? { message: status.message } : {}),
        created_at: new Date(r.createdAt).toISOString(),
      };
    }),
  };
}

const ACCESS = 'call-personalisation' as const;

export const callReasonRoutes: RouteDefinition[] = [
  { id: 'cp-realtime-v2', method: 'POST', path: '/v2/clients/:clientAccountId/dynamic_call_record', access: ACCESS, handler: realtimeV2 },
  { id: 'cp-batch-v2', method: 'POST', path: '/v2/clients/:clientAccountId/dynamic_call_records', access: ACCESS, handler: batchV2 },
  { id: 'cp-batch-v2-status', method: 'GET', path: '/v2/clients/:clientAccountId/dynamic_call_records', access: ACCESS, handler: statusV2 },
  { id: 'cp-batch-v2-status', method: 'GET', path: '/v3/clients/:clientAccountId/dynamic_call_records', access: ACCESS, handler: statusV2 },
  { id: 'cp-realtime-v1', method: 'POST', path: '/clients/:clientAccountId/dynamic_call_record', access: ACCESS, handler: realtimeV1 },
  { id: 'cp-bulk-v1', method: 'POST', path: '/clients/:clientAccountId/dynamic_call_records', access: ACCESS, handler: bulkV1 },
  { id: 'cp-batch-status-v1', method: 'GET', path: '/clients/:clientAccountId/dynamic_call_records', access: ACCESS, handler: statusV1 },
];
