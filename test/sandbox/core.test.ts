import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, describeSandbox } from '../../src/sandbox/server.js';
import { SlidingWindowLimiter, retryAfterSeconds } from '../../src/sandbox/sliding-window.js';
import type { SandboxCredentials, SandboxHandle, SandboxOptions } from '../../src/sandbox/server.js';

// Documented payloads from the API reference (shared/api/examples), inlined so
// the test does not depend on where the reference lives.
const DOCUMENTED: Record<string, unknown> = {
  'token-create.response.200.json': {
    "token": "a4p0pZ2x3aEk9TYGxPZldm0qvWQknTXTINPZxNpIZ32yWmiOFtGqv2mEU7nJlQO6",
    "created_at": "2025-07-10T06:59:05.72Z"
  },
  'token-create.response.400-invalid-input.json': {
    "slug": "invalid-input",
    "message": "api_key is required"
  },
  'cp-realtime-v1.response.401-missing-authorization-header.json': {
    "slug": "authorization-error",
    "message": "Missing authorization header"
  },
  'labels-get.response.403-forbidden.json': {
    "slug": "forbidden-error",
    "message": "not authorized. please contact your admin."
  },
  'labels-get.response.200.json': [
    {
      "id": "255297eb-7f13-44f9-967a-f287ff0f5025",
      "name": "FlowerEra",
      "logo_url": "https://business-priority-media-noneu.truecaller.com/staging/logos/06930f35-4b9c-4144-b748-9ace309c70d2-1751871235271177747.png",
      "category": 10,
      "sub_category": 142,
      "created_by_email": "[email protected]",
      "created_at": "2025-07-07T06:53:55.402122Z",
      "label_type": "dynamic"
    },
    {
      "id": "d3c2ff94-beb4-412f-a7d5-daebf9596cfa",
      "name": "test-label-priority",
      "logo_url": "https://business-priority-media-noneu.truecaller.com/staging/logos/06930f35-4b9c-4144-b748-9ace309c70d2-1739786448319894688.png",
      "category": 1,
      "sub_category": 16,
      "created_by_email": "[email protected]",
      "created_at": "2025-02-17T10:00:48.506685Z",
      "label_type": "dynamic"
    }
  ],
  'feature-sets-get.response.200.json': {
    "feature_sets": [
      {
        "id": "069d2e3a-41e6-41f9-a768-157d7e3bd6b9",
        "name": "prio1",
        "description": "",
        "status": "draft",
        "process_id": "318d5ae4-d2ad-4dc6-898a-861347ce279d",
        "client_account_id": "91c173bb-28d8-4030-9722-8663ff9589f3",
        "label_id": "7c7ec202-96cc-4c5f-8b24-23cbc07a2a8a",
        "call_reason_id": "689f6ce5-c03d-4d96-8af8-c8fb9b52510d",
        "video_caller_id": null,
        "business_profile_id": null,
        "call_me_back": false,
        "survey": false,
        "department_id": "8e16b0d3-0953-40d0-9079-2a412363063e",
        "department_name": "QA Test new flow edit",
        "operation_id": "14349208-1e61-4f88-81c5-2f55dfc755db",
        "calling_operation_id": "690aa251-122e-4cbc-87a8-8d270fffb218",
        "calling_operation_name": "Delivery",
        "process_name": "newProcess",
        "sub_process_name": "subPro",
        "created_at": "2025-07-16T10:15:04.800203Z",
        "updated_at": "2025-07-16T10:15:04.800203Z"
      },
      {
        "id": "684de058-3d09-4b05-ba65-3612b5cf616b",
        "name": "New Feature Set-7",
        "description": "",
        "status": "draft",
        "process_id": "510ab615-1dda-4cac-97f3-7975e10a4cd5",
        "client_account_id": "91c173bb-28d8-4030-9722-8663ff9589f3",
        "label_id": "7c7ec202-96cc-4c5f-8b24-23cbc07a2a8a",
        "call_reason_id": "f435f291-6508-4362-84bb-00100f008544",
        "video_caller_id": null,
        "business_profile_id": null,
        "call_me_back": false,
        "survey": false,
        "department_id": "85c87025-35e2-4e68-9257-0517609cfd3d",
        "department_name": "Listingdelisting",
        "operation_id": "358328f9-d99e-49ec-927e-28029efb0dde",
        "calling_operation_id": "0cb2cb40-8c23-44ce-b546-6d9b6b66af88",
        "calling_operation_name": "Sales",
        "process_name": "Listingdelisting",
        "sub_process_name": "",
        "created_at": "2025-07-16T10:12:24.561896Z",
        "updated_at": "2025-07-16T10:12:24.561896Z"
      }
    ],
    "pagination_info": {
      "total_page_count": 2,
      "current_page": 1,
      "page_limit": 50
    }
  },
  'numbers-details.response.200.json': {
    "numbers": [
      {
        "phone_number": "918848628575230",
        "phone_type": "verified",
        "status": "listed",
        "client_account_id": "91c173bb-28d8-4030-9722-8663ff9589f3",
        "created_by_email": "[email protected]",
        "department": "TestingSanity",
        "operation": "Collections",
        "process": "SanityProcess",
        "subprocess": "",
        "feature_set_name": "New Feature set",
        "call_me_back": "enabled",
        "created_at": "2025-07-28T09:25:19.557139Z",
        "updated_at": "2025-07-28T09:25:23.644159Z",
        "label_name": "testLabel from fs page"
      }
    ]
  },
};
function example(name: string): unknown {
  return structuredClone(DOCUMENTED[name]);
}

