import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ApiClient, RequestSpec } from '../../src/api/client.js';
import {
  fieldFromV1Message,
  getBatchStatusV1,
  getBatchStatusV2,
  outcomeUnknown,
  postBatchV2,
  postBulkV1,
  postRealtimeV1,
  postRealtimeV2,
  readStatusInfo,
} from '../../src/api/call-reasons.js';
import { mapHttpError } from '../../src/api/error-mapping.js';
import { ApiError, UsageError } from '../../src/errors.js';
import { pickLabel, preparePush } from '../../src/services/call-reasons/push.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8'));

/** A client that answers `reply(spec)` (or throws what the real client would map the answer to). */
function fakeClient(reply: (spec: RequestSpec) => { status: number; body: unknown }): { client: ApiClient; specs: RequestSpec[] } {
  const specs: RequestSpec[] = [];
  const client = {
    async request(spec: RequestSpec) {
      specs.push(spec);
      const { status, body } = reply(spec);
      if (status >= 400) throw mapHttpError({ status, body, method: spec.method, url: spec.path, endpoint: spec.endpoint });
      return { status, body, headers: new Headers() };
    },
  } as unknown as ApiClient;
  return { client, specs };
}

const ACCOUNT = '91c173bb-28d8-4030-9722-8663ff9589f3';
const RECORD = { caller_number: '911234567898', receiver_number: '919234567898', starts_at: 1, ends_at: 2, label_id: 'l' };

describe('api/call-reasons', () => {
  it('readStatusInfo reads wrapped, camelCase and flat renderings', () => {
    expect(readStatusInfo(fixture('cp-realtime-v2.response.200-success.json'))).toEqual({ status: 'success', message: 'Record processed successfully' });
    expect(readStatusInfo({ statusInfo: { status: 'success' } })).toEqual({ status: 'success' });
    expect(readStatusInfo({ field: 'ends_at', message: 'm', status: 'error' })).toMatchObject({ status: 'error', field: 'ends_at' });
    expect(readStatusInfo({ batch_id: 'x' })).toBeUndefined();
  });

  it('postRealtimeV2 sends the record to the v2 path; the documented 400 is an ApiError naming the field', async () => {
    const ok = fakeClient(() => ({ status: 200, body: fixture('cp-realtime-v2.response.200-success.json') }));
    const result = await postRealtimeV2(ok.client, ACCOUNT, RECORD);
    expect(result.status_info.status).toBe('success');
    expect(ok.specs[0]).toMatchObject({ endpoint: 'cp-realtime-v2', method: 'POST', path: `/v2/clients/${ACCOUNT}/dynamic_call_record`, json: RECORD });

    const bad = fakeClient(() => ({ status: 400, body: fixture('cp-realtime-v2.response.400-ends-at-in-past.json') }));
    const error = await postRealtimeV2(bad.client, ACCOUNT, RECORD).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).field).toBe('ends_at');
    expect((error as ApiError).exitCode).toBe(4);
  });

  it('postBatchV2 wraps records in call_records and returns the batch id', async () => {
    const { client, specs } = fakeClient(() => ({ status: 200, body: fixture('cp-batch-v2.response.200.json') }));
    expect(await postBatchV2(client, ACCOUNT, [RECORD, RECORD])).toEqual({ batch_id: 'b72f7a40-ec3a-462f-b528-da0e8dc87e79' });
    expect(specs[0]).toMatchObject({ endpoint: 'cp-batch-v2', path: `/v2/clients/${ACCOUNT}/dynamic_call_records`, json: { call_records: [RECORD, RECORD] } });
  });

  it('postBatchV2: a 2xx without batch_id is never treated as success', async () => {
    const { client } = fakeClient(() => ({ status: 200, body: {} }));
    await expect(postBatchV2(client, ACCOUNT, [RECORD])).rejects.toBeInstanceOf(ApiError);
  });

  it('v1: the batch id comes from the message; "failure" is an ApiError with the batch id and field', async () => {
    const ok = fakeClient(() => ({ status: 200, body: fixture('cp-bulk-v1.response.200-success.json') }));
    const result = await postBulkV1(ok.client, ACCOUNT, [{ caller: '1', receiver: '2', starts_at: 1, ends_at: 2 }]);
    expect(result).toEqual({
      status: 'success',
      message: 'Records Uploaded Successfully. BatchID: 6dabe53b-14a5-44bf-9bab-3dda8b0fee54',
      batch_id: '6dabe53b-14a5-44bf-9bab-3dda8b0fee54',
    });
    expect(ok.specs[0]).toMatchObject({ endpoint: 'cp-bulk-v1', path: `/clients/${ACCOUNT}/dynamic_call_records` });

    // The docs do not say which HTTP status carries a failure: both a 200 and a 400 must be rejections.
    for (const status of [200, 400]) {
      const bad = fakeClient(() => ({ status, body: fixture('cp-realtime-v1.response.failure-ends-at-past.json') }));
      const error = (await postRealtimeV1(bad.client, ACCOUNT, { caller: '1', receiver: '2', starts_at: 1, ends_at: 2 }).catch((e: unknown) => e)) as ApiError;
      expect(error).toBeInstanceOf(ApiError);
      expect(error.field).toBe('ends_at');
      expect(error.details?.batch_id).toBe('d30ca8f7-ae64-4c30-8700-d63f6b2f1dd6');
      expect(error.message).toMatch(/ends_at cannot be older than current time/);
      expect(error.message).not.toMatch(/BatchID/);
    }
  });

  it('fieldFromV1Message finds a leading field name', () => {
    expect(fieldFromV1Message('ends_at cannot be older than current time')).toBe('ends_at');
    expect(fieldFromV1Message('call_records[3].receiver must be digits')).toBe('call_records[3].receiver');
    expect(fieldFromV1Message('something else')).toBeUndefined();
  });

  it('batch status: v2 path by default, v3 on request, v1 bare array', async () => {
    const { client, specs } = fakeClient((spec) =>
      spec.endpoint === 'cp-batch-status-v1'
        ? { status: 200, body: fixture('cp-batch-status-v1.response.200.json') }
        : { status: 200, body: fixture('cp-batch-v2-status.response.200.json') },
    );
    const v2 = await getBatchStatusV2(client, ACCOUNT, 'B');
    expect(v2.data[0]!.status_info).toEqual({ status: 'success' });
    await getBatchStatusV2(client, ACCOUNT, 'B', { apiVersion: 'v3' });
    const v1 = await getBatchStatusV1(client, ACCOUNT, 'B');
    expect(v1[0]!.status).toBe('success');
    expect(specs.map((s) => s.path)).toEqual([
      `/v2/clients/${ACCOUNT}/dynamic_call_records`,
      `/v3/clients/${ACCOUNT}/dynamic_call_records`,
      `/clients/${ACCOUNT}/dynamic_call_records`,
    ]);
    expect(specs.every((s) => s.query?.batchId === 'B')).toBe(true);
  });
});

