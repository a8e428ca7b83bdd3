// The call-personalisation endpoints (api/README.md §6.2–6.4, §7.1–7.3): real-time and batch,
// v2 (current) and v1 (deprecated). The only module that knows their paths and body shapes.
import { ApiError, TcbError } from '../errors.js';
import type { ApiClient } from './client.js';
import { batchIdFromMessage } from './error-mapping.js';

/** One record with the v2 field names; times are integer epoch milliseconds. */
export interface CallRecordV2 {
  caller_number: string;
  receiver_number: string;
  starts_at: number;
  ends_at: number;
  label_id?: string;
  dynamic_label_name?: string;
  dynamic_call_reason?: string;
}

/** One record with the deprecated v1 field names. */
export interface CallRecordV1 {
  caller: string;
  receiver: string;
  starts_at: number;
  ends_at: number;
  label_id?: string;
  label_name?: string;
  call_reason?: string;
}

/** `status_info` as the v2 endpoints answer it (wrapped or flat, snake or camel case). */
export interface StatusInfo {
  status: string;
  message?: string;
  field?: string;
  [field: string]: unknown;
}

export interface CallOptions {
  signal?: AbortSignal;
}

/** The v2 batch-status paths: the VB-mid docs use /v2, VB-new shows /v3 (api/README.md §6.4). */
export type StatusApiVersion = 'v2' | 'v3';

export interface BatchStatusOptions extends CallOptions {
  /** Default 'v2'. */
  apiVersion?: StatusApiVersion;
}

/** One record of a v2 batch status (examples/cp-batch-v2-status.response.200.json). */
export interface BatchRecordV2 {
  id?: string;
  caller_number?: string;
  receiver_number?: string;
  label_id?: string;
  dynamic_label_name?: string;
  dynamic_call_reason?: string;
  starts_at?: number;
  ends_at?: number;
  status_info?: StatusInfo;
  created_at?: string;
  [field: string]: unknown;
}

/** examples/cp-batch-v2-status.response.200.json */
export interface BatchStatusV2 {
  client_account_id?: string;
  batch_id?: string;
  data: BatchRecordV2[];
  [field: string]: unknown;
}

/** One record of a v1 batch status: a bare array of these (examples/cp-batch-status-v1.response.200.json). */
export interface BatchRecordV1 {
  id?: string;
  client_account_id?: string;
  batch_id?: string;
  caller?: string;
  receiver?: string;
  label_id?: string;
  label_name?: string;
  call_reason?: string;
  starts_at?: number;
  ends_at?: number;
  status?: string;
  created_at?: string;
  [field: string]: unknown;
}

/** The v1 status envelope: `{"status":"success"|"failure","message":"... BatchID: <id>"}`. */
export interface V1Result {
  status: string;
  message: string;
  /** Parsed from the message text; undefined when the message carries none. */
  batch_id: string | undefined;
}

export interface RealtimeV2Result {
  status_info: StatusInfo;
  /** The API's body, unchanged (for --format json). */
  body: unknown;
}

const accountPath = (accountId: string): string => `/clients/${encodeURIComponent(accountId)}`;

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/**
 * Reads `status_info` from any documented rendering: `{status_info:{…}}`, `{statusInfo:{…}}`
 * or the flat `{status, message, field}`. Undefined when the body has none of them.
 */
export function readStatusInfo(body: unknown): StatusInfo | undefined {
  const record = asRecord(body);
  if (!record) return undefined;
  const wrapped = asRecord(record.status_info) ?? asRecord(record.statusInfo);
  const source = wrapped ?? (typeof record.status === 'string' ? record : undefined);
  if (!source || typeof source.status !== 'string') return undefined;
  return { ...source, status: source.status };
}

const SUCCESS_WORDS = new Set(['success', 'succeeded', 'ok']);

/** A 2xx answer that still says error/failure is a rejection: exit 4 naming the field. */
function rejection(message: string, field: string | undefined, httpStatus: number, batchId?: string): ApiError {
  const where = field ? ` (field ${field})` : '';
  return new ApiError(`the API rejected the request${where}: ${message}`, {
    httpStatus,
    field,
    details: batchId ? { batch_id: batchId } : undefined,
  });
}

/** POST cp-realtime-v2: one record, processed synchronously. */
export async function postRealtimeV2(
  client: ApiClient,
  accountId: string,
  record: CallRecordV2,
  options: CallOptions = {},
): Promise<RealtimeV2Result> {
  const response = await client.request<unknown>({
    endpoint: 'cp-realtime-v2',
    method: 'POST',
    path: `/v2${accountPath(accountId)}/dynamic_call_record`,
    json: record,
    signal: options.signal,
  });
  const info = readStatusInfo(response.body) ?? { status: 'success' };
  if (!SUCCESS_WORDS.has(info.status.toLowerCase())) {
    throw rejection(info.message ?? `status "${info.status}"`, info.field, response.status);
  }
  return { status_info: info, body: response.body ?? { status_info: info } };
}

/**
 * POST cp-batch-v2: 1–500 records, processed asynchronously. Resolves with the batch id once the
 * API has accepted the batch. Errors: ApiError (4) for a rejected batch (field names the record,
 * e.g. `call_records[3].ends_at`), TransientError (5) with `details.outcome === 'unknown'` when the
 * batch may or may not have been accepted (5xx other than 503, timeout after sending).
 */
