// The HTTP client against a scripted server on port 0: headers, tokens, retries, Retry-After, the
// limiter's slow-down, error mapping, network failures and what the --verbose log says. Time is
// a fake clock: sleeping advances it, so nothing here waits.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, VENDOR_ACCEPT, buildUrl, type RequestSpec, type TokenSource } from '../../src/api/client.js';
import { RateLimiterRegistry, type Clock } from '../../src/api/rate-limiter.js';
import { DEFAULT_RETRY_POLICY } from '../../src/api/retry.js';
import { ApiError, AuthError, TransientError, UsageError } from '../../src/errors.js';
import { redactor } from '../../src/output/redact.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

let server: Server;
let base: string;
let script: Handler[] = [];
let seen: Seen[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const handler = script.shift() ?? ((_q, r) => json(r, 500, { message: 'script ran out' }));
      handler(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  script = [];
  seen = [];
});

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
const reply = (status: number, body: unknown, headers: Record<string, string> = {}): Handler => (_req, res) => json(res, status, body, headers);
const raw = (status: number, text: string, headers: Record<string, string> = {}): Handler => (_req, res) => {
  res.writeHead(status, headers);
  res.end(text);
};
const hangUp: Handler = (req) => req.socket.destroy();

/** A clock whose sleeps advance it: the log's durations are 0 ms, the sleeps are recorded. */
function fakeClock(): Clock & { sleeps: number[] } {
  let now = 1_000_000;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    sleep: async (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  };
}

class Tokens implements TokenSource {
  issued = ['token-one-1234', 'token-two-5678'];
  renewals: string[] = [];
  private index = 0;
  async current(): Promise<string> {
    return this.issued[this.index]!;
  }
  async renew(rejected: string): Promise<string> {
    this.renewals.push(rejected);
    this.index += 1;
    return this.issued[this.index]!;
  }
}

function client(options: { tokens?: TokenSource; limits?: RateLimiterRegistry; timeoutMs?: number; maxRetries?: number } = {}) {
  const log: string[] = [];
  const clock = fakeClock();
  const api = new ApiClient({
    baseUrl: `${base}//`,
    timeoutMs: options.timeoutMs ?? 5000,
    logger: { debug: (message) => log.push(message) },
    tokens: 'tokens' in options ? options.tokens : new Tokens(),
    retryPolicy: { ...DEFAULT_RETRY_POLICY, maxRetries: options.maxRetries ?? DEFAULT_RETRY_POLICY.maxRetries },
    rateLimiters: options.limits,
    clock,
    random: () => 0,
  });
  return { api, log, clock };
}

const GET: RequestSpec = { endpoint: 'labels-get', method: 'GET', path: '/clients/acc/labels' };
const POST: RequestSpec = { endpoint: 'cp-batch-v2', method: 'POST', path: '/v2/clients/acc/dynamic_call_records', json: { call_records: [1] } };

async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  return promise.then(
    () => {
      throw new Error('expected the request to fail');
    },
    (error: unknown) => error as Error & Record<string, unknown>,
  );
}

describe('buildUrl', () => {
  it('joins base and path without doubled slashes; query values as text, empty and undefined ones left out', () => {
    expect(buildUrl('http://h/api///', '/x', { a: 1, b: true, c: 'v w', d: undefined, e: '' }).toString()).toBe('http://h/api/x?a=1&b=true&c=v+w');
    expect(buildUrl('http://h', '/x').toString()).toBe('http://h/x');
    expect(buildUrl('http://h', '/x', { zero: 0, no: false }).search).toBe('?zero=0&no=false');
  });
});