const ACCOUNT = '91c173bb-28d8-4030-9722-8663ff9589f3';
const FORBIDDEN = { slug: 'forbidden-error', message: 'not authorized. please contact your admin.' };
const LOGIN_AGAIN = { slug: 'authorization-error', message: 'please login again' };

const started: SandboxHandle[] = [];
async function sandbox(options: SandboxOptions = {}): Promise<SandboxHandle> {
  const handle = await startSandbox({ port: 0, ...options });
  started.push(handle);
  return handle;
}
afterAll(async () => {
  await Promise.all(started.map((s) => s.close()));
});

function requestToken(sb: SandboxHandle, body: unknown, headers: Record<string, string> = { 'X-Public-Access': 'allow' }, account = ACCOUNT) {
  return fetch(`${sb.url}/clients/${account}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

async function login(sb: SandboxHandle, creds: SandboxCredentials = sb.credentials): Promise<string> {
  const res = await requestToken(sb, { key_id: creds.keyId, api_key: creds.apiKey });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

function get(sb: SandboxHandle, path: string, token?: string): Promise<Response> {
  return fetch(`${sb.url}${path}`, { headers: token ? { Authorization: `Bearer ${token}` } : {} });
}

function control(sb: SandboxHandle, path: string, body?: unknown): Promise<Response> {
  return fetch(`${sb.url}/__sandbox/${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
}

const labelsPath = `/clients/${ACCOUNT}/labels`;
const featureSetsPath = `/clients/${ACCOUNT}/number_management/feature_sets`;

describe('sandbox: token-create', () => {
  let sb: SandboxHandle;
  beforeAll(async () => {
    sb = await sandbox({ tokenQuota: 3, tokenQuotaWindowSeconds: 60 });
  });

  it('issues a 64-character alphanumeric token with an ISO created_at', async () => {
    const before = Date.now();
    const res = await requestToken(sb, { key_id: sb.credentials.keyId, api_key: sb.credentials.apiKey });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
    const body = (await res.json()) as Record<string, string>;
    expect(Object.keys(body).sort()).toEqual(Object.keys(example('token-create.response.200.json') as object).sort());
    expect(body.token).toMatch(/^[A-Za-z0-9]{64}$/);
    const createdAt = Date.parse(body.created_at!);
    expect(createdAt).toBeGreaterThanOrEqual(before - 1000);
    expect(createdAt).toBeLessThanOrEqual(Date.now() + 1000);
    expect(sb.counters().tokensCreated).toBe(1);
  });

  it('rejects missing fields with the documented invalid-input body', async () => {
    const noApiKey = await requestToken(sb, { key_id: sb.credentials.keyId });
    expect(noApiKey.status).toBe(400);
    expect(await noApiKey.json()).toEqual(example('token-create.response.400-invalid-input.json'));
    const noKeyId = await requestToken(sb, { api_key: sb.credentials.apiKey });
    expect(await noKeyId.json()).toEqual({ slug: 'invalid-input', message: 'key_id is required' });
    const badJson = await requestToken(sb, '{not json');
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as { slug: string }).slug).toBe('invalid-input');
  });

  it('rejects a wrong key pair or another account with 401', async () => {
    const wrongSecret = await requestToken(sb, { key_id: sb.credentials.keyId, api_key: 'nope' });
    expect(wrongSecret.status).toBe(401);
    expect(await wrongSecret.json()).toEqual({ slug: 'authorization-error', message: 'invalid key_id or api_key' });
    const otherAccount = await requestToken(
      sb,
      { key_id: sb.credentials.keyId, api_key: sb.credentials.apiKey },
      {},
      '00000000-0000-4000-8000-000000000000',
    );
    expect(otherAccount.status).toBe(401);
  });

  it('accepts a request without X-Public-Access but counts it', async () => {
    const before = sb.counters().extra.tokenRequestsWithoutPublicAccessHeader ?? 0;
    const res = await requestToken(sb, { key_id: sb.credentials.keyId, api_key: sb.credentials.apiKey }, {});
    expect(res.status).toBe(200);
    expect(sb.counters().extra.tokenRequestsWithoutPublicAccessHeader).toBe(before + 1);
  });

  it('enforces the token quota per key with 429 and Retry-After', async () => {
    // Two tokens were issued above; the quota is 3.
    await login(sb);
    const res = await requestToken(sb, { key_id: sb.credentials.keyId, api_key: sb.credentials.apiKey });
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(((await res.json()) as { slug: string }).slug).toBe('too-many-requests');
    expect(sb.counters().rateLimited).toBe(1);
    expect(sb.counters().tokensCreated).toBe(3);
    // The quota is per key_id: the restricted key still gets tokens.
    await login(sb, sb.restrictedCredentials);
  });
});

