// tcb api PATH, run as a child process (no TTY) against the sandbox.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorEnvelope, ROOT, startHarness, tempDir, type Harness } from '../helpers/cli.js';
import { toFeatureSetJson, toLabelJson, toNumberJson } from '../../src/sandbox/model.js';

const FLOWER_ERA = '255297eb-7f13-44f9-967a-f287ff0f5025';
const SUPPORT = '31b403a8-4d69-417c-ba06-31d25a2cd425';
const LABELS = '/clients/{client_account_id}/labels';

let h: Harness;
const files = tempDir('tcb-api-');

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
  files.cleanup();
});
beforeEach(async () => {
  await fetch(`${h.sandbox.url}/__sandbox/reset`, { method: 'POST' });
});

function cachedToken(): string {
  const tokens = JSON.parse(readFileSync(path.join(h.configDir, 'tokens.json'), 'utf8')) as Record<string, { token: string }>;
  return Object.values(tokens)[0]!.token;
}

describe('tcb api GET', () => {
  it('prints the body as compact JSON with the account id filled in, nothing on stderr', async () => {
    const result = await h.run(['api', LABELS]);
    expect(result.code).toBe(0);
    expect(result.stderr).toBe('');
    expect(result.stdout.trim().split('\n')).toHaveLength(1);
    expect(JSON.parse(result.stdout)).toEqual(h.sandbox.state.labels.slice(0, 1000).map(toLabelJson));
    expect(h.sandbox.counters().requests['labels-get']).toBe(1);
  });

  it('keeps the query string of PATH, and -f fields of a GET join it', async () => {
    const result = await h.run(['api', `${LABELS}?limit=2`, '-X', 'GET', '-f', 'page=2']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(h.sandbox.state.labels.slice(2, 4).map(toLabelJson));
  });

  it('--include writes the status line and headers on stderr; stdout stays the body', async () => {
    const result = await h.run(['api', `${LABELS}?limit=1`, '--include']);
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^HTTP\/1\.1 200 OK\n/);
    expect(result.stderr).toMatch(/\ncontent-type: application\/json; charset=utf-8\n/);
    expect(result.stderr).toMatch(/\nx-request-id: [0-9a-f-]{36}\n/);
    expect(JSON.parse(result.stdout)).toHaveLength(1);
  });

  it('goes through the same client: a refused token is renewed once and the request repeated', async () => {
    await h.run(['api', `${LABELS}?limit=1`]);
    const before = h.sandbox.counters().tokensCreated;
    h.sandbox.state.tokens.clear();
    const result = await h.run(['api', `${LABELS}?limit=1`]);
    expect(result.code).toBe(0);
    expect(h.sandbox.counters().tokensCreated).toBe(before + 1);
    expect(h.sandbox.counters().responses['401']).toBe(1);
  });

  it('retries a GET through an injected 503', async () => {
    h.sandbox.inject({ endpoint: 'labels-get', status: 503, count: 1, retryAfterSeconds: 0 });
    const result = await h.run(['api', `${LABELS}?limit=1`]);
    expect(result.code).toBe(0);
    expect(h.sandbox.counters().requests['labels-get']).toBe(2);
  });
});