describe('a request', () => {
  it('sends the vendor Accept header and the bearer token, and reads JSON, the request id and the status', async () => {
    script.push(reply(200, [{ id: 'l1' }], { 'X-Request-Id': 'req-1' }));
    const { api, log } = client();
    expect(api.baseUrl).toBe(base);
    const response = await api.request<{ id: string }[]>({ ...GET, query: { page: 1 } });
    expect(response).toMatchObject({ status: 200, body: [{ id: 'l1' }], requestId: 'req-1' });
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/clients/acc/labels?page=1' });
    expect(seen[0]!.headers.accept).toBe(VENDOR_ACCEPT);
    expect(VENDOR_ACCEPT).toBe('application/vnd.api+json; version=1.0');
    expect(seen[0]!.headers.authorization).toBe('Bearer token-one-1234');
    expect(log).toEqual([`→ GET ${base}/clients/acc/labels?page=1`, '← 200 GET /clients/acc/labels?page=1 0ms request-id=req-1']);
  });

  it('a POST carries its JSON body; auth: false sends no token; extra headers are sent', async () => {
    script.push(reply(200, { batch_id: 'b1' }), reply(200, { token: 't' }));
    const { api } = client();
    await api.request(POST);
    expect(JSON.parse(seen[0]!.body)).toEqual({ call_records: [1] });
    expect(seen[0]!.headers['content-type']).toMatch(/^application\/json/);
    await api.request({ endpoint: 'token-create', method: 'POST', path: '/clients/acc/token', json: {}, auth: false, headers: { 'X-Public-Access': 'allow' } });
    expect(seen[1]!.headers.authorization).toBeUndefined();
    expect(seen[1]!.headers['x-public-access']).toBe('allow');
  });

  it('needs credentials unless auth is false', async () => {
    const { api } = client({ tokens: undefined });
    await expect(api.request(GET)).rejects.toThrow(new UsageError('this command needs credentials; run `tcb auth login` first'));
    expect(seen).toEqual([]);
  });

  it('bodies: text stays text, an empty body is undefined; the request id comes from the first header present', async () => {
    script.push(
      raw(200, 'plain text', { 'X-Amzn-RequestId': 'amzn-1', 'Request-Id': 'generic-1' }),
      raw(200, '', { 'X-Correlation-Id': 'corr-1' }),
      raw(200, '{}', { 'Request-Id': 'generic-2' }),
      raw(200, '{}'),
    );
    const { api, log } = client();
    expect(await api.request(GET)).toMatchObject({ body: 'plain text', requestId: 'amzn-1' });
    expect(await api.request(GET)).toMatchObject({ body: undefined, requestId: 'corr-1' });
    expect(await api.request(GET)).toMatchObject({ body: {}, requestId: 'generic-2' });
    const last = await api.request(GET);
    expect(last.requestId).toBeUndefined();
    expect(log[log.length - 1]).toBe('← 200 GET /clients/acc/labels 0ms');
  });

  it('onSend hears every attempt; raw keeps the bytes; acceptStatus hands back a status it accepts', async () => {
    script.push(reply(503, {}, { 'Retry-After': '0' }), raw(404, 'gone'), raw(200, 'é'));
    const { api } = client();
    const attempts: number[] = [];
    const accepted = await api.request({ ...GET, onSend: (n) => attempts.push(n), acceptStatus: (s) => s === 404 });
    expect(attempts).toEqual([0, 1]);
    expect(accepted).toMatchObject({ status: 404, body: 'gone' });
    const bytes = await api.request({ ...GET, raw: true });
    expect([...bytes.bytes!]).toEqual([0xc3, 0xa9]);
  });
});