describe('sandbox: bearer auth', () => {
  it('gives a token tokenLifetimeSeconds to live, and refuses it with 401 afterwards', async () => {
    const sb = await sandbox({ tokenLifetimeSeconds: 90 });
    const token = await login(sb);
    const record = sb.state.tokens.get(token)!;
    expect(record.expiresAt - record.createdAt).toBe(90_000);
    expect((await get(sb, labelsPath, token)).status).toBe(200);
    record.expiresAt = Date.now(); // its 90 s are over
    const res = await get(sb, labelsPath, token);
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual(LOGIN_AGAIN);
  });

  it('distinguishes a missing header from an unknown token', async () => {
    const sb = await sandbox();
    const missing = await get(sb, labelsPath);
    expect(missing.status).toBe(401);
    expect(await missing.json()).toEqual(example('cp-realtime-v1.response.401-missing-authorization-header.json'));
    const unknown = await get(sb, labelsPath, 'x'.repeat(64));
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toEqual(LOGIN_AGAIN);
    expect(sb.counters().requests['labels-get']).toBe(2);
  });

  it('forbids another account and keys without the feature', async () => {
    const sb = await sandbox();
    const token = await login(sb);
    const otherAccount = await get(sb, '/clients/00000000-0000-4000-8000-000000000000/labels', token);
    expect(otherAccount.status).toBe(403);
    expect(await otherAccount.json()).toEqual(FORBIDDEN);

    const restricted = await login(sb, sb.restrictedCredentials);
    for (const path of [labelsPath, featureSetsPath]) {
      const res = await get(sb, path, restricted);
      expect(res.status).toBe(403);
      expect(await res.json()).toEqual(example('labels-get.response.403-forbidden.json'));
    }
  });
});

