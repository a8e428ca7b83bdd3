// The sandbox's call-personalisation endpoints, spoken to over HTTP like any client would.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/server.js';
import { callReasonSandbox, FAILURE_BY_RECEIVER_SUFFIX } from '../../src/sandbox/routes/call-reasons.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8'));

let sb: SandboxHandle;
let token: string;
let account: string;

beforeAll(async () => {
  sb = await startSandbox({ port: 0 });
  account = sb.credentials.clientAccountId;
  const res = await fetch(`${sb.url}/clients/${account}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Public-Access': 'allow' },
    body: JSON.stringify({ key_id: sb.credentials.keyId, api_key: sb.credentials.apiKey }),
  });
  token = ((await res.json()) as { token: string }).token;
});
afterAll(() => sb.close());

async function call(method: string, path: string, body?: unknown, bearer = token): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`${sb.url}${path}`, {
    method,
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const LABEL_ID = '255297eb-7f13-44f9-967a-f287ff0f5025'; // FlowerEra, seeded
let serial = 100;
/** A valid v2 record; each call gets a different receiver (ending in 5x/6x/…, never a failing suffix). */
function v2(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  serial += 1;
  const now = Date.now();
  return {
    caller_number: '911234567890',
    receiver_number: `9198765${String(serial).padStart(5, '0')}9`,
    starts_at: now,
    ends_at: now + 2 * 3600_000,
    label_id: LABEL_ID,
    dynamic_label_name: 'Flower delivery',
    dynamic_call_reason: 'Your bouquet is on its way',
    ...overrides,
  };
}
function toV1(r: Record<string, unknown>): Record<string, unknown> {
  return {
    caller: r.caller_number,
    receiver: r.receiver_number,
    starts_at: r.starts_at,
    ends_at: r.ends_at,
    label_id: r.label_id,
    label_name: r.dynamic_label_name,
    call_reason: r.dynamic_call_reason,
  };
}

describe('cp-realtime-v2', () => {
  it('accepts a valid record with the documented success body', async () => {
    const res = await call('POST', `/v2/clients/${account}/dynamic_call_record`, v2());
    expect(res.status).toBe(200);
    expect(res.body).toEqual(fixture('cp-realtime-v2.response.200-success.json'));
  });

  it('rejects ends_at in the past with the documented body', async () => {
    const res = await call('POST', `/v2/clients/${account}/dynamic_call_record`, v2({ starts_at: 1753088751000, ends_at: 1753103151000 }));
    expect(res.status).toBe(400);
    expect(res.body).toEqual(fixture('cp-realtime-v2.response.400-ends-at-in-past.json'));
  });

  it.each([
    [{ ends_at: Date.now() + 25 * 3600_000 }, 'ends_at', /more than 24 hours after starts_at/],
    [{ caller_number: '91-12345' }, 'caller_number', /digits only/],
    [{ receiver_number: undefined }, 'receiver_number', /required/],
    [{ starts_at: '2026-01-01' }, 'starts_at', /integer/],
    [{ dynamic_label_name: 'ab' }, 'dynamic_label_name', /3 to 40/],
    [{ dynamic_call_reason: 'short' }, 'dynamic_call_reason', /10 to 100/],
    [{ dynamic_call_reason: 'Pay now at <evil>' }, 'dynamic_call_reason', /special characters/],
    [{ label_id: '00000000-0000-4000-8000-000000000000' }, 'label_id', /not a dynamic label/],
  ])('rejects %o naming the field', async (overrides, field, message) => {
    const res = await call('POST', `/v2/clients/${account}/dynamic_call_record`, v2(overrides));
    expect(res.status).toBe(400);
    expect(res.body.status_info.status).toBe('error');
    expect(res.body.status_info.field).toBe(field);
    expect(res.body.status_info.message).toMatch(/^Request body is invalid: /);
    expect(res.body.status_info.message).toMatch(message);
  });

  it('answers 401 without a valid token', async () => {
    const res = await call('POST', `/v2/clients/${account}/dynamic_call_record`, v2(), 'nope');
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ slug: 'authorization-error', message: 'please login again' });
  });
});

describe('cp-batch-v2 and its status', () => {
  it('accepts 1–500 records and rejects 0 and 501 with 400', async () => {
    const empty = await call('POST', `/v2/clients/${account}/dynamic_call_records`, { call_records: [] });
    expect(empty.status).toBe(400);
    expect(empty.body.status_info.field).toBe('call_records');
    const tooMany = await call('POST', `/v2/clients/${account}/dynamic_call_records`, {
      call_records: Array.from({ length: 501 }, () => v2()),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.status_info.message).toMatch(/1 to 500/);
    const full = await call('POST', `/v2/clients/${account}/dynamic_call_records`, {
      call_records: Array.from({ length: 500 }, () => v2()),
    });
    expect(full.status).toBe(200);
    expect(full.body).toEqual({ batch_id: expect.any(String) });
  });

  it('names the failing record in a rejected batch and stores nothing', async () => {
    const before = sb.counters().extra.recordsReceived ?? 0;
    const res = await call('POST', `/v2/clients/${account}/dynamic_call_records`, {
      call_records: [v2(), v2({ ends_at: 1 })],
    });
    expect(res.status).toBe(400);
    expect(res.body.status_info.field).toBe('call_records[1].ends_at');
    expect(sb.counters().extra.recordsReceived ?? 0).toBe(before);
  });

  it('accepts the documented "+" in the request example', async () => {
    const example = fixture('cp-batch-v2.request.json') as { call_records: Record<string, unknown>[] };
    const record = { ...example.call_records[0], caller_number: '+911234567890', receiver_number: '919876500059', ...future() };
    const res = await call('POST', `/v2/clients/${account}/dynamic_call_records`, { call_records: [record] });
    expect(res.status).toBe(200);
  });

  it('completes after the configured delay with the documented failures, in order, on /v2 and /v3', async () => {
    callReasonSandbox(sb.state).config.batchDelayMs = 60_000;
    const suffixes = ['01', '02', '03', '04', '55'];
    const records = suffixes.map((s) => v2({ receiver_number: `91987650${String(serial++).padStart(2, '0')}${s}` }));
    records.push(v2({ dynamic_call_reason: 'Pay at https://x.example #1' }));
    const res = await call('POST', `/v2/clients/${account}/dynamic_call_records`, { call_records: records });
    expect(res.status).toBe(200);
    const batchId = res.body.batch_id as string;

    const pending = await call('GET', `/v2/clients/${account}/dynamic_call_records?batchId=${batchId}`);
    expect(pending.status).toBe(200);
    expect(pending.body.data.map((r: any) => r.status_info.status)).toEqual(Array(6).fill('pending'));

    // Let it complete (move the completion time instead of sleeping).
    callReasonSandbox(sb.state).batches.get(batchId)!.completesAt = Date.now() - 1;
    for (const version of ['v2', 'v3']) {
      const done = await call('GET', `/${version}/clients/${account}/dynamic_call_records?batchId=${batchId}`);
      expect(done.status).toBe(200);
      expect(Object.keys(done.body)).toEqual(Object.keys(fixture('cp-batch-v2-status.response.200.json') as object));
      expect(Object.keys(done.body.data[0])).toEqual(
        Object.keys((fixture('cp-batch-v2-status.response.200.json') as any).data[0]),
      );
      expect(done.body.batch_id).toBe(batchId);
      expect(done.body.data.map((r: any) => r.status_info)).toEqual([
        { status: 'failed', message: FAILURE_BY_RECEIVER_SUFFIX['01'] },
        { status: 'failed', message: 'OS not supported' },
        { status: 'failed', message: 'App version not supported' },
        { status: 'failed', message: 'Failed to push' },
        { status: 'success' },
        { status: 'failed', message: 'Invalid input' },
      ]);
      expect(done.body.data[0].receiver_number).toMatch(/^\*+$/);
      expect(done.body.data[4].dynamic_call_reason).toBe(records[4]!.dynamic_call_reason);
    }
    callReasonSandbox(sb.state).config.batchDelayMs = 0;
  });

  it('answers 400 without batchId and 404 for an unknown batch', async () => {
    const missing = await call('GET', `/v2/clients/${account}/dynamic_call_records`);
    expect(missing.status).toBe(400);
    expect(missing.body.status_info.field).toBe('batchId');
    const unknown = await call('GET', `/v3/clients/${account}/dynamic_call_records?batchId=nope`);
    expect(unknown.status).toBe(404);
  });

  it('counts records, duplicates and batches', async () => {
    const before = { ...sb.counters().extra };
    const a = v2();
    const b = v2();
    await call('POST', `/v2/clients/${account}/dynamic_call_records`, { call_records: [a, b] });
    // The same record again (label name differs: not part of the duplicate key), and through real-time.
    await call('POST', `/v2/clients/${account}/dynamic_call_records`, { call_records: [{ ...a, dynamic_label_name: 'Other name' }] });
    await call('POST', `/v2/clients/${account}/dynamic_call_record`, b);
    // Same numbers and times but another reason: not a duplicate.
    await call('POST', `/v2/clients/${account}/dynamic_call_record`, { ...b, dynamic_call_reason: 'Another reason here' });
    const after = sb.counters().extra;
    expect((after.recordsReceived ?? 0) - (before.recordsReceived ?? 0)).toBe(5);
    expect((after.duplicateRecordsReceived ?? 0) - (before.duplicateRecordsReceived ?? 0)).toBe(2);
    expect((after.batchesAccepted ?? 0) - (before.batchesAccepted ?? 0)).toBe(2);
  });

  it('rate-limits batches per token with 429 and Retry-After (the limit is a knob)', async () => {
    sb.configure({ rateLimits: { 'cp-batch-v2': { limit: 2, windowMs: 60_000 } } });
    try {
      const statuses: number[] = [];
      let retryAfter: string | null = null;
      for (let i = 0; i < 3; i++) {
        const res = await call('POST', `/v2/clients/${account}/dynamic_call_records`, { call_records: [v2()] });
        statuses.push(res.status);
        if (res.status === 429) retryAfter = res.headers.get('retry-after');
      }
      expect(statuses.slice(-1)).toEqual([429]);
      expect(Number(retryAfter)).toBeGreaterThan(0);
    } finally {
      sb.configure({ rateLimits: { 'cp-batch-v2': { limit: 60, windowMs: 60_000 } } });
    }
  });

  it('after-processing injection stores the batch yet answers 500', async () => {
    const before = sb.counters().extra.batchesAccepted ?? 0;
    sb.inject({ endpoint: 'cp-batch-v2', status: 500, mode: 'after-processing' });
    const res = await call('POST', `/v2/clients/${account}/dynamic_call_records`, { call_records: [v2()] });
    expect(res.status).toBe(500);
    expect(sb.counters().extra.batchesAccepted).toBe(before + 1);
  });
});

function future(): { starts_at: number; ends_at: number } {
  const now = Date.now();
  return { starts_at: now, ends_at: now + 3600_000 };
}

describe('v1 endpoints', () => {
  it('real-time v1: success envelope with a BatchID, visible through v1 status', async () => {
    const res = await call('POST', `/clients/${account}/dynamic_call_record`, toV1(v2()));
    expect(res.status).toBe(200);
    expect(res.body.status).toBe('success');
    expect(res.body.message).toMatch(/^Records Uploaded Successfully\. BatchID: [0-9a-f-]{36}$/);
    const batchId = /BatchID: (\S+)/.exec(res.body.message)![1];
    const status = await call('GET', `/clients/${account}/dynamic_call_records?batchId=${batchId}`);
    expect(status.status).toBe(200);
    expect(Array.isArray(status.body)).toBe(true);
    expect(Object.keys(status.body[0])).toEqual(Object.keys((fixture('cp-batch-status-v1.response.200.json') as any[])[0]));
    expect(status.body[0].status).toBe('success');
  });

  it('real-time v1: the documented failure envelope for ends_at in the past', async () => {
    const res = await call('POST', `/clients/${account}/dynamic_call_record`, toV1(v2({ starts_at: 1, ends_at: 2 })));
    expect(res.status).toBe(400);
    expect(res.body.status).toBe('failure');
    expect(res.body.message).toMatch(/^ends_at cannot be older than current time\. BatchID: \S+$/);
  });

  it('bulk v1: 1–500 records, failures per record after completion', async () => {
    callReasonSandbox(sb.state).config.batchDelayMs = 0;
    const records = [toV1(v2({ receiver_number: '919876543201' })), toV1(v2())];
    const res = await call('POST', `/clients/${account}/dynamic_call_records`, { call_records: records });
    expect(res.status).toBe(200);
    const batchId = /BatchID: (\S+)/.exec(res.body.message)![1];
    const status = await call('GET', `/clients/${account}/dynamic_call_records?batchId=${batchId}`);
    expect(status.body.map((r: any) => r.status)).toEqual(['failed', 'success']);
    expect(status.body[0].message).toBe('Not a Truecaller user');

    const tooMany = await call('POST', `/clients/${account}/dynamic_call_records`, {
      call_records: Array.from({ length: 501 }, () => toV1(v2())),
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.status).toBe('failure');
  });

  it('v1 status without batchId is a slug 400', async () => {
    const res = await call('GET', `/clients/${account}/dynamic_call_records`);
    expect(res.status).toBe(400);
    expect(res.body.slug).toBe('invalid-input');
  });
});