describe('tokens', () => {
  it('a 401 renews the token once and repeats the request with the new one', async () => {
    script.push(reply(401, { slug: 'authorization-error', message: 'please login again' }), reply(200, []));
    const tokens = new Tokens();
    const { api, log } = client({ tokens });
    expect((await api.request(GET)).status).toBe(200);
    expect(tokens.renewals).toEqual(['token-one-1234']);
    expect(seen.map((s) => s.headers.authorization)).toEqual(['Bearer token-one-1234', 'Bearer token-two-5678']);
    expect(log).toContain('  token refused (401): creating a new token and repeating the request once');
  });

  it('a second 401 is an authentication failure (exit 3), not another renewal', async () => {
    script.push(reply(401, { message: 'please login again' }), reply(401, { slug: 'authorization-error', message: 'please login again' }));
    const tokens = new Tokens();
    const { api } = client({ tokens });
    const error = await failure(api.request(GET));
    expect(error).toBeInstanceOf(AuthError);
    expect(error.message).toBe('authentication failed: please login again');
    expect(tokens.renewals).toHaveLength(1);
    expect(seen).toHaveLength(2);
  });

  it('a 401 with acceptStatus still renews first', async () => {
    script.push(reply(401, {}), reply(200, { ok: 1 }));
    const { api } = client();
    expect(await api.request({ ...GET, acceptStatus: () => true })).toMatchObject({ status: 200, body: { ok: 1 } });
  });

  it('without auth, a 401 is not renewed', async () => {
    script.push(reply(401, { message: 'invalid key_id or api_key' }));
    const tokens = new Tokens();
    const { api } = client({ tokens });
    const error = await failure(api.request({ ...GET, endpoint: 'token-create', auth: false }));
    expect(error).toBeInstanceOf(AuthError);
    expect(error.hint).toBe('check the key id and secret API key (tcb auth login), and the client account id');
    expect(tokens.renewals).toEqual([]);
  });
});