describe('sandbox: labels-get', () => {
  let sb: SandboxHandle;
  let token: string;
  beforeAll(async () => {
    sb = await sandbox();
    token = await login(sb);
  });

  it('returns a bare array shaped like the documented example, containing its labels', async () => {
    const res = await get(sb, labelsPath, token);
    expect(res.status).toBe(200);
    const labels = (await res.json()) as Array<Record<string, unknown>>;
    expect(Array.isArray(labels)).toBe(true);
    expect(labels).toHaveLength(5);
    const documented = example('labels-get.response.200.json') as Array<Record<string, unknown>>;
    for (const label of labels) expect(Object.keys(label)).toEqual(Object.keys(documented[0]!));
    for (const doc of documented) {
      const ours = labels.find((l) => l.id === doc.id);
      expect(ours).toEqual({ ...doc, created_by_email: ours?.created_by_email });
    }
  });

  it('paginates with page and limit and answers [] past the end', async () => {
    const all = (await (await get(sb, labelsPath, token)).json()) as Array<{ id: string }>;
    const page2 = (await (await get(sb, `${labelsPath}?page=2&limit=2`, token)).json()) as Array<{ id: string }>;
    expect(page2.map((l) => l.id)).toEqual(all.slice(2, 4).map((l) => l.id));
    const page3 = (await (await get(sb, `${labelsPath}?page=3&limit=2`, token)).json()) as unknown[];
    expect(page3).toHaveLength(1);
    expect(await (await get(sb, `${labelsPath}?page=4&limit=2`, token)).json()).toEqual([]);
  });

  it('rejects a non-numeric page', async () => {
    const res = await get(sb, `${labelsPath}?page=abc`, token);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ slug: 'invalid-input', message: 'page must be a positive integer' });
  });
});

describe('sandbox: feature-sets-get', () => {
  let sb: SandboxHandle;
  let token: string;
  type FeatureSetsBody = {
    feature_sets: Array<Record<string, unknown>>;
    pagination_info: { total_page_count: number; current_page: number; page_limit: number };
  };
  const list = async (query = ''): Promise<FeatureSetsBody> => {
    const res = await get(sb, `${featureSetsPath}${query}`, token);
    expect(res.status).toBe(200);
    return (await res.json()) as FeatureSetsBody;
  };
  beforeAll(async () => {
    sb = await sandbox();
    token = await login(sb);
  });

  it('returns the documented envelope and object shape, including the documented feature sets', async () => {
    const body = await list();
    const documented = example('feature-sets-get.response.200.json') as FeatureSetsBody;
    expect(Object.keys(body)).toEqual(Object.keys(documented));
    expect(body.pagination_info).toEqual({ total_page_count: 1, current_page: 1, page_limit: 50 });
    expect(body.feature_sets).toHaveLength(7);
    for (const fs of body.feature_sets) expect(Object.keys(fs)).toEqual(Object.keys(documented.feature_sets[0]!));
    for (const doc of documented.feature_sets) expect(body.feature_sets).toContainEqual(doc);
    // Two feature sets share a name, so name lookups can be ambiguous.
    expect(body.feature_sets.filter((fs) => fs.name === 'Collections')).toHaveLength(2);
  });

  it('paginates', async () => {
    const all = (await list()).feature_sets.map((fs) => fs.id);
    const page3 = await list('?page=3&limit=3');
    expect(page3.pagination_info).toEqual({ total_page_count: 3, current_page: 3, page_limit: 3 });
    expect(page3.feature_sets.map((fs) => fs.id)).toEqual(all.slice(6));
    expect((await list('?page=4&limit=3')).feature_sets).toEqual([]);
  });

  it('filters by department, operation and process (or parent process)', async () => {
    const retail = await list('?department_id=b5e79fcf-5f77-4e50-a73a-22cb10f783d4');
    expect(retail.feature_sets.map((fs) => fs.name).sort()).toEqual(['Collections', 'Sales Outreach', 'Support Callbacks']);
    expect(retail.feature_sets.every((fs) => fs.department_name === 'Retail Banking')).toBe(true);

    const delivery = await list('?operation_id=14349208-1e61-4f88-81c5-2f55dfc755db');
    expect(delivery.feature_sets.map((fs) => fs.name).sort()).toEqual(['Delivery Updates', 'prio1']);

    const subProcess = await list('?process_id=318d5ae4-d2ad-4dc6-898a-861347ce279d');
    expect(subProcess.feature_sets.map((fs) => fs.name)).toEqual(['prio1']);
    const parentProcess = await list('?process_id=746c455f-9085-42ec-85a3-203f0633396f');
    expect(parentProcess.feature_sets.map((fs) => fs.name).sort()).toEqual(['Delivery Updates', 'prio1']);

    const none = await list('?department_id=nope');
    expect(none).toEqual({ feature_sets: [], pagination_info: { total_page_count: 0, current_page: 1, page_limit: 50 } });
  });
});

