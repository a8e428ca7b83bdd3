// tcb call-reason push against the sandbox, through the built binary.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorEnvelope, startHarness, type Harness } from '../helpers/cli.js';
import { callReasonSandbox } from '../../src/sandbox/routes/call-reasons.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8'));

const FLOWER_ERA = '255297eb-7f13-44f9-967a-f287ff0f5025';
const BASE = ['call-reason', 'push', '--caller', '+91 12345 67890', '--receiver', '919876543210', '--reason', 'Your order is on its way'];

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());

const received = () => h.sandbox.counters().extra.recordsReceived ?? 0;
const realtime = () => callReasonSandbox(h.sandbox.state).realtime;

describe('call-reason push (v2)', () => {
  it('sends one normalised record and prints the API status_info', async () => {
    const before = received();
    const res = await h.run([...BASE, '--label-id', FLOWER_ERA, '--duration', '2h']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(fixture('cp-realtime-v2.response.200-success.json'));
    expect(received()).toBe(before + 1);
    const sent = realtime().at(-1)!;
    expect(sent.caller).toBe('911234567890'); // "+" and spaces normalised away
    expect(sent.receiver).toBe('919876543210');
    expect(sent.endsAt - sent.startsAt).toBe(2 * 3600_000);
    expect(sent.callReason).toBe('Your order is on its way');
  });

  it('resolves --label NAME through the labels API', async () => {
    const res = await h.run([...BASE, '--label', 'FlowerEra', '--starts-at', '+5m', '--ends-at', '+1h', '--format', 'table']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Record processed successfully');
    expect(res.stdout).toContain(FLOWER_ERA);
    expect(realtime().at(-1)!.labelId).toBe(FLOWER_ERA);
    expect(realtime().at(-1)!.endsAt - realtime().at(-1)!.startsAt).toBe(55 * 60_000);
  });

  it('accepts ISO-8601 and epoch-ms times', async () => {
    const start = Date.now() + 60_000;
    const end = new Date(start + 3600_000).toISOString();
    const res = await h.run([...BASE, '--label-id', FLOWER_ERA, '--starts-at', String(start), '--ends-at', end]);
    expect(res.code).toBe(0);
    expect(realtime().at(-1)!.startsAt).toBe(start);
    expect(realtime().at(-1)!.endsAt).toBe(start + 3600_000);
  });

  it('an unknown --label is a usage error and sends no record', async () => {
    const before = received();
    const res = await h.run([...BASE, '--label', 'No Such Label', '--duration', '1h']);
    expect(res.code).toBe(2);
    expect(errorEnvelope(res.stderr).message).toMatch(/no dynamic label is called "No Such Label"/);
    expect(received()).toBe(before);
  });

  it.each([
    [['--caller', '91-123', '--duration', '1h'], 'caller_number', /--caller/],
    [['--ends-at', '-1h'], 'ends_at', /in the past/],
    [['--duration', '25h'], 'ends_at', /24h/],
    [['--starts-at', 'now', '--ends-at', '+30h'], 'ends_at', /24 hours/],
    [['--reason', 'Pay <now> please!', '--duration', '1h'], 'dynamic_call_reason', /special character/],
    [['--reason', 'too short', '--duration', '1h'], 'dynamic_call_reason', /10-100/],
    [['--label-name', 'ab', '--duration', '1h'], 'dynamic_label_name', /3-40/],
    [['--starts-at', 'tomorrow-ish', '--duration', '1h'], 'starts_at', /--starts-at/],
    [[], 'ends_at', /--ends-at/],
  ])('invalid flags %j → exit 2 naming %s, nothing sent', async (extra, field, message) => {
    const before = h.sandbox.counters().requests['cp-realtime-v2'] ?? 0;
    const res = await h.run([...BASE, '--label-id', FLOWER_ERA, ...extra]);
    expect(res.code).toBe(2);
    const envelope = errorEnvelope(res.stderr) as ReturnType<typeof errorEnvelope> & { field?: string };
    expect(envelope.field).toBe(field);
    expect(envelope.message).toMatch(message);
    expect(h.sandbox.counters().requests['cp-realtime-v2'] ?? 0).toBe(before);
  });

  it('rejects --label with --label-id, and --ends-at with --duration', async () => {
    expect((await h.run([...BASE, '--label', 'FlowerEra', '--label-id', FLOWER_ERA, '--duration', '1h'])).code).toBe(2);
    expect((await h.run([...BASE, '--label-id', FLOWER_ERA, '--ends-at', '+1h', '--duration', '1h'])).code).toBe(2);
  });

  it('an API validation error → exit 4 naming the field', async () => {
    const res = await h.run([...BASE, '--label-id', '00000000-0000-4000-8000-000000000001', '--duration', '1h']);
    expect(res.code).toBe(4);
    const envelope = errorEnvelope(res.stderr) as ReturnType<typeof errorEnvelope> & { field?: string };
    expect(envelope.field).toBe('label_id');
    expect(envelope.http_status).toBe(400);
    expect(envelope.message).toMatch(/label_id/);
  });

  it('reads the flat error rendering (OAS) and names its field', async () => {
    h.sandbox.inject({
      endpoint: 'cp-realtime-v2',
      status: 400,
      body: { field: 'ends_at', message: 'Request body is invalid: ends_at cannot be more than 24 hours after starts_at', status: 'error' },
    });
    const res = await h.run([...BASE, '--label-id', FLOWER_ERA, '--duration', '1h']);
    expect(res.code).toBe(4);
    const envelope = errorEnvelope(res.stderr) as ReturnType<typeof errorEnvelope> & { field?: string };
    expect(envelope.field).toBe('ends_at');
    expect(envelope.message).toMatch(/24 hours/);
  });

  it('shows a camelCase statusInfo answer', async () => {
    h.sandbox.inject({
      endpoint: 'cp-realtime-v2',
      status: 200,
      body: { statusInfo: { status: 'success', message: 'Record processed successfully (camel)' } },
    });
    const res = await h.run([...BASE, '--label-id', FLOWER_ERA, '--duration', '1h', '--format', 'table']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('Record processed successfully (camel)');
  });

  it('a 200 whose status_info says error is a rejection (exit 4)', async () => {
    h.sandbox.inject({
      endpoint: 'cp-realtime-v2',
      status: 200,
      body: { status_info: { status: 'error', field: 'receiver_number', message: 'Request body is invalid: receiver_number is invalid' } },
    });
    const res = await h.run([...BASE, '--label-id', FLOWER_ERA, '--duration', '1h']);
    expect(res.code).toBe(4);
    expect((errorEnvelope(res.stderr) as { field?: string }).field).toBe('receiver_number');
  });

  it('--dry-run validates and prints without sending', async () => {
    const before = h.sandbox.counters().requests['cp-realtime-v2'] ?? 0;
    const res = await h.run([...BASE, '--label-id', FLOWER_ERA, '--duration', '1h', '--dry-run']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toMatchObject({ caller_number: '911234567890', label_id: FLOWER_ERA });
    expect(h.sandbox.counters().requests['cp-realtime-v2'] ?? 0).toBe(before);
  });
});

describe('call-reason push --api v1', () => {
  it('uses the v1 endpoint and field names and prints the batch id from the message', async () => {
    const res = await h.run([...BASE, '--label-id', FLOWER_ERA, '--label-name', 'Flowers', '--duration', '1h', '--api', 'v1']);
    expect(res.code).toBe(0);
    const body = JSON.parse(res.stdout);
    expect(body.status).toBe('success');
    expect(body.message).toMatch(/^Records Uploaded Successfully\. BatchID: /);
    expect(body.message).toContain(body.batch_id);
    const batch = callReasonSandbox(h.sandbox.state).batches.get(body.batch_id)!;
    expect(batch.version).toBe('v1');
    expect(batch.records[0]!.labelName).toBe('Flowers');
    expect(h.sandbox.counters().requests['cp-realtime-v1']).toBe(1);
  });

  it('a v1 failure → exit 4 with the field and the batch id', async () => {
    const res = await h.run([...BASE, '--label-id', '00000000-0000-4000-8000-000000000001', '--duration', '1h', '--api', 'v1']);
    expect(res.code).toBe(4);
    const envelope = JSON.parse(res.stderr.trim().split('\n').pop()!).error;
    expect(envelope.field).toBe('label_id');
    expect(envelope.details.batch_id).toMatch(/^[0-9a-f-]{36}$/);
  });
});