describe('tcb api POST', () => {
  it('-f and -F build a JSON body (strings, literals, nesting, @file); POST is the default', async () => {
    const note = path.join(files.dir, 'note.txt');
    writeFileSync(note, 'two\nlines\n');
    const result = await h.run([
      'api', '/__sandbox/echo',
      '-f', 'id=007', '-F', 'count=7', '-F', 'ok=true', '-F', 'gone=null', '-F', 'ratio=0.5',
      '-f', 'numbers[]=911234567891', '-F', 'numbers[]=911234567892', '-f', 'a[b]=c', '-F', `note=@${note}`,
      '-H', 'X-Trace: abc',
    ]);
    expect(result.code).toBe(0);
    const echoed = JSON.parse(result.stdout);
    expect(echoed.method).toBe('POST');
    expect(echoed.headers['content-type']).toBe('application/json');
    expect(echoed.headers['x-trace']).toBe('abc');
    expect(JSON.parse(echoed.body)).toEqual({
      id: '007',
      count: 7,
      ok: true,
      gone: null,
      ratio: 0.5,
      numbers: ['911234567891', 911234567892],
      a: { b: 'c' },
      note: 'two\nlines\n',
    });
  });

  it('sends a real-time call reason built from fields (cp-realtime-v2)', async () => {
    const startsAt = Date.now() + 60_000;
    const result = await h.run([
      'api', '/v2/clients/{client_account_id}/dynamic_call_record',
      '-f', 'caller_number=911234567898', '-f', 'receiver_number=919234567898',
      '-F', `starts_at=${startsAt}`, '-F', `ends_at=${startsAt + 3_600_000}`,
      '-f', `label_id=${FLOWER_ERA}`, '-f', 'dynamic_call_reason=Flower Delivery today',
    ]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/api/cp-realtime-v2.response.200-success.json'), 'utf8')));
    expect(h.sandbox.counters().requests['cp-realtime-v2']).toBe(1);
  });

  it('--input sends a file byte for byte (publishes numbers), and - reads stdin', async () => {
    // The documented request's shape, with a number the sandbox has not seen.
    const documented = JSON.parse(readFileSync(path.join(ROOT, 'test/fixtures/api/numbers-list.request.json'), 'utf8'));
    const request = path.join(files.dir, 'publish.json');
    writeFileSync(request, JSON.stringify({ ...documented, phone_numbers: ['919700000777'] }, null, 2));
    const result = await h.run(['api', `/clients/{client_account_id}/number_management/feature_sets/${SUPPORT}/numbers/publish`, '--input', request]);
    expect(result.code).toBe(0);
    const answer = JSON.parse(result.stdout);
    expect(answer.new_numbers).toEqual(['919700000777']);
    expect(answer.status).toBe('pending');
    expect(h.sandbox.state.numbers.some((n) => n.phone_number === '919700000777')).toBe(true);

    const raw = '{ "id": 12345678901234567890,\r\n  "ratio": 1.0 }';
    const echoed = await h.run(['api', '/__sandbox/echo', '--input', '-', '-f', 'tag=x'], { input: raw });
    expect(echoed.code).toBe(0);
    const body = JSON.parse(echoed.stdout);
    expect(body.body).toBe(raw);
    expect(body.method).toBe('POST');
    expect(body.query).toEqual({ tag: 'x' });
  });

  it('does not resend a POST answered with a 500: exit 5, outcome unknown', async () => {
    h.sandbox.inject({ endpoint: 'cp-realtime-v2', status: 500, count: 1 });
    const result = await h.run(['api', '/v2/clients/{client_account_id}/dynamic_call_record', '-f', 'caller_number=1']);
    expect(result.code).toBe(5);
    expect(result.stdout).toBe('');
    expect(errorEnvelope(result.stderr)).toMatchObject({ http_status: 500 });
    expect(JSON.parse(result.stderr.trim().split('\n').pop()!).error.details.outcome).toBe('unknown');
    expect(h.sandbox.counters().requests['cp-realtime-v2']).toBe(1);
  });
});

describe('tcb api errors', () => {
  it('404: exit 4, nothing on stdout, the body in the JSON error envelope', async () => {
    const result = await h.run(['api', '/clients/{client_account_id}/no_such_thing']);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    const envelope = JSON.parse(result.stderr.trim()).error;
    expect(envelope).toMatchObject({ code: 'api_error', http_status: 404, slug: 'not-found', exit_code: 4 });
    expect(envelope.details.body).toEqual({ slug: 'not-found', message: expect.stringMatching(/^no such endpoint: GET \/clients\/[^/]+\/no_such_thing$/) });
  });

  it('a validation error keeps the API body whole (status_info envelope), exit 4', async () => {
    const result = await h.run([
      'api', '/v2/clients/{client_account_id}/dynamic_call_record',
      '-f', 'caller_number=911234567898', '-f', 'receiver_number=919234567898', '-F', 'starts_at=1000', '-F', 'ends_at=2000',
      '-f', `label_id=${FLOWER_ERA}`,
    ]);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    const envelope = errorEnvelope(result.stderr) as unknown as { field: string; details: { body: { status_info: { status: string } } } };
    expect(envelope.field).toBe('ends_at');
    expect(envelope.details.body.status_info.status).toBe('error');
  });

  it('403 for a key without the access level: exit 3', async () => {
    const result = await h.run(['api', LABELS], {
      env: { TCB_KEY_ID: h.sandbox.restrictedCredentials.keyId, TCB_API_KEY: h.sandbox.restrictedCredentials.apiKey, TCB_CONFIG_DIR: files.dir },
    });
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    expect(errorEnvelope(result.stderr)).toMatchObject({ http_status: 403, slug: 'forbidden-error' });
  });

  it('bad input is exit 2 naming the problem, with nothing sent', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['api', LABELS, '-H', 'Authorization: Bearer mine'], /-H Authorization cannot be given/],
      [['api', LABELS, '-f', 'a=1', '-f', 'a=2'], /-f a=2: a is already set/],
      [['api', LABELS, '-F', `x=@${files.dir}`], /-F x=@.*: cannot read .*: is a directory/],
      [['api', LABELS, '--input', path.join(files.dir, 'missing.json')], /--input: cannot read .*missing\.json: no such file/],
      [['api', LABELS, '-X', 'GET', '--input', '-'], /a GET request cannot carry/],
      [['api', '/clients/{featureSetId}'], /PATH has \{featureSetId\}/],
      [['api', 'http://127.0.0.2:9/clients'], /not below the base URL/],
      [['api', LABELS, '--paginate', '-X', 'POST'], /--paginate follows the pages of a list with GET/],
      [['api', LABELS, '--format', 'csv'], /--format csv does not apply/],
      [['api', LABELS, '-X', 'TRACE'], /--method "TRACE" is not one of/],
    ];
    for (const [args, message] of cases) {
      const result = await h.run(args);
      expect(result.code, args.join(' ')).toBe(2);
      expect(result.stdout).toBe('');
      expect(errorEnvelope(result.stderr).message).toMatch(message);
    }
    const counters = h.sandbox.counters();
    expect(counters.requests).toEqual({});
  });
});