describe('sandbox: seed data', () => {
  it('is deterministic and consistent', async () => {
    const a = await sandbox();
    const b = await sandbox();
    expect(a.state.featureSets.map((fs) => fs.id)).toEqual(b.state.featureSets.map((fs) => fs.id));
    expect(a.state.numbers).toHaveLength(60);
    expect(a.state.numbers).toEqual(b.state.numbers);
    expect(new Set(a.state.numbers.map((n) => n.phone_number)).size).toBe(60);
    const documentedNumber = (example('numbers-details.response.200.json') as { numbers: object[] }).numbers[0]!;
    for (const n of a.state.numbers) {
      const fs = a.state.featureSets.find((f) => f.id === n.feature_set_id);
      expect(fs?.name).toBe(n.feature_set_name);
      expect(n.phone_number).toMatch(/^91\d{10}$/);
      const { feature_set_id: _internal, ...visible } = n;
      expect(Object.keys(visible)).toEqual(Object.keys(documentedNumber));
    }
    // Separate sandboxes never share mutable data.
    a.state.labels.pop();
    expect(b.state.labels).toHaveLength(5);
  });
});

describe('sandbox: rate limits', () => {
  it('limits per token and endpoint with 429, Retry-After and the documented body', async () => {
    const sb = await sandbox({ rateLimits: { 'labels-get': { limit: 2, windowMs: 60_000 } } });
    const first = await login(sb);
    const second = await login(sb);
    expect((await get(sb, labelsPath, first)).status).toBe(200);
    expect((await get(sb, labelsPath, first)).status).toBe(200);
    const limited = await get(sb, labelsPath, first);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(59);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await limited.json()).toEqual({ slug: 'too-many-requests', message: `rate limit exceeded, retry after ${retryAfter} seconds` });
    // Another token, and another endpoint, are unaffected.
    expect((await get(sb, labelsPath, second)).status).toBe(200);
    expect((await get(sb, featureSetsPath, first)).status).toBe(200);
    expect(sb.counters().rateLimited).toBe(1);
    expect(sb.counters().requests['labels-get']).toBe(4);
    // Defaults for the documented endpoints survive a partial rateLimits option.
    expect(sb.configure({}).rateLimits['cp-batch-v2']).toEqual({ limit: 60, windowMs: 60_000 });
  });

  it('the window slides: a slot frees when the request holding it leaves the window', () => {
    const limiter = new SlidingWindowLimiter();
    expect(limiter.tryAdmit('t labels-get', 2, 1000, 0)).toEqual({ admitted: true });
    expect(limiter.tryAdmit('t labels-get', 2, 1000, 400)).toEqual({ admitted: true });
    expect(limiter.tryAdmit('t labels-get', 2, 1000, 999)).toEqual({ admitted: false, retryAfterMs: 1 });
    expect(limiter.tryAdmit('other labels-get', 2, 1000, 999)).toEqual({ admitted: true });
    expect(limiter.tryAdmit('t labels-get', 2, 1000, 1000)).toEqual({ admitted: true });
    expect(limiter.tryAdmit('t labels-get', 2, 1000, 1001)).toEqual({ admitted: false, retryAfterMs: 399 });
    expect([retryAfterSeconds(1), retryAfterSeconds(1000), retryAfterSeconds(1001), retryAfterSeconds(0)]).toEqual([1, 1, 2, 1]);
  });
});

