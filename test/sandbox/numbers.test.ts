// The sandbox's number-management endpoints, spoken to over HTTP like any client would.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxCredentials, type SandboxHandle } from '../../src/sandbox/server.js';
import { numbersSandbox } from '../../src/sandbox/routes/numbers.js';
import { toNumberJson } from '../../src/sandbox/model.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8'));

const PRIO1 = '069d2e3a-41e6-41f9-a768-157d7e3bd6b9';
const FS7 = '684de058-3d09-4b05-ba65-3612b5cf616b';

let sb: SandboxHandle;
let token: string;

async function login(creds: SandboxCredentials): Promise<string> {
  const res = await fetch(`${sb.url}/clients/${creds.clientAccountId}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Public-Access': 'allow' },
    body: JSON.stringify({ key_id: creds.keyId, api_key: creds.apiKey }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { token: string }).token;
}

function base(): string {
  return `${sb.url}/clients/${sb.credentials.clientAccountId}/number_management`;
}

async function details(query = '', bearer = token): Promise<{ status: number; body: any }> {
  const res = await fetch(`${base()}/numbers${query}`, { headers: { Authorization: `Bearer ${bearer}` } });
  return { status: res.status, body: await res.json() };
}

async function change(action: 'publish' | 'delist', featureSetId: string, body: unknown, bearer = token) {
  const res = await fetch(`${base()}/feature_sets/${featureSetId}/numbers/${action}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${bearer}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

beforeAll(async () => {
  sb = await startSandbox({ port: 0 });
  token = await login(sb.credentials);
});
afterAll(async () => {
  await sb.close();
});

describe('sandbox numbers-details', () => {
  it('pages the seeded numbers with a pagination_information envelope', async () => {
    const first = await details('?limit=25');
    expect(first.status).toBe(200);
    expect(Object.keys(first.body)).toEqual(['numbers', 'pagination_information']);
    const total = sb.state.numbers.length;
    expect(first.body.pagination_information).toEqual({ total_page_count: Math.ceil(total / 25) });
    const all: unknown[] = [];
    for (let page = 1; page <= first.body.pagination_information.total_page_count; page++) {
      all.push(...(await details(`?limit=25&page=${page}`)).body.numbers);
    }
    expect(all).toEqual(sb.state.numbers.map(toNumberJson));
  });

  it('has the documented fields, in the documented order', async () => {
    const documented = (fixture('numbers-details.response.200.json') as { numbers: object[] }).numbers[0]!;
    const { body } = await details('?limit=1');
    expect(Object.keys(body.numbers[0])).toEqual(Object.keys(documented));
  });

  it('filters by feature set, department, operation and process', async () => {
    const byFs = await details(`?feature_set_id=${FS7}`);
    expect(byFs.body.numbers).toHaveLength(6);
    const fs = sb.state.featureSets.find((f) => f.id === PRIO1)!;
    for (const [name, value] of [
      ['department_id', fs.department_id],
      ['operation_id', fs.operation_id],
      ['process_id', fs.parent_process_id!],
    ]) {
      const { body } = await details(`?${name}=${value}&limit=1000`);
      expect(body.numbers.length).toBeGreaterThan(0);
      expect(body.numbers.some((n: { feature_set_name: string }) => n.feature_set_name === 'prio1')).toBe(true);
    }
  });

  it('answers the documented 403 body to a key without number-management access', async () => {
    const restricted = await login(sb.restrictedCredentials);
    const res = await details('', restricted);
    expect(res.status).toBe(403);
    expect(res.body).toEqual(fixture('numbers-list.response.403-forbidden.json'));
    const publish = await change('publish', PRIO1, { phone_numbers: ['919812345678'] }, restricted);
    expect(publish.status).toBe(403);
    expect(publish.body).toEqual(fixture('numbers-list.response.403-forbidden.json'));
  });
});

describe('sandbox publish and delist', () => {
  it('validates the body: 1 to 10 000 strings, else a 400 invalid-input slug', async () => {
    for (const body of [{}, { phone_numbers: [] }, { phone_numbers: '919812345678' }, { phone_numbers: [919812345678] }]) {
      const res = await change('publish', PRIO1, body);
      expect(res.status).toBe(400);
      expect(res.body.slug).toBe('invalid-input');
    }
    const tooMany = Array.from({ length: 10_001 }, (_, i) => String(917000000000 + i));
    const res = await change('delist', PRIO1, { phone_numbers: tooMany });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ slug: 'invalid-input', message: 'phone_numbers must contain at most 10000 numbers' });
    expect(sb.counters().extra['numbers.delist.largestRequest']).toBeUndefined();
  });

  it('answers 404 for an unknown feature set', async () => {
    const res = await change('publish', '00000000-0000-4000-8000-000000000000', { phone_numbers: ['919812345678'] });
    expect(res.status).toBe(404);
  });

  it('sorts a publish into the documented buckets with the documented field order', async () => {
    const res = await change('publish', PRIO1, {
      phone_numbers: ['919812340001', '919810001000', '919810101000', '91123456789', '919000000001', '918000000001', '919812340001'],
    });
    expect(res.status).toBe(200);
    const documented = fixture('numbers-list.response.200-pending.json') as object;
    expect(Object.keys(res.body)).toEqual(Object.keys(documented));
    expect(res.body).toMatchObject({
      status: 'pending',
      phone_type: 'verified',
      new_numbers: ['919812340001'],
      existing_numbers: ['919810001000'],
      other_feature_set_numbers: ['919810101000'],
      invalid_numbers: ['91123456789'],
      others_numbers: ['919000000001'],
      other_phonetype_numbers: ['918000000001'],
      migrated_numbers: [],
      delisted_numbers: [],
      updated_numbers: [],
    });
    const extra = sb.counters().extra;
    expect(extra['numbers.publish.received']).toBe(7);
    expect(extra['numbers.publish.duplicates']).toBe(1);
  });

  it('keeps a change pending for the processing delay, reporting the number as processing meanwhile', async () => {
    const module = numbersSandbox(sb.state);
    module.config.processingMs = 60_000;
    const first = await change('publish', FS7, { phone_numbers: ['919812340002'] });
    expect(first.body.new_numbers).toEqual(['919812340002']);
    const listed = (await details(`?feature_set_id=${FS7}`)).body.numbers.find((n: any) => n.phone_number === '919812340002');
    expect(listed.status).toBe('pending');
    const again = await change('delist', FS7, { phone_numbers: ['919812340002'] });
    expect(again.body.processing_numbers).toEqual(['919812340002']);
    expect(again.body.status).toBe('failed');
    const relist = await change('publish', FS7, { phone_numbers: ['919812340002'] });
    expect(relist.body.processing_numbers).toEqual(['919812340002']);

    // Let it settle.
    module.inFlight.get('919812340002')!.settlesAt = 0;
    const after = (await details(`?feature_set_id=${FS7}`)).body.numbers.find((n: any) => n.phone_number === '919812340002');
    expect(after.status).toBe('listed');
  });

  it('shows a delist in progress as "delisting", so a reader can tell it from a pending listing', async () => {
    const module = numbersSandbox(sb.state);
    module.config.processingMs = 60_000;
    await change('delist', FS7, { phone_numbers: ['919810101185'] });
    const during = (await details(`?feature_set_id=${FS7}`)).body.numbers.find((n: any) => n.phone_number === '919810101185');
    expect(during.status).toBe('delisting');
    module.inFlight.get('919810101185')!.settlesAt = 0;
    const after = (await details(`?feature_set_id=${FS7}`)).body.numbers.find((n: any) => n.phone_number === '919810101185');
    expect(after.status).toBe('delisted');
  });

  it('delists: existing → pending → delisted; not listed → new_numbers with status failed', async () => {
    numbersSandbox(sb.state).config.processingMs = 0;
    const res = await change('delist', FS7, { phone_numbers: ['919810101037', '919812349999'] });
    const documented = fixture('numbers-delist.response.200-pending.json') as object;
    expect(Object.keys(res.body)).toEqual(Object.keys(documented));
    expect(res.body).toMatchObject({ status: 'pending', phone_type: '', existing_numbers: ['919810101037'], new_numbers: ['919812349999'] });
    const number = (await details(`?feature_set_id=${FS7}`)).body.numbers.find((n: any) => n.phone_number === '919810101037');
    expect(number.status).toBe('delisted');

    const failed = await change('delist', FS7, { phone_numbers: ['919810101037'] });
    expect(failed.body).toMatchObject({ status: 'failed', new_numbers: ['919810101037'], existing_numbers: [] });

    const back = await change('publish', FS7, { phone_numbers: ['919810101037'] });
    expect(back.body.delisted_numbers).toEqual(['919810101037']);
    expect(back.body.new_numbers).toEqual([]);
  });
});