describe('tcb api --paginate', () => {
  it('follows page on a bare-array list until a short page and prints one array', async () => {
    const labels = h.sandbox.state.labels.map(toLabelJson);
    const result = await h.run(['api', `${LABELS}?limit=2`, '--paginate']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(labels);
    expect(h.sandbox.counters().requests['labels-get']).toBe(Math.floor(labels.length / 2) + 1);
  });

  it('stops at the page count of an envelope; ndjson prints one item a line', async () => {
    const featureSets = h.sandbox.state.featureSets.map(toFeatureSetJson);
    const json = await h.run(['api', '/clients/{client_account_id}/number_management/feature_sets?limit=3', '--paginate']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(featureSets);
    expect(h.sandbox.counters().requests['feature-sets-get']).toBe(Math.ceil(featureSets.length / 3));

    const ndjson = await h.run(['api', '/clients/{client_account_id}/number_management/numbers', '-f', 'limit=25', '--paginate', '--format', 'ndjson']);
    expect(ndjson.code).toBe(0);
    // Read after the run: a request settles numbers whose publish has finished.
    const numbers = h.sandbox.state.numbers.map(toNumberJson);
    expect(ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual(numbers);
  });

  it('a failure on a later page leaves stdout empty (JSON) and exits with its class', async () => {
    h.sandbox.inject({ endpoint: 'labels-get', status: 400, count: 1, after: 1 });
    const result = await h.run(['api', `${LABELS}?limit=2`, '--paginate']);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(h.sandbox.counters().requests['labels-get']).toBe(2);
  });
});

describe('tcb api --verbose', () => {
  it('logs request and response headers with the token redacted, even where the server echoes it bare', async () => {
    const result = await h.run(['api', '/__sandbox/echo', '--verbose', '--include']);
    expect(result.code).toBe(0);
    const token = cachedToken();
    // The secret really was handed to tcb: the echoed request on stdout (data) carries it ...
    expect(JSON.parse(result.stdout).headers.authorization).toBe(`Bearer ${token}`);
    // ... and stderr shows where it came back, without it.
    expect(result.stderr).toMatch(/> authorization: Bearer \[REDACTED\]/);
    expect(result.stderr).toMatch(/< x-echo-token: \[REDACTED\]/);
    expect(result.stderr).toMatch(/\nx-echo-token: \[REDACTED\]\n/);
    expect(result.stderr).not.toContain(token);
    expect(result.stderr).not.toContain(h.sandbox.credentials.apiKey);
  });

  it('an error body that carries a secret is redacted in the envelope', async () => {
    const secret = h.sandbox.credentials.apiKey;
    h.sandbox.inject({ endpoint: 'labels-get', status: 400, count: 1, body: { slug: 'invalid-input', message: `bad key ${secret}` } });
    const result = await h.run(['api', LABELS, '--verbose']);
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('bad key [REDACTED]');
    expect(result.stderr).not.toContain(secret);
  });
});