describe('sandbox: failures and latency', () => {
  let sb: SandboxHandle;
  let token: string;
  beforeAll(async () => {
    sb = await sandbox();
    token = await login(sb);
  });

  it('answers injected failures count times, then recovers', async () => {
    sb.inject({ endpoint: 'labels-get', status: 503, count: 2, retryAfterSeconds: 7 });
    for (let i = 0; i < 2; i++) {
      const res = await get(sb, labelsPath, token);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('7');
      expect(((await res.json()) as { slug: string }).slug).toBe('service-unavailable');
    }
    // Other endpoints were never affected.
    expect((await get(sb, featureSetsPath, token)).status).toBe(200);
    expect((await get(sb, labelsPath, token)).status).toBe(200);
  });

  it('sends a custom body when given one', async () => {
    sb.inject({ endpoint: '*', status: 500, body: { slug: 'internal-server-error', message: 'boom' } });
    const res = await get(sb, featureSetsPath, token);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ slug: 'internal-server-error', message: 'boom' });
  });

  it('drops the connection without answering', async () => {
    sb.inject({ endpoint: 'labels-get', mode: 'drop-connection' });
    await expect(get(sb, labelsPath, token)).rejects.toThrow();
    expect(sb.counters().extra.droppedConnections).toBe(1);
    expect((await get(sb, labelsPath, token)).status).toBe(200);
  });

  it('after-processing does the work but reports failure', async () => {
    const tokensBefore = sb.state.tokens.size;
    const createdBefore = sb.counters().tokensCreated;
    sb.inject({ endpoint: 'token-create', status: 502, mode: 'after-processing' });
    const res = await requestToken(sb, { key_id: sb.credentials.keyId, api_key: sb.credentials.apiKey });
    expect(res.status).toBe(502);
    expect(((await res.json()) as { slug: string }).slug).toBe('bad-gateway');
    expect(sb.state.tokens.size).toBe(tokensBefore + 1);
    expect(sb.counters().tokensCreated).toBe(createdBefore + 1);
  });

  it('aims a failure at one request with after, and logs every request with its times', async () => {
    const from = sb.requests().length;
    sb.inject({ endpoint: 'labels-get', status: 429, retryAfterSeconds: 1, after: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i += 1) statuses.push((await get(sb, labelsPath, token)).status);
    expect(statuses).toEqual([200, 200, 429, 200]);
    const log = sb.requests().slice(from);
    expect(log.map((r) => [r.endpoint, r.status])).toEqual([
      ['labels-get', 200],
      ['labels-get', 200],
      ['labels-get', 429],
      ['labels-get', 200],
    ]);
    expect(log[2]!.retryAfter).toBe('1');
    for (const entry of log) expect(entry.answeredAt).toBeGreaterThanOrEqual(entry.receivedAt);
    // Over HTTP too, for scripts.
    const overHttp = (await (await fetch(`${sb.url}/__sandbox/requests`)).json()) as { requests: { status: number }[] };
    expect(overHttp.requests.slice(from).map((r) => r.status)).toEqual([200, 200, 429, 200]);
    expect(() => sb.inject({ endpoint: 'labels-get', after: -1 })).toThrow(/after must be/);
  });

  it('rejects injections for unknown endpoints', () => {
    expect(() => sb.inject({ endpoint: 'labels-gte' })).toThrow(/endpoint must be/);
  });

  it('applies failureRate to API endpoints but never to token-create', async () => {
    const other = await sandbox({ failureRate: 1 });
    const otherToken = await login(other);
    const res = await get(other, labelsPath, otherToken);
    expect(res.status).toBe(503);
    expect(((await res.json()) as { slug: string }).slug).toBe('service-unavailable');
  });

  it('adds latency before API responses', async () => {
    const slow = await sandbox({ latencyMs: 250 });
    const started = Date.now();
    const res = await get(slow, labelsPath);
    expect(res.status).toBe(401);
    expect(Date.now() - started).toBeGreaterThanOrEqual(240);
  });
});

