// The small endpoint modules (token, labels, feature sets, numbers): the request each one sends
// and how it reads the documented answers. The client is a stand-in that records the spec and
// answers with a documented example, so these tests pin the paths, methods and envelopes.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { ApiClient, RequestSpec } from '../../src/api/client.js';
import { fetchFeatureSetsPage } from '../../src/api/feature-sets.js';
import { fetchLabelsPage, LABELS_DEFAULT_LIMIT } from '../../src/api/labels.js';
import { ACTION_ENDPOINT, changeNumbers, fetchNumbersPage, MAX_NUMBERS_PER_REQUEST, numbersChangePath } from '../../src/api/numbers.js';
import { createToken } from '../../src/api/token.js';
import { ApiError } from '../../src/errors.js';

const fixture = (name: string): unknown => JSON.parse(readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8'));

/** A client that records each request and answers `body` with `status`. */
function answering(body: unknown, status = 200): { client: ApiClient; specs: RequestSpec[] } {
  const specs: RequestSpec[] = [];
  const client = {
    async request(spec: RequestSpec) {
      specs.push(spec);
      return { status, body, headers: new Headers() };
    },
  } as unknown as ApiClient;
  return { client, specs };
}

const ACCOUNT = '91c173bb-28d8-4030-9722-8663ff9589f3';

describe('createToken', () => {
  const credentials = { clientAccountId: 'acc/1', keyId: 'aaaee1b1-7a2f-4c0b-8271-4e2b41c1bf01', apiKey: 'caf1694e-b8a4-4082-82fc-105a0a63eafe' };

  it('posts the key pair without a bearer token, with X-Public-Access, and returns the documented answer', async () => {
    const { client, specs } = answering(fixture('token-create.response.200.json'));
    expect(await createToken(client, credentials)).toEqual({
      token: 'a4p0pZ2x3aEk9TYGxPZldm0qvWQknTXTINPZxNpIZ32yWmiOFtGqv2mEU7nJlQO6',
      created_at: '2025-07-10T06:59:05.72Z',
    });
    expect(specs).toEqual([
      {
        endpoint: 'token-create',
        method: 'POST',
        path: '/clients/acc%2F1/token',
        auth: false,
        headers: { 'X-Public-Access': 'allow' },
        json: fixture('token-create.request.json'),
      },
    ]);
  });

  it('an answer without a created_at is stamped now', async () => {
    const before = Date.now();
    const issued = await createToken(answering({ token: 'tok', created_at: 17 }).client, credentials);
    expect(issued.token).toBe('tok');
    expect(Date.parse(issued.created_at)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(issued.created_at)).toBeLessThanOrEqual(Date.now());
  });

  it.each([[undefined], [{}], [{ token: '' }], [{ token: 42 }], ['a4p0pZ2x3aEk']])('an answer without a token (%j) is an ApiError (exit 4)', async (body) => {
    const error = await createToken(answering(body, 201).client, credentials).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ message: 'the token endpoint answered without a token', httpStatus: 201, exitCode: 4 });
  });
});

describe('fetchLabelsPage', () => {
  it('GETs labels-get with the query, reading the documented bare array', async () => {
    const { client, specs } = answering(fixture('labels-get.response.200.json'));
    const page = await fetchLabelsPage(client, 'a b', { page: 3, limit: 2 });
    expect(page.page).toBe(3);
    expect(page.totalPages).toBeUndefined();
    expect(page.items.map((label) => label.name)).toEqual(['FlowerEra', 'test-label-priority']);
    expect(specs).toEqual([{ endpoint: 'labels-get', method: 'GET', path: '/clients/a%20b/labels', query: { page: 3, limit: 2 } }]);
    expect(LABELS_DEFAULT_LIMIT).toBe(1000);
  });

  it('also reads a {labels: [...]} envelope; anything else is no labels; the page defaults to 1', async () => {
    const labels = [{ id: '1', name: 'x' }];
    expect(await fetchLabelsPage(answering({ labels }).client, ACCOUNT, {})).toEqual({ items: labels, page: 1 });
    expect(await fetchLabelsPage(answering({ labels: 'none' }).client, ACCOUNT, {})).toEqual({ items: [], page: 1 });
    expect(await fetchLabelsPage(answering(undefined).client, ACCOUNT, {})).toEqual({ items: [], page: 1 });
  });
});