describe('retries', () => {
  it('a GET retries 5xx with backoff, then gives up with the mapped error (exit 5)', async () => {
    for (let i = 0; i < 3; i += 1) script.push(reply(502, { message: `bad gateway ${i}` }));
    const { api, log, clock } = client({ maxRetries: 2 });
    const error = await failure(api.request(GET));
    expect(error).toBeInstanceOf(TransientError);
    expect(error.message).toBe('the API is unavailable (HTTP 502): bad gateway 2');
    expect(seen).toHaveLength(3);
    // Full jitter with random() = 0: half of 500 ms, then half of 1000 ms.
    expect(clock.sleeps).toEqual([250, 500]);
    expect(log.filter((l) => l.startsWith('  retrying'))).toEqual(['  retrying in 250ms (attempt 2 of 3)', '  retrying in 500ms (attempt 3 of 3)']);
  });

  it('Retry-After is honoured (seconds or an HTTP date)', async () => {
    script.push(reply(503, {}, { 'Retry-After': '7' }), reply(429, {}, { 'Retry-After': new Date(Date.now() + 3_000).toUTCString() }), reply(200, []));
    const { api, clock } = client();
    expect((await api.request(GET)).status).toBe(200);
    expect(clock.sleeps[0]).toBe(7000);
    expect(clock.sleeps[1]).toBeGreaterThan(1000);
    expect(clock.sleeps[1]).toBeLessThanOrEqual(3000);
  });

  it('retries that run out while the server names short waits end with its own error', async () => {
    script.push(reply(503, { message: 'maintenance' }, { 'Retry-After': '1' }), reply(503, { message: 'maintenance' }, { 'Retry-After': '1' }));
    const { api, clock } = client({ maxRetries: 1 });
    const error = await failure(api.request(GET));
    expect(error).toMatchObject({ message: 'the API is unavailable (HTTP 503): maintenance', code: 'server_error' });
    expect(clock.sleeps).toEqual([1000]);
  });

  it('a Retry-After beyond the cap fails at once (exit 5) naming the wait and when to try again', async () => {
    script.push(reply(429, { message: 'slow down' }, { 'Retry-After': '3600' }));
    const { api, clock } = client();
    const error = await failure(api.request(GET));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({
      code: 'retry_after_too_long',
      message: 'the API asked to wait 3600 s before retrying, longer than tcb waits (60 s)',
      details: { retry_after_seconds: 3600 },
      httpStatus: 429,
    });
    expect(error.hint).toMatch(/^try again after \d{4}-\d\d-\d\dT/);
    expect(clock.sleeps).toEqual([]);
  });

  it('a POST is not retried after a 500 (its outcome is unknown, and says so); 429 and 503 are', async () => {
    script.push(reply(500, { message: 'internal' }));
    const { api } = client();
    const error = await failure(api.request(POST));
    expect(error).toMatchObject({ message: 'the API is unavailable (HTTP 500): internal', details: { outcome: 'unknown' } });
    expect(seen).toHaveLength(1);

    script.push(reply(503, {}, { 'Retry-After': '0' }), reply(429, {}, { 'Retry-After': '0' }), reply(200, { batch_id: 'b' }));
    expect((await api.request(POST)).body).toEqual({ batch_id: 'b' });
    expect(seen).toHaveLength(4);
  });

  it('a POST answered 503 until the retries run out is not "unknown": it was never processed', async () => {
    script.push(reply(503, { message: 'busy' }), reply(503, { message: 'busy' }));
    const { api } = client({ maxRetries: 1 });
    const error = await failure(api.request(POST));
    expect(error.details).toBeUndefined();
  });

  it('4xx are not retried; keepErrorBody keeps the body in the details', async () => {
    script.push(reply(400, { status_info: { status: 'error', field: 'ends_at', message: 'bad' } }));
    const { api } = client();
    const error = await failure(api.request({ ...POST, keepErrorBody: true }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.details).toEqual({ body: { status_info: { status: 'error', field: 'ends_at', message: 'bad' } } });
    expect(seen).toHaveLength(1);
  });

  it('a POST answered 500 with keepErrorBody (tcb api) keeps the body beside the unknown outcome', async () => {
    script.push(reply(500, { message: 'internal', trace: 'abc' }));
    const { api } = client();
    const error = await failure(api.request({ ...POST, keepErrorBody: true }));
    expect(error.details).toEqual({ body: { message: 'internal', trace: 'abc' }, outcome: 'unknown' });
  });

  it('a 503 on token creation is retried like any other', async () => {
    script.push(reply(503, {}, { 'Retry-After': '0' }), reply(200, { token: 't' }));
    const { api } = client();
    const response = await api.request({ endpoint: 'token-create', method: 'POST', path: '/clients/acc/token', auth: false });
    expect(response.body).toEqual({ token: 't' });
    expect(seen).toHaveLength(2);
  });

  it('a 429 on token creation is the token quota (exit 3) at once, never retried', async () => {
    script.push(reply(429, { message: 'rate limit exceeded' }, { 'Retry-After': '10' }));
    const { api } = client();
    const error = await failure(api.request({ endpoint: 'token-create', method: 'POST', path: '/clients/acc/token', auth: false }));
    expect(error).toBeInstanceOf(AuthError);
    expect(error.code).toBe('token_quota_exceeded');
    expect(seen).toHaveLength(1);
  });
});

describe('the rate limiter', () => {
  it('each request takes a slot; a 429 slows the endpoint down (logged) and pauses it; a success rewards it', async () => {
    const limits = new RateLimiterRegistry({ 'cp-batch-v2': { limit: 60, windowMs: 60_000 } });
    script.push(reply(429, {}, { 'Retry-After': '0' }), reply(200, {}));
    const { api, log } = client({ limits });
    await api.request(POST);
    const limiter = limits.get('cp-batch-v2', 'token-one-1234')!;
    expect(log).toContain('  slowing cp-batch-v2 from 59.4 to 47.5 requests/min');
    // One success creeps back 2 %.
    expect(limiter.currentIntervalMs).toBeCloseTo(1010 * 1.25 * 0.98, 6);
  });

  it('only a 429 slows the endpoint down: a 503 does not', async () => {
    const limits = new RateLimiterRegistry({ 'cp-batch-v2': { limit: 60, windowMs: 60_000 } });
    script.push(reply(503, {}, { 'Retry-After': '0' }), reply(200, {}));
    const { api, log } = client({ limits });
    await api.request(POST);
    expect(limits.get('cp-batch-v2', 'token-one-1234')!.currentIntervalMs).toBeCloseTo(1010, 9);
    expect(log.some((l) => l.includes('slowing'))).toBe(false);
  });

  it('endpoints without a limit, and requests without a token, use no limiter', async () => {
    const limits = new RateLimiterRegistry({ 'cp-batch-v2': { limit: 60, windowMs: 60_000 } });
    script.push(reply(429, {}, { 'Retry-After': '0' }), reply(200, {}));
    const { api, log } = client({ limits });
    await api.request(GET);
    expect(log.some((l) => l.includes('slowing'))).toBe(false);
  });
});

describe('network failures', () => {
  it('a refused connection: never sent, so even a POST is retried; then exit 5 naming the origin', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const log: string[] = [];
    const clock = fakeClock();
    const api = new ApiClient({
      baseUrl: `http://127.0.0.1:${port}`,
      timeoutMs: 5000,
      logger: { debug: (m) => log.push(m) },
      tokens: new Tokens(),
      retryPolicy: { ...DEFAULT_RETRY_POLICY, maxRetries: 1 },
      clock,
      random: () => 0,
    });
    const error = await failure(api.request(POST));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ code: 'network_error', message: `request to http://127.0.0.1:${port} failed (ECONNREFUSED)`, hint: 'check the base URL and the network' });
    expect(error.details).toBeUndefined();
    expect(clock.sleeps).toEqual([250]);
    expect(log.filter((l) => l.startsWith('←'))).toEqual([`← network error ECONNREFUSED POST /v2/clients/acc/dynamic_call_records 0ms`, `← network error ECONNREFUSED POST /v2/clients/acc/dynamic_call_records 0ms`]);
  });

  it('a connection dropped after a POST was sent: not resent, its outcome unknown', async () => {
    script.push(hangUp);
    const { api } = client();
    const error = await failure(api.request(POST));
    expect(error).toMatchObject({ code: 'network_error', details: { outcome: 'unknown' }, hint: 'the request may have reached the API; its outcome is unknown, so it was not resent' });
    expect(seen).toHaveLength(1);
  });

  it('a dropped GET is retried, and the retry is logged', async () => {
    script.push(hangUp, reply(200, ['ok']));
    const { api, log } = client();
    expect((await api.request(GET)).body).toEqual(['ok']);
    expect(log.filter((l) => l.startsWith('  retrying'))).toEqual(['  retrying in 250ms (attempt 2 of 5)']);
  });

  it('an abort without a reason (Ctrl-C) is passed on as the AbortError, not retried as a network failure', async () => {
    script.push(() => {});
    const controller = new AbortController();
    const { api } = client();
    const pending = failure(api.request({ ...GET, signal: controller.signal }));
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    const error = await pending;
    expect(error.name).toBe('AbortError');
    expect(error).not.toBeInstanceOf(TransientError);
    expect(seen).toHaveLength(1);
  });

  it('a timeout: a GET is retried, a POST is not (outcome unknown); the message names the limit', async () => {
    const silent: Handler = () => {};
    script.push(silent);
    const { api, log } = client({ timeoutMs: 150, maxRetries: 0 });
    const error = await failure(api.request(POST));
    expect(error).toMatchObject({ code: 'timeout', message: `request to ${base} timed out after 0 s`, details: { outcome: 'unknown' } });
    expect(log.filter((l) => l.startsWith('←'))).toEqual(['← timeout POST /v2/clients/acc/dynamic_call_records 0ms']);
    script.push(silent);
    const get = await failure(client({ timeoutMs: 600, maxRetries: 0 }).api.request(GET));
    expect(get).toMatchObject({ code: 'timeout', message: `request to ${base} timed out after 1 s`, hint: 'raise --timeout or try again later' });
    expect(get.details).toBeUndefined();
  });

  it('an aborted request is not retried: the abort is passed on', async () => {
    script.push(() => {});
    const controller = new AbortController();
    const { api } = client();
    const pending = api.request({ ...GET, signal: controller.signal });
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('user stopped'));
    await expect(pending).rejects.toThrow('user stopped');
    expect(seen).toHaveLength(1);
  });
});