describe('api/call-reasons, answer by answer', () => {
  const V1 = { caller: '911234567898', receiver: '919234567898', starts_at: 1, ends_at: 2 };
  const rejected = async (promise: Promise<unknown>): Promise<ApiError> =>
    promise.then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: unknown) => e as ApiError,
    );

  it('readStatusInfo: the whole status_info is kept; without a string status there is none', () => {
    expect(readStatusInfo({ status_info: { status: 'error', message: 'bad', field: 'ends_at', code: 7 } })).toEqual({ status: 'error', message: 'bad', field: 'ends_at', code: 7 });
    expect(readStatusInfo({ status_info: { message: 'no status' } })).toBeUndefined();
    expect(readStatusInfo({ status_info: 'success', status: 'success' })).toEqual({ status: 'success', status_info: 'success' });
    expect(readStatusInfo({ status: 1 })).toBeUndefined();
    expect(readStatusInfo(['success'])).toBeUndefined();
    expect(readStatusInfo(null)).toBeUndefined();
  });

  it('postRealtimeV2: success in any of its spellings; no status at all is success; the body comes back as it was', async () => {
    for (const status of ['success', 'SUCCEEDED', 'Ok']) {
      const { client } = fakeClient(() => ({ status: 200, body: { status_info: { status } } }));
      expect(await postRealtimeV2(client, ACCOUNT, RECORD)).toEqual({ status_info: { status }, body: { status_info: { status } } });
    }
    const empty = fakeClient(() => ({ status: 204, body: undefined }));
    expect(await postRealtimeV2(empty.client, ACCOUNT, RECORD)).toEqual({ status_info: { status: 'success' }, body: { status_info: { status: 'success' } } });
    const signal = new AbortController().signal;
    await postRealtimeV2(empty.client, ACCOUNT, RECORD, { signal });
    expect(empty.specs[1]!.signal).toBe(signal);
  });

  it('postRealtimeV2: a 2xx that says error is a rejection (exit 4) naming the field', async () => {
    const flat = fakeClient(() => ({ status: 200, body: { status: 'error', field: 'caller_number', message: 'bad number' } }));
    const error = await rejected(postRealtimeV2(flat.client, ACCOUNT, RECORD));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ message: 'the API rejected the request (field caller_number): bad number', field: 'caller_number', httpStatus: 200 });
    expect(error.details).toBeUndefined();
    const bare = fakeClient(() => ({ status: 202, body: { status_info: { status: 'failed' } } }));
    expect(await rejected(postRealtimeV2(bare.client, ACCOUNT, RECORD))).toMatchObject({ message: 'the API rejected the request: status "failed"', httpStatus: 202 });
  });

  it('postBatchV2: batchId in camelCase too; an error status_info is a rejection; no id is "accepted without id", never a success', async () => {
    const camel = fakeClient(() => ({ status: 200, body: { batchId: 'b-2' } }));
    const signal = new AbortController().signal;
    expect(await postBatchV2(camel.client, ACCOUNT, [RECORD], { signal })).toEqual({ batch_id: 'b-2' });
    expect(camel.specs[0]).toMatchObject({ method: 'POST', signal });

    const failed = fakeClient(() => ({ status: 200, body: { status_info: { status: 'error', field: 'call_records[3].ends_at', message: 'too late' } } }));
    expect(await rejected(postBatchV2(failed.client, ACCOUNT, [RECORD]))).toMatchObject({
      message: 'the API rejected the request (field call_records[3].ends_at): too late',
      field: 'call_records[3].ends_at',
    });
    const noMessage = fakeClient(() => ({ status: 200, body: { status: 'failure' } }));
    expect((await rejected(postBatchV2(noMessage.client, ACCOUNT, [RECORD]))).message).toBe('the API rejected the request: status "failure"');

    for (const body of [{ batch_id: '' }, { status_info: { status: 'success' } }, 'accepted']) {
      const { client } = fakeClient(() => ({ status: 202, body }));
      const error = await rejected(postBatchV2(client, ACCOUNT, [RECORD]));
      expect(error).toBeInstanceOf(ApiError);
      expect(error).toMatchObject({
        message: 'the API accepted the batch but its answer carried no batch_id',
        httpStatus: 202,
        details: { outcome: 'accepted-without-id', body },
      });
    }
  });

  it('getBatchStatusV2: asks with a JSON content type; reads a bare array, a missing data list, or nothing', async () => {
    const bare = fakeClient(() => ({ status: 200, body: [{ id: 'r1' }] }));
    expect(await getBatchStatusV2(bare.client, ACCOUNT, 'B')).toEqual({ batch_id: 'B', data: [{ id: 'r1' }] });
    expect(bare.specs[0]).toMatchObject({ endpoint: 'cp-batch-v2-status', method: 'GET', headers: { 'Content-Type': 'application/json' } });
    const noData = fakeClient(() => ({ status: 200, body: { batch_id: 'B', data: 'pending' } }));
    expect(await getBatchStatusV2(noData.client, ACCOUNT, 'B')).toEqual({ batch_id: 'B', data: [] });
    const nothing = fakeClient(() => ({ status: 200, body: undefined }));
    expect(await getBatchStatusV2(nothing.client, ACCOUNT, 'B')).toEqual({ data: [] });
  });

  it('getBatchStatusV1: a bare array, a data list, or no records', async () => {
    const wrapped = fakeClient(() => ({ status: 200, body: { data: [{ id: 'r1' }] } }));
    expect(await getBatchStatusV1(wrapped.client, ACCOUNT, 'B')).toEqual([{ id: 'r1' }]);
    expect(wrapped.specs[0]).toMatchObject({ endpoint: 'cp-batch-status-v1', method: 'GET', query: { batchId: 'B' } });
    for (const body of [{ data: 'none' }, undefined, 'text']) {
      expect(await getBatchStatusV1(fakeClient(() => ({ status: 200, body })).client, ACCOUNT, 'B')).toEqual([]);
    }
  });

  it('postRealtimeV1: the v1 path and record; success without a message has no batch id', async () => {
    const ok = fakeClient(() => ({ status: 200, body: {} }));
    expect(await postRealtimeV1(ok.client, ACCOUNT, V1)).toEqual({ status: 'success', message: '', batch_id: undefined });
    expect(ok.specs[0]).toMatchObject({ endpoint: 'cp-realtime-v1', method: 'POST', path: `/clients/${ACCOUNT}/dynamic_call_record`, json: V1 });
    const bulk = fakeClient(() => ({ status: 200, body: { status: 'Success', message: 'done BatchID: x-1' } }));
    expect(await postBulkV1(bulk.client, ACCOUNT, [V1])).toEqual({ status: 'Success', message: 'done BatchID: x-1', batch_id: 'x-1' });
    expect(bulk.specs[0]).toMatchObject({ method: 'POST', json: { call_records: [V1] } });
  });

  it('a v1 "failure" without a message says its status; one naming no field has none', async () => {
    const bare = fakeClient(() => ({ status: 200, body: { status: 'failure', message: 'BatchID: z-9' } }));
    const error = await rejected(postBulkV1(bare.client, ACCOUNT, [V1]));
    expect(error).toMatchObject({ message: 'the API rejected the request: status "failure"', details: { batch_id: 'z-9' } });
    expect(error.field).toBeUndefined();
    const noId = fakeClient(() => ({ status: 200, body: { status: 'failure', message: 'quota exhausted' } }));
    const plain = await rejected(postBulkV1(noId.client, ACCOUNT, [V1]));
    expect(plain).toMatchObject({ message: 'the API rejected the request: quota exhausted' });
    expect(plain.details).toBeUndefined();
  });

  it('a v1 4xx keeps the API\'s slug and hint, takes the field from the text, and drops the batch id from the message', async () => {
    const { client } = fakeClient(() => ({ status: 422, body: { slug: 'invalid-input', message: 'receiver must be digits. BatchID: q-1' } }));
    const error = await rejected(postRealtimeV1(client, ACCOUNT, V1));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({
      message: 'the API rejected the request (field receiver): receiver must be digits.',
      field: 'receiver',
      slug: 'invalid-input',
      httpStatus: 422,
      details: { batch_id: 'q-1' },
    });
    const fielded = fakeClient(() => ({ status: 400, body: { field: 'starts_at', message: 'too early' } }));
    const named = await rejected(postRealtimeV1(fielded.client, ACCOUNT, V1));
    expect(named).toMatchObject({ message: 'the API rejected the request (field starts_at): too early', field: 'starts_at' });
    expect(named.details).toBeUndefined();
  });

  it('only a batch id at the end of a v1 message is dropped, with the spacing around it', async () => {
    const spaced = fakeClient(() => ({ status: 200, body: { status: 'failure', message: 'ends_at cannot be older than current time.  batchid:d30\n' } }));
    expect(await rejected(postBulkV1(spaced.client, ACCOUNT, [V1]))).toMatchObject({
      message: 'the API rejected the request (field ends_at): ends_at cannot be older than current time.',
      details: { batch_id: 'd30' },
    });
    const inside = fakeClient(() => ({ status: 200, body: { status: 'failure', message: 'BatchID: b-7 was already used' } }));
    expect(await rejected(postBulkV1(inside.client, ACCOUNT, [V1]))).toMatchObject({
      message: 'the API rejected the request: BatchID: b-7 was already used',
      details: { batch_id: 'b-7' },
    });
    const fourxx = fakeClient(() => ({ status: 400, body: { message: 'caller is not a number  BatchID:c-3 \n' } }));
    expect(await rejected(postRealtimeV1(fourxx.client, ACCOUNT, V1))).toMatchObject({
      message: 'the API rejected the request (field caller): caller is not a number',
      details: { batch_id: 'c-3' },
    });
  });

  it('a v1 4xx keeps a batch id that is not at the end of its message', async () => {
    const { client } = fakeClient(() => ({ status: 409, body: { message: 'BatchID: b-7 was already used' } }));
    expect(await rejected(postBulkV1(client, ACCOUNT, [V1]))).toMatchObject({
      message: 'the API rejected the request: BatchID: b-7 was already used',
      details: { batch_id: 'b-7' },
      httpStatus: 409,
    });
  });

  it('a v1 4xx without a batch id still names the field its text starts with', async () => {
    const { client } = fakeClient(() => ({ status: 400, body: { message: 'call_records[2].starts_at must be in the future' } }));
    const error = await rejected(postBulkV1(client, ACCOUNT, [V1]));
    expect(error).toMatchObject({
      message: 'the API rejected the request (field call_records[2].starts_at): call_records[2].starts_at must be in the future',
      field: 'call_records[2].starts_at',
      httpStatus: 400,
    });
    expect(error.details).toBeUndefined();
  });

  it('a v1 4xx with neither a field nor a batch id, and errors other than rejections, pass unchanged', async () => {
    const plain = fakeClient(() => ({ status: 404, body: { message: 'no such client' } }));
    const error = await rejected(postRealtimeV1(plain.client, ACCOUNT, V1));
    expect(error.message).toBe('the API rejected the request: no such client');
    const auth = fakeClient(() => ({ status: 401, body: { message: 'caller bad. BatchID: a-1' } }));
    const refused = await rejected(postBulkV1(auth.client, ACCOUNT, [V1]));
    expect(refused.message).toBe('authentication failed: caller bad. BatchID: a-1');
    expect(refused.details).toBeUndefined();
    const already = new ApiError('the API rejected the request: caller x BatchID: b-2', { details: { batch_id: 'b-1' } });
    const client = { request: async () => Promise.reject(already) } as unknown as ApiClient;
    expect(await rejected(postBulkV1(client, ACCOUNT, [V1]))).toBe(already);
  });

  it('outcomeUnknown: only a tcb error that says so', () => {
    expect(outcomeUnknown(new ApiError('x', { details: { outcome: 'unknown' } }))).toBe(true);
    expect(outcomeUnknown(new ApiError('x', { details: { outcome: 'accepted-without-id' } }))).toBe(false);
    expect(outcomeUnknown(new ApiError('x'))).toBe(false);
    expect(outcomeUnknown(Object.assign(new Error('x'), { details: { outcome: 'unknown' } }))).toBe(false);
  });
});