describe('sandbox: routing and control endpoints', () => {
  let sb: SandboxHandle;
  beforeAll(async () => {
    sb = await sandbox();
  });

  it('answers unknown paths with a not-found slug and a request id', async () => {
    const res = await get(sb, '/clients/x/nothing-here');
    expect(res.status).toBe(404);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    expect(((await res.json()) as { slug: string }).slug).toBe('not-found');
    const wrongMethod = await fetch(`${sb.url}${labelsPath}`, { method: 'DELETE' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET');
  });

  it('serves counters, config, inject and reset over HTTP without counting them', async () => {
    await control(sb, 'reset', {});
    const token = await login(sb);
    await get(sb, labelsPath, token);

    const counters = await (await control(sb, 'counters')).json();
    expect(counters).toEqual({
      tokensCreated: 1,
      requests: { 'token-create': 1, 'labels-get': 1 },
      responses: { '200': 2 },
      rateLimited: 0,
      extra: {},
    });

    const config = await control(sb, 'config', { latencyMs: 5, rateLimits: { 'labels-get': { limit: 1, windowMs: 60_000 } } });
    expect(config.status).toBe(200);
    const knobs = (await config.json()) as { latencyMs: number; tokenQuota: number; rateLimits: Record<string, unknown> };
    expect(knobs.latencyMs).toBe(5);
    expect(knobs.tokenQuota).toBe(10);
    expect(knobs.rateLimits['labels-get']).toEqual({ limit: 1, windowMs: 60_000 });
    expect(knobs.rateLimits['cp-realtime-v2']).toEqual({ limit: 100, windowMs: 1000 });
    // Requests made before the limit existed are not held against it.
    expect((await get(sb, labelsPath, token)).status).toBe(200);
    expect((await get(sb, labelsPath, token)).status).toBe(429);

    const badConfig = await control(sb, 'config', { failureRate: 2 });
    expect(badConfig.status).toBe(400);
    expect(await badConfig.json()).toEqual({ slug: 'invalid-input', message: 'failureRate must be between 0 and 1' });
    expect((await control(sb, 'config', { latencyMS: 5 })).status).toBe(400);

    const inject = await control(sb, 'inject', { endpoint: 'feature-sets-get', status: 504 });
    expect(inject.status).toBe(200);
    expect((await get(sb, featureSetsPath, token)).status).toBe(504);
    expect((await control(sb, 'inject', { endpoint: 'nope' })).status).toBe(400);

    await control(sb, 'inject', { endpoint: 'feature-sets-get', status: 500 });
    const reset = await control(sb, 'reset', {});
    expect(reset.status).toBe(200);
    expect(sb.counters()).toEqual({ tokensCreated: 0, requests: {}, responses: {}, rateLimited: 0, extra: {} });
    // The injected failure was cleared by the reset.
    expect((await get(sb, featureSetsPath, token)).status).toBe(200);
    expect(sb.counters().requests).toEqual({ 'feature-sets-get': 1 });
  });

  it('describes itself with the URL, credentials and an export block', async () => {
    const text = describeSandbox(sb);
    expect(text).toContain(sb.url);
    expect(text).toContain(`export TCB_BASE_URL=${sb.url}`);
    expect(text).toContain(`export TCB_CLIENT_ACCOUNT_ID=${ACCOUNT}`);
    expect(text).toContain(`export TCB_KEY_ID=${sb.credentials.keyId}`);
    expect(text).toContain(`export TCB_API_KEY=${sb.credentials.apiKey}`);
    expect(text).toContain(sb.restrictedCredentials.keyId);
    expect(text).toContain('/__sandbox/counters');
  });

  it('closes cleanly and refuses connections afterwards', async () => {
    const temp = await startSandbox({ port: 0 });
    await temp.close();
    await temp.close(); // idempotent
    await expect(fetch(`${temp.url}/__sandbox/counters`)).rejects.toThrow();
  });
});