describe('--verbose headers', () => {
  it('logHeaders logs both directions with the Authorization value redacted', async () => {
    script.push(reply(200, {}, { 'X-Thing': 'yes' }));
    const { api, log } = client();
    await api.request({ ...GET, logHeaders: true });
    expect(log).toContain('  > authorization: Bearer [REDACTED]');
    expect(log).toContain(`  > accept: ${VENDOR_ACCEPT}`);
    expect(log).toContain('  < x-thing: yes');
  });

  it('onResponse hears each response with its attempt', async () => {
    script.push(reply(503, {}, { 'Retry-After': '0' }), reply(200, {}));
    const { api } = client();
    const heard: Array<[number, number]> = [];
    await api.request({ ...GET, onResponse: (r) => heard.push([r.status, r.attempt]) });
    expect(heard).toEqual([
      [503, 0],
      [200, 1],
    ]);
  });

  it('a GET carries no Content-Type', async () => {
    script.push(reply(200, {}));
    await client().api.request(GET);
    expect(seen[0]!.headers['content-type']).toBeUndefined();
  });

  it("a caller's own Authorization header without a scheme is masked whole in the log", async () => {
    script.push(reply(200, {}));
    const { api, log } = client();
    await api.request({ ...GET, auth: false, headers: { Authorization: 'raw-secret-value' }, logHeaders: true });
    expect(seen[0]!.headers.authorization).toBe('raw-secret-value');
    expect(log).toContain('  > authorization: [REDACTED]');
  });

  it('a body sent as is gets application/json unless the caller names a type', async () => {
    script.push(reply(200, {}), reply(200, {}));
    const { api } = client();
    await api.request({ ...POST, json: undefined, body: '{"a":1}' });
    expect(seen[0]).toMatchObject({ body: '{"a":1}' });
    expect(seen[0]!.headers['content-type']).toBe('application/json');
    await api.request({ ...POST, json: undefined, body: 'x=1', headers: { 'content-type': 'text/plain' } });
    expect(seen[1]!.headers['content-type']).toBe('text/plain');
  });
});