describe('fetchFeatureSetsPage', () => {
  it('GETs feature-sets-get and reads the documented pagination_info', async () => {
    const { client, specs } = answering(fixture('feature-sets-get.response.200.json'));
    const page = await fetchFeatureSetsPage(client, ACCOUNT, { page: 5, status: 'draft' });
    expect(page.items.map((set) => set.name)).toEqual(['prio1', 'New Feature Set-7']);
    expect(page.items[0]!.id).toBe('069d2e3a-41e6-41f9-a768-157d7e3bd6b9');
    // The server's own page number wins over the one asked for.
    expect(page).toMatchObject({ totalPages: 2, page: 1 });
    expect(specs).toEqual([
      { endpoint: 'feature-sets-get', method: 'GET', path: `/clients/${ACCOUNT}/number_management/feature_sets`, query: { page: 5, status: 'draft' } },
    ]);
  });

  it('without pagination_info (or with odd values) the count is unknown and the page is the one asked for', async () => {
    expect(await fetchFeatureSetsPage(answering({ feature_sets: [] }).client, ACCOUNT, { page: 4 })).toEqual({ items: [], totalPages: undefined, page: 4 });
    const odd = { feature_sets: 'x', pagination_info: { total_page_count: '2', current_page: '1' } };
    expect(await fetchFeatureSetsPage(answering(odd).client, ACCOUNT, {})).toEqual({ items: [], totalPages: undefined, page: 1 });
    expect(await fetchFeatureSetsPage(answering(undefined).client, ACCOUNT, {})).toEqual({ items: [], totalPages: undefined, page: 1 });
  });
});

describe('numbers', () => {
  it('fetchNumbersPage GETs numbers-details with the signal and reads the documented pagination_information', async () => {
    const { client, specs } = answering(fixture('numbers-details.response.200.json'));
    const signal = new AbortController().signal;
    const page = await fetchNumbersPage(client, ACCOUNT, { page: 2, limit: 50, feature_set_id: 'fs' }, signal);
    expect(page.items.map((n) => n.phone_number)).toEqual(['918848628575230', '918735783247237']);
    // The documented envelope has no current_page: the page asked for.
    expect(page).toMatchObject({ totalPages: 8, page: 2 });
    expect(specs).toEqual([
      {
        endpoint: 'numbers-details',
        method: 'GET',
        path: `/clients/${ACCOUNT}/number_management/numbers`,
        query: { page: 2, limit: 50, feature_set_id: 'fs' },
        signal,
      },
    ]);
  });

  it('fetchNumbersPage also reads the feature-sets envelope, and survives an empty answer', async () => {
    const body = { numbers: [{ phone_number: '1' }], pagination_info: { total_page_count: 3, current_page: 2 } };
    expect(await fetchNumbersPage(answering(body).client, ACCOUNT, {})).toEqual({ items: [{ phone_number: '1' }], totalPages: 3, page: 2 });
    expect(await fetchNumbersPage(answering(undefined).client, ACCOUNT, {})).toEqual({ items: [], totalPages: undefined, page: 1 });
    const odd = { numbers: {}, pagination_information: { total_page_count: null, current_page: '2' } };
    expect(await fetchNumbersPage(answering(odd).client, ACCOUNT, { page: 6 })).toEqual({ items: [], totalPages: undefined, page: 6 });
  });

  it('changeNumbers POSTs the documented request to publish or delist and returns the answer as it came', async () => {
    const pending = fixture('numbers-list.response.200-pending.json');
    const { client, specs } = answering(pending);
    expect(await changeNumbers(client, ACCOUNT, 'fs/1', 'publish', ['911234567891'])).toEqual(pending);
    await changeNumbers(client, ACCOUNT, 'fs/1', 'delist', ['911234567891']);
    expect(specs).toEqual([
      {
        endpoint: 'numbers-list',
        method: 'POST',
        path: `/clients/${ACCOUNT}/number_management/feature_sets/fs%2F1/numbers/publish`,
        json: fixture('numbers-list.request.json'),
      },
      {
        endpoint: 'numbers-delist',
        method: 'POST',
        path: `/clients/${ACCOUNT}/number_management/feature_sets/fs%2F1/numbers/delist`,
        json: fixture('numbers-delist.request.json'),
      },
    ]);
    expect(ACTION_ENDPOINT).toEqual({ publish: 'numbers-list', delist: 'numbers-delist' });
    expect(numbersChangePath('a b', 'f', 'delist')).toBe('/clients/a%20b/number_management/feature_sets/f/numbers/delist');
    expect(MAX_NUMBERS_PER_REQUEST).toBe(10_000);
  });

  it.each([[undefined], [null], [['911234567891']], ['done']])('changeNumbers reads a non-object answer (%j) as an empty one', async (body) => {
    expect(await changeNumbers(answering(body).client, ACCOUNT, 'fs', 'publish', ['1'])).toEqual({});
  });
});