describe('preparePush', () => {
  const NOW = Date.UTC(2026, 0, 10, 12, 0, 0);
  const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
  const base = { caller: '+91 12345 67890', receiver: '919876543210', labelId: LABEL, reason: 'Your order is on its way' };

  it('normalises numbers, defaults starts_at to now and applies --duration', () => {
    const { record, api } = preparePush({ ...base, duration: '2h' }, NOW);
    expect(api).toBe('v2');
    expect(record).toEqual({
      caller_number: '911234567890',
      receiver_number: '919876543210',
      starts_at: NOW,
      ends_at: NOW + 2 * 3600_000,
      label_id: LABEL,
      dynamic_call_reason: 'Your order is on its way',
    });
  });

  it('takes relative and ISO times', () => {
    const { record } = preparePush({ ...base, startsAt: '+10m', endsAt: '2026-01-10T14:00:00Z' }, NOW);
    expect(record.starts_at).toBe(NOW + 600_000);
    expect(record.ends_at).toBe(Date.UTC(2026, 0, 10, 14));
  });

  it('keeps --label for resolution, with a placeholder id meanwhile', () => {
    const request = preparePush({ ...base, labelId: undefined, label: ' FlowerEra ', duration: '1h' }, NOW);
    expect(request.labelToResolve).toBe('FlowerEra');
  });

  it.each([
    [{ caller: 'abc', duration: '1h' }, 'caller_number'],
    [{ duration: '25h' }, 'ends_at'],
    [{ endsAt: '-1m' }, 'ends_at'],
    [{ endsAt: '+1h', duration: '1h' }, 'ends_at'],
    [{ reason: 'Pay $100 now please', duration: '1h' }, 'dynamic_call_reason'],
    [{ labelName: 'x'.repeat(41), duration: '1h' }, 'dynamic_label_name'],
    [{ labelId: 'not-a-uuid', duration: '1h' }, 'label_id'],
    [{ labelId: undefined, duration: '1h' }, 'label_id'],
  ])('%o → UsageError naming %s', (flags, field) => {
    const error = (() => {
      try {
        preparePush({ ...base, ...flags }, NOW);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect((error as UsageError).field).toBe(field);
  });

  it('rejects --label with --label-id and unknown --api', () => {
    expect(() => preparePush({ ...base, label: 'X', duration: '1h' }, NOW)).toThrow(/cannot be used together/);
    expect(() => preparePush({ ...base, duration: '1h', api: 'v3' }, NOW)).toThrow(/--api must be v1 or v2/);
  });
});

describe('pickLabel', () => {
  const labels = [
    { id: '1', name: 'FlowerEra' },
    { id: '2', name: 'Support' },
    { id: '3', name: 'support' },
    { id: '4', name: 'Twin' },
    { id: '5', name: 'Twin' },
  ];
  it('prefers an exact match, then a case-insensitive one', () => {
    expect(pickLabel(labels, 'support').id).toBe('3');
    expect(pickLabel(labels, 'flowerera').id).toBe('1');
  });
  it('fails on ambiguity and on no match', () => {
    expect(() => pickLabel(labels, 'Twin')).toThrow(/2 dynamic labels are called "Twin": 4, 5/);
    expect(() => pickLabel(labels, 'SUPPORT')).toThrow(/2 dynamic labels/);
    expect(() => pickLabel(labels, 'Nope')).toThrow(UsageError);
  });
});