describe('edges of a request', () => {
  it('without credentials, a request that needs none still goes; a 401 it accepts comes back as is', async () => {
    script.push(reply(401, { message: 'no' }));
    const { api } = client({ tokens: undefined });
    const response = await api.request({ ...GET, auth: false, acceptStatus: (s) => s === 401 });
    expect(response).toMatchObject({ status: 401, body: { message: 'no' } });
    expect(response.bytes).toBeUndefined();
    expect(seen[0]!.headers.authorization).toBeUndefined();
  });

  it('a GET or PUT that keeps failing with a 5xx was not "maybe processed": no outcome in the details', async () => {
    script.push(reply(500, {}), reply(500, {}));
    const { api } = client({ maxRetries: 1 });
    expect((await failure(api.request(GET))).details).toBeUndefined();
    script.push(reply(502, {}));
    const put = await failure(client({ maxRetries: 0 }).api.request({ ...POST, method: 'PUT' }));
    expect(put.details).toBeUndefined();
    script.push(reply(504, { message: 'gateway' }));
    const patch = await failure(client({ maxRetries: 0 }).api.request({ ...POST, method: 'PATCH' }));
    expect(patch.details).toEqual({ outcome: 'unknown' });
  });

  it('keepErrorBody with an empty error body adds nothing', async () => {
    script.push(raw(404, ''));
    const { api } = client();
    const error = await failure(api.request({ ...GET, keepErrorBody: true }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.message).toBe('the API rejected the request: HTTP 404');
    expect(error.details).toBeUndefined();
  });

  it('onResponse hears the status text and headers', async () => {
    script.push((_req, res) => {
      res.writeHead(200, 'All Good', { 'X-Thing': 'yes' });
      res.end('{}');
    });
    const { api } = client();
    const heard: Array<{ statusText: string; thing: string | null }> = [];
    await api.request({ ...GET, onResponse: (r) => heard.push({ statusText: r.statusText, thing: r.headers.get('x-thing') }) });
    expect(heard).toEqual([{ statusText: 'All Good', thing: 'yes' }]);
  });

  it('the Retry-After cap message names the cap in seconds and when to come back', async () => {
    script.push(reply(503, {}, { 'Retry-After': '90' }));
    const log: string[] = [];
    const api = new ApiClient({
      baseUrl: base,
      timeoutMs: 5000,
      logger: { debug: (m) => log.push(m) },
      tokens: new Tokens(),
      retryPolicy: { ...DEFAULT_RETRY_POLICY, maxRetryAfterMs: 30_400 },
      clock: fakeClock(),
    });
    const before = Date.now();
    const error = await failure(api.request(GET));
    expect(error.message).toBe('the API asked to wait 90 s before retrying, longer than tcb waits (30 s)');
    expect(error.httpStatus).toBe(503);
    const when = Date.parse((error.hint as string).replace('try again after ', ''));
    expect(when).toBeGreaterThanOrEqual(before + 90_000);
    expect(when).toBeLessThanOrEqual(Date.now() + 90_000);
  });

  it('a failure with no socket code is named by its cause', async () => {
    // A server that redirects in a circle: the transport gives up with a reason but no code.
    for (let i = 0; i < 25; i += 1) script.push((_req, res) => res.writeHead(302, { Location: '/clients/acc/labels' }).end());
    const { api, log } = client({ maxRetries: 0 });
    const error = await failure(api.request(GET));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ message: `request to ${base} failed (redirect count exceeded)`, code: 'network_error', hint: 'check the base URL and the network' });
    expect(log.filter((l) => l.startsWith('←'))).toEqual(['← network error GET /clients/acc/labels 0ms']);
  });

  it('a token it sends is a secret from then on: stderr never shows it, even outside a header', async () => {
    script.push(reply(200, []));
    const tokens = new Tokens();
    tokens.issued = ['tok-3f9a-unseen-before', 'unused'];
    await client({ tokens }).api.request(GET);
    expect(redactor.redact('echo: tok-3f9a-unseen-before.')).toBe('echo: [REDACTED].');
  });

  it('exposes the registry it was given', () => {
    const limits = new RateLimiterRegistry({});
    expect(client({ limits }).api.rateLimiters).toBe(limits);
    expect(client().api.rateLimiters).toBeUndefined();
  });
});