export async function postBatchV2(
  client: ApiClient,
  accountId: string,
  records: readonly CallRecordV2[],
  options: CallOptions = {},
): Promise<{ batch_id: string }> {
  const response = await client.request<unknown>({
    endpoint: 'cp-batch-v2',
    method: 'POST',
    path: `/v2${accountPath(accountId)}/dynamic_call_records`,
    json: { call_records: records },
    signal: options.signal,
  });
  const body = asRecord(response.body);
  const batchId = body?.batch_id ?? body?.batchId;
  if (typeof batchId === 'string' && batchId !== '') return { batch_id: batchId };
  const info = readStatusInfo(response.body);
  if (info && !SUCCESS_WORDS.has(info.status.toLowerCase())) {
    throw rejection(info.message ?? `status "${info.status}"`, info.field, response.status);
  }
  // Accepted (2xx) but without an id: the batch exists, we cannot name it. Never resend it blindly.
  throw new ApiError('the API accepted the batch but its answer carried no batch_id', {
    httpStatus: response.status,
    details: { outcome: 'accepted-without-id', body: response.body },
  });
}

/** GET cp-batch-v2-status on /v2 (default) or /v3. */
export async function getBatchStatusV2(
  client: ApiClient,
  accountId: string,
  batchId: string,
  options: BatchStatusOptions = {},
): Promise<BatchStatusV2> {
  const version = options.apiVersion ?? 'v2';
  const response = await client.request<unknown>({
    endpoint: 'cp-batch-v2-status',
    method: 'GET',
    path: `/${version}${accountPath(accountId)}/dynamic_call_records`,
    query: { batchId },
    headers: { 'Content-Type': 'application/json' },
    signal: options.signal,
  });
  const body = response.body;
  if (Array.isArray(body)) return { batch_id: batchId, data: body as BatchRecordV2[] };
  const record = asRecord(body) ?? {};
  const data = Array.isArray(record.data) ? (record.data as BatchRecordV2[]) : [];
  return { ...record, data } as BatchStatusV2;
}

const V1_FIELD = /^\s*((?:call_records\[\d+\]\.)?(?:caller|receiver|starts_at|ends_at|label_id|label_name|call_reason))\b/;

/** v1 failures name no field; their message usually starts with it ("ends_at cannot be older …"). */
export function fieldFromV1Message(message: string): string | undefined {
  return V1_FIELD.exec(message)?.[1];
}

/** The v1 envelope → V1Result, or an ApiError (4) carrying the batch id when it says "failure". */
function readV1Result(body: unknown, httpStatus: number): V1Result {
  const record = asRecord(body) ?? {};
  const status = typeof record.status === 'string' ? record.status : 'success';
  const message = typeof record.message === 'string' ? record.message : '';
  const batchId = batchIdFromMessage(message);
  if (status.toLowerCase() !== 'success') {
    const text = message.replace(/\s*BatchID:\s*\S+\s*$/i, '') || `status "${status}"`;
    throw rejection(text, fieldFromV1Message(text), httpStatus, batchId);
  }
  return { status, message, batch_id: batchId };
}

/** A v1 failure answered with a 4xx: keep the batch id from the message in the error details. */
async function v1Request(client: ApiClient, spec: Parameters<ApiClient['request']>[0]): Promise<V1Result> {
  try {
    const response = await client.request<unknown>(spec);
    return readV1Result(response.body, response.status);
  } catch (error) {
    if (error instanceof ApiError && !error.details?.batch_id) {
      const batchId = batchIdFromMessage(error.message);
      const apiText = error.message.replace(/^the API rejected the request(?: \(field [^)]*\))?: /, '');
      const field = error.field ?? fieldFromV1Message(apiText);
      if (batchId || field) {
        const text = apiText.replace(/\s*BatchID:\s*\S+\s*$/i, '');
        throw new ApiError(`the API rejected the request${field ? ` (field ${field})` : ''}: ${text}`, {
          httpStatus: error.httpStatus,
          slug: error.slug,
          field,
          hint: error.hint,
          details: batchId ? { ...error.details, batch_id: batchId } : error.details,
        });
      }
    }
    throw error;
  }
}

/** POST cp-realtime-v1 (deprecated): one record; the answer names a batch id in its message. */
export function postRealtimeV1(
  client: ApiClient,
  accountId: string,
  record: CallRecordV1,
  options: CallOptions = {},
): Promise<V1Result> {
  return v1Request(client, {
    endpoint: 'cp-realtime-v1',
    method: 'POST',
    path: `${accountPath(accountId)}/dynamic_call_record`,
    json: record,
    signal: options.signal,
  });
}

/**
 * POST cp-bulk-v1 (deprecated): up to 500 records. Resolves with the batch id parsed from the
 * message; a "failure" answer (whatever its HTTP status) is an ApiError with `details.batch_id`.
 */
export function postBulkV1(
  client: ApiClient,
  accountId: string,
  records: readonly CallRecordV1[],
  options: CallOptions = {},
): Promise<V1Result> {
  return v1Request(client, {
    endpoint: 'cp-bulk-v1',
    method: 'POST',
    path: `${accountPath(accountId)}/dynamic_call_records`,
    json: { call_records: records },
    signal: options.signal,
  });
}

/** GET cp-batch-status-v1 (deprecated): a bare array of records. */
export async function getBatchStatusV1(
  client: ApiClient,
  accountId: string,
  batchId: string,
  options: CallOptions = {},
): Promise<BatchRecordV1[]> {
  const response = await client.request<unknown>({
    endpoint: 'cp-batch-status-v1',
    method: 'GET',
    path: `${accountPath(accountId)}/dynamic_call_records`,
    query: { batchId },
    signal: options.signal,
  });
  const body = response.body;
  if (Array.isArray(body)) return body as BatchRecordV1[];
  const record = asRecord(body);
  if (record && Array.isArray(record.data)) return record.data as BatchRecordV1[];
  return [];
}

/** True for errors after which the POST may or may not have been processed. */
export function outcomeUnknown(error: unknown): boolean {
  return error instanceof TcbError && error.details?.outcome === 'unknown';
}
