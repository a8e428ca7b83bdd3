// The sandbox as a product: the control endpoints that steer it by events (holds, request
// watches, finishing asynchronous work now) rather than by time.
import { request } from 'node:http';
import { afterAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/server.js';
import { callReasonSandbox } from '../../src/sandbox/routes/call-reasons.js';
import { numbersSandbox } from '../../src/sandbox/routes/numbers.js';

const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
const PRIO1 = '069d2e3a-41e6-41f9-a768-157d7e3bd6b9';

const started: SandboxHandle[] = [];
async function sandbox(): Promise<SandboxHandle> {
  const handle = await startSandbox({ port: 0 });
  started.push(handle);
  return handle;
}
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

async function token(sb: SandboxHandle): Promise<string> {
  const res = await fetch(`${sb.url}/clients/${sb.credentials.clientAccountId}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Public-Access': 'allow' },
    body: JSON.stringify({ key_id: sb.credentials.keyId, api_key: sb.credentials.apiKey }),
  });
  return ((await res.json()) as { token: string }).token;
}

function labels(sb: SandboxHandle, bearer: string): Promise<Response> {
  return fetch(`${sb.url}/clients/${sb.credentials.clientAccountId}/labels`, { headers: { Authorization: `Bearer ${bearer}` } });
}

async function control(sb: SandboxHandle, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${sb.url}/__sandbox/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

function batch(sb: SandboxHandle, bearer: string): Promise<Response> {
  const now = Date.now();
  return fetch(`${sb.url}/v2/clients/${sb.credentials.clientAccountId}/dynamic_call_records`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      call_records: [{ caller_number: '911234567890', receiver_number: '919876543255', starts_at: now, ends_at: now + 3_600_000, label_id: LABEL }],
    }),
  });
}

describe('sandbox: holds', () => {
  it('holds a request unanswered and unprocessed until released; later requests pass', async () => {
    const sb = await sandbox();
    const bearer = await token(sb);
    const hold = sb.hold({ endpoint: 'cp-batch-v2' });
    let answered = false;
    const first = batch(sb, bearer).then((res) => {
      answered = true;
      return res;
    });
    await hold.whenArrived(1);
    expect(hold.info()).toEqual({ id: 1, endpoint: 'cp-batch-v2', remaining: 0, after: 0, arrived: 1, waiting: 1, hungUp: 0 });
    expect(sb.counters().extra.batchesAccepted ?? 0).toBe(0);
    // The hold caught its one request: the next one goes through while the first still waits.
    expect((await batch(sb, bearer)).status).toBe(200);
    expect(answered).toBe(false);
    expect(hold.release()).toBe(1);
    expect((await first).status).toBe(200);
    expect(sb.counters().extra.batchesAccepted).toBe(2);
  });

  it('`after` lets requests through first; a request whose client hangs up while held is never processed', async () => {
    const sb = await sandbox();
    const bearer = await token(sb);
    const hold = sb.hold({ endpoint: 'labels-get', after: 1 });
    expect((await labels(sb, bearer)).status).toBe(200);
    const url = new URL(`${sb.url}/clients/${sb.credentials.clientAccountId}/labels`);
    const abandoned = request(url, { headers: { Authorization: `Bearer ${bearer}` } });
    abandoned.on('error', () => {});
    abandoned.end();
    await hold.whenArrived(1);
    abandoned.destroy();
    await hold.whenHungUp(1);
    expect(hold.info()).toMatchObject({ arrived: 1, waiting: 1, hungUp: 1 });
    expect(hold.release()).toBe(1);
    // The released request finds its client gone: counted, never answered.
    await new Promise((resolve) => setImmediate(resolve));
    expect(sb.counters().extra.heldRequestsAbandoned).toBe(1);
    expect((await labels(sb, bearer)).status).toBe(200);
    expect(sb.counters().responses['200']).toBe(3); // the token and two labels
  });

  it('over HTTP: create, list and release holds; bad specs are 400 naming the problem', async () => {
    const sb = await sandbox();
    const bearer = await token(sb);
    const created = await control(sb, 'holds', { endpoint: 'labels-get', count: 2 });
    expect(created.status).toBe(200);
    expect(created.json.hold).toEqual({ id: 1, endpoint: 'labels-get', remaining: 2, after: 0, arrived: 0, waiting: 0, hungUp: 0 });
    const held = [labels(sb, bearer), labels(sb, bearer)];
    await sb.whenRequests('labels-get', 2);
    await new Promise((resolve) => setImmediate(resolve));
    expect((await control(sb, 'holds')).json.holds).toEqual([{ id: 1, endpoint: 'labels-get', remaining: 0, after: 0, arrived: 2, waiting: 2, hungUp: 0 }]);
    expect((await control(sb, 'holds/release', { id: 1 })).json).toEqual({ released: 2, holds: [] });
    for (const res of await Promise.all(held)) expect(res.status).toBe(200);

    expect(await control(sb, 'holds', { endpoint: 'no-such-endpoint' })).toMatchObject({ status: 400, json: { slug: 'invalid-input', message: expect.stringMatching(/^endpoint must be "\*" or one of: /) } });
    expect(await control(sb, 'holds', { endpoint: 'labels-get', count: 0 })).toMatchObject({ status: 400, json: { message: 'count must be a whole number ≥ 1' } });
    expect(await control(sb, 'holds', { endpoint: 'labels-get', after: -1 })).toMatchObject({ status: 400, json: { message: 'after must be a whole number ≥ 0' } });
    expect(await control(sb, 'holds/release', { id: 'one' })).toMatchObject({ status: 400, json: { message: 'id must be the id of a hold (GET /__sandbox/holds)' } });
  });

  it('reset releases every hold', async () => {
    const sb = await sandbox();
    const bearer = await token(sb);
    const hold = sb.hold({ endpoint: '*', count: 5 });
    const pending = labels(sb, bearer);
    await hold.whenArrived(1);
    expect((await control(sb, 'reset', {})).status).toBe(200);
    expect((await pending).status).toBe(200);
    expect((await control(sb, 'holds')).json.holds).toEqual([]);
  });
});

describe('sandbox: injected failures aimed by request number, with headers', () => {
  it('after: N fails the (N+1)th matching request; headers are sent with the failure', async () => {
    const sb = await sandbox();
    const bearer = await token(sb);
    sb.inject({ endpoint: 'labels-get', status: 503, after: 2, headers: { 'X-Request-Id': 'echo-this' } });
    const statuses: number[] = [];
    let requestId: string | null = null;
    for (let i = 0; i < 4; i += 1) {
      const res = await labels(sb, bearer);
      statuses.push(res.status);
      if (res.status === 503) requestId = res.headers.get('x-request-id');
    }
    expect(statuses).toEqual([200, 200, 503, 200]);
    expect(requestId).toBe('echo-this');
    expect(await control(sb, 'inject', { endpoint: 'labels-get', headers: { 'X-A': 1 } })).toMatchObject({
      status: 400,
      json: { message: 'headers must be an object of header names to string values' },
    });
  });
});

describe('sandbox: finishing asynchronous work now', () => {
  it('tokens/expire: every issued token is refused from now on (401), new ones work', async () => {
    const sb = await sandbox();
    const bearer = await token(sb);
    expect((await labels(sb, bearer)).status).toBe(200);
    expect((await control(sb, 'tokens/expire', {})).json).toEqual({ expired: 1 });
    const refused = await labels(sb, bearer);
    expect(refused.status).toBe(401);
    expect(await refused.json()).toEqual({ slug: 'authorization-error', message: 'please login again' });
    expect((await labels(sb, await token(sb))).status).toBe(200);
    expect(sb.expireTokens()).toBe(1);
  });

  it('batches/complete: pending batches complete at once, one by id or all', async () => {
    const sb = await sandbox();
    callReasonSandbox(sb.state).config.batchDelayMs = 600_000;
    const bearer = await token(sb);
    const ids: string[] = [];
    for (let i = 0; i < 2; i += 1) ids.push(((await (await batch(sb, bearer)).json()) as { batch_id: string }).batch_id);
    const status = async (id: string) => {
      const res = await fetch(`${sb.url}/v2/clients/${sb.credentials.clientAccountId}/dynamic_call_records?batchId=${id}`, {
        headers: { Authorization: `Bearer ${bearer}` },
      });
      return ((await res.json()) as { data: { status_info: { status: string } }[] }).data[0]!.status_info.status;
    };
    expect(await status(ids[0]!)).toBe('pending');
    expect((await control(sb, 'batches/complete', { batch_id: ids[0] })).json).toEqual({ completed: 1 });
    expect([await status(ids[0]!), await status(ids[1]!)]).toEqual(['success', 'pending']);
    expect((await control(sb, 'batches/complete', {})).json).toEqual({ completed: 1 });
    expect(await status(ids[1]!)).toBe('success');
  });

  it('numbers/finish: changes still processing finish now; the named numbers end "failed"', async () => {
    const sb = await sandbox();
    numbersSandbox(sb.state).config.processingMs = 600_000;
    const bearer = await token(sb);
    const account = sb.credentials.clientAccountId;
    const numbers = ['919712340101', '919712340102'];
    const published = await fetch(`${sb.url}/clients/${account}/number_management/feature_sets/${PRIO1}/numbers/publish`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ phone_numbers: numbers }),
    });
    expect(published.status).toBe(200);
    const statuses = async () => {
      const res = await fetch(`${sb.url}/clients/${account}/number_management/numbers?feature_set_id=${PRIO1}&limit=1000`, {
        headers: { Authorization: `Bearer ${bearer}` },
      });
      const body = (await res.json()) as { numbers: { phone_number: string; status: string }[] };
      return numbers.map((n) => body.numbers.find((r) => r.phone_number === n)?.status);
    };
    expect(await statuses()).toEqual(['pending', 'pending']);
    expect(await control(sb, 'numbers/finish', { failed: 'all' })).toMatchObject({ status: 400, json: { message: 'failed must be an array of strings' } });
    expect((await control(sb, 'numbers/finish', { failed: [numbers[1]] })).json).toEqual({ finished: 2 });
    expect(await statuses()).toEqual(['listed', 'failed']);
  });

  it('whenRequests resolves once an endpoint has been asked N times in all', async () => {
    const sb = await sandbox();
    const bearer = await token(sb);
    let seen = false;
    const watch = sb.whenRequests('labels-get', 2).then(() => {
      seen = true;
    });
    await labels(sb, bearer);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toBe(false);
    await labels(sb, bearer);
    await watch;
    expect(seen).toBe(true);
    await sb.whenRequests('labels-get', 1); // already reached: resolves at once
  });
});