describe('the rate limiter, as the client uses it', () => {
  it('spaces the requests of one token; a 429 pauses for its Retry-After only', async () => {
    const clock = fakeClock();
    const limits = new RateLimiterRegistry({ 'cp-batch-v2': { limit: 60, windowMs: 60_000 } }, clock);
    script.push(reply(200, {}), reply(429, {}, { 'Retry-After': '0' }), reply(200, {}));
    const api = new ApiClient({ baseUrl: base, timeoutMs: 5000, logger: { debug: () => {} }, tokens: new Tokens(), rateLimiters: limits, clock, random: () => 0 });
    await api.request(POST);
    expect(clock.sleeps).toEqual([]);
    await api.request(POST);
    // The second request waits its slot (1010 ms); after its 429 the retry waits Retry-After (0),
    // then the next slot, already booked 1010 ms on (the slower spacing applies after it).
    expect(clock.sleeps).toEqual([1010, 0, 1010]);
    expect(limits.get('cp-batch-v2', 'token-one-1234')!.currentIntervalMs).toBeCloseTo(1262.5 * 0.98, 9);
  });

  it('a renewed token gets a limiter of its own; an accepted error status is no success', async () => {
    const clock = fakeClock();
    const limits = new RateLimiterRegistry({ 'labels-get': { limit: 60, windowMs: 60_000 } }, clock);
    script.push(reply(429, {}, { 'Retry-After': '0' }), reply(404, {}));
    const api = new ApiClient({ baseUrl: base, timeoutMs: 5000, logger: { debug: () => {} }, tokens: new Tokens(), rateLimiters: limits, clock, random: () => 0 });
    await api.request({ ...GET, acceptStatus: (s) => s === 404 });
    expect(limits.get('labels-get', 'token-one-1234')!.currentIntervalMs).toBe(1262.5);

    script.push(reply(401, {}), reply(200, {}));
    clock.sleeps.length = 0;
    await api.request(GET);
    // The first attempt waits for token one's slowed slot; the renewed token's first slot is free.
    expect(clock.sleeps).toEqual([1262.5]);
    expect(limits.get('labels-get', 'token-two-5678')!.currentIntervalMs).toBe(1010);
  });
});
