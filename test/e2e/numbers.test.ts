// tcb numbers list / publish / delist, run as a child process (no TTY) against the sandbox.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorEnvelope, startHarness, tempDir, type Harness } from '../helpers/cli.js';
import { toNumberJson } from '../../src/sandbox/model.js';
import { numbersSandbox } from '../../src/sandbox/routes/numbers.js';

const PRIO1 = '069d2e3a-41e6-41f9-a768-157d7e3bd6b9';
const SUPPORT = '31b403a8-4d69-417c-ba06-31d25a2cd425';
const SALES = 'b0880853-8af3-4d70-977e-e589a5a0f694';

let h: Harness;
const files = tempDir('tcb-numbers-');

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
  files.cleanup();
});
beforeEach(async () => {
  await fetch(`${h.sandbox.url}/__sandbox/reset`, { method: 'POST' });
  numbersSandbox(h.sandbox.state).config.processingMs = 0;
});

function seeded() {
  return h.sandbox.state.numbers.map(toNumberJson);
}

function statusOf(phone: string): string | undefined {
  return h.sandbox.state.numbers.find((n) => n.phone_number === phone)?.status;
}

/** Fresh, valid, never-seen numbers (Indian mobile range 97…). */
let serial = 0;
function freshNumbers(count: number): string[] {
  const start = serial;
  serial += count;
  return Array.from({ length: count }, (_, i) => `9197${String(start + i).padStart(8, '0')}`);
}

describe('tcb numbers list', () => {
  it('--all equals the seeded data in json, ndjson, csv and table, page by page', async () => {
    const expected = seeded();
    const json = await h.run(['numbers', 'list', '--all', '--limit', '7', '--format', 'json']);
    expect(json.code).toBe(0);
    expect(JSON.parse(json.stdout)).toEqual(expected);
    expect(h.sandbox.counters().requests['numbers-details']).toBe(Math.ceil(expected.length / 7));

    const ndjson = await h.run(['numbers', 'list', '--all', '--limit', '7', '--format', 'ndjson']);
    expect(ndjson.code).toBe(0);
    expect(ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line))).toEqual(expected);

    const csv = await h.run(['numbers', 'list', '--all', '--format', 'csv']);
    expect(csv.code).toBe(0);
    const rows = parse(csv.stdout, { columns: true }) as Record<string, string>[];
    expect(rows).toEqual(expected.map((n) => Object.fromEntries(Object.entries(n).map(([k, v]) => [k, String(v)]))));

    const table = await h.run(['numbers', 'list', '--all', '--format', 'table']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/Number.*Status.*Feature set.*Label.*Call me back.*Updated/);
    for (const n of expected) expect(table.stdout).toContain(n.phone_number);
  });

  it('without --all prints one page', async () => {
    const result = await h.run(['numbers', 'list', '--limit', '5', '--page', '2']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual(seeded().slice(5, 10));
  });

  it('filters by a feature set given by name, and by department', async () => {
    const byName = await h.run(['numbers', 'list', '--all', '--feature-set', 'support callbacks']);
    expect(byName.code).toBe(0);
    const numbers = JSON.parse(byName.stdout) as { feature_set_name: string }[];
    expect(numbers).toHaveLength(seeded().filter((n) => n.feature_set_name === 'Support Callbacks').length);
    expect(new Set(numbers.map((n) => n.feature_set_name))).toEqual(new Set(['Support Callbacks']));

    const department = h.sandbox.state.featureSets.find((f) => f.id === SUPPORT)!.department_id;
    const byDepartment = await h.run(['numbers', 'list', '--all', '--department-id', department]);
    const names = new Set((JSON.parse(byDepartment.stdout) as { feature_set_name: string }[]).map((n) => n.feature_set_name));
    expect(names).toEqual(new Set(['Support Callbacks', 'Sales Outreach', 'Collections']));
  });

  it('exits 3 with the API message for a key without number-management access', async () => {
    const creds = h.sandbox.restrictedCredentials;
    const result = await h.run(['numbers', 'list'], { env: { TCB_KEY_ID: creds.keyId, TCB_API_KEY: creds.apiKey } });
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('');
    const error = errorEnvelope(result.stderr);
    expect(error.slug).toBe('forbidden-error');
    expect(error.http_status).toBe(403);
  });
});

describe('tcb numbers publish', () => {
  it('a mix of valid, invalid and foreign numbers → exit 6, the API buckets on stdout', async () => {
    const [fresh] = freshNumbers(1);
    const result = await h.run([
      'numbers', 'publish', '--feature-set', PRIO1,
      `+${fresh}`, '919810001000', '919810101000', '91123456789', '919000000001', '918000000001',
    ]);
    expect(result.code).toBe(6);
    const body = JSON.parse(result.stdout);
    expect(body).toMatchObject({
      status: 'pending',
      new_numbers: [fresh],
      existing_numbers: ['919810001000'],
      other_feature_set_numbers: ['919810101000'],
      invalid_numbers: ['91123456789'],
      others_numbers: ['919000000001'],
      other_phonetype_numbers: ['918000000001'],
    });
    const error = errorEnvelope(result.stderr);
    expect(error.code).toBe('partial_failure');
    expect(error.exit_code).toBe(6);
    // Accepted: the sandbox holds it, pending until a later request settles it.
    expect(statusOf(fresh!)).toBe('pending');
  });

  it('all accepted → exit 0; the table format shows a human summary', async () => {
    const numbers = freshNumbers(2);
    const result = await h.run(['numbers', 'publish', '--feature-set', SALES, '--format', 'table', ...numbers]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('new_numbers');
    expect(result.stdout).toContain('being listed');
    expect(result.stdout).toContain('2 numbers accepted');
  });

  it('invalid entries → exit 2 listing each with its source; nothing is sent', async () => {
    const result = await h.run(['numbers', 'publish', '--feature-set', PRIO1, '919810001000', '12-34', '--file', '-'], {
      input: 'phone_number\n919810001037\nnot a number\n',
    });
    expect(result.code).toBe(2);
    const error = errorEnvelope(result.stderr);
    expect(error.message).toContain('argument 2');
    expect(error.message).toContain('stdin:3');
    expect(h.sandbox.counters().requests).toEqual({});
  });

  it('reads a CSV file with a BOM and CRLF, and stdin one a line; duplicates are sent once', async () => {
    const numbers = freshNumbers(3);
    const file = path.join(files.dir, 'numbers.csv');
    writeFileSync(file, `\uFEFFname,phone_number\r\na,+${numbers[0]}\r\nb,"${numbers[1]!.slice(0, 4)} ${numbers[1]!.slice(4)}"\r\nc,${numbers[0]}\r\n`);
    const fromFile = await h.run(['numbers', 'publish', '--feature-set', PRIO1, '--file', file]);
    expect(fromFile.code).toBe(0);
    expect(JSON.parse(fromFile.stdout).new_numbers).toEqual([numbers[0], numbers[1]]);

    const fromStdin = await h.run(['numbers', 'publish', '--feature-set', PRIO1, '--file', '-'], {
      input: `${numbers[2]}\r\n\r\n${numbers[2]}\r\n`,
    });
    expect(fromStdin.code).toBe(0);
    expect(JSON.parse(fromStdin.stdout).new_numbers).toEqual([numbers[2]]);
    const extra = h.sandbox.counters().extra;
    expect(extra['numbers.publish.received']).toBe(3);
    expect(extra['numbers.publish.duplicates'] ?? 0).toBe(0);
  });

  it('resolves a feature set by name; an ambiguous or unknown name → exit 2 with the candidates, nothing sent', async () => {
    const [fresh] = freshNumbers(1);
    const ok = await h.run(['numbers', 'publish', '--feature-set', 'Sales Outreach', fresh!]);
    expect(ok.code).toBe(0);
    expect(h.sandbox.state.numbers.find((n) => n.phone_number === fresh)?.feature_set_id).toBe(SALES);

    const ambiguous = await h.run(['numbers', 'publish', '--feature-set', 'Collections', fresh!]);
    expect(ambiguous.code).toBe(2);
    const error = errorEnvelope(ambiguous.stderr);
    expect(error.message).toContain('75613e68-8c72-4125-8dd6-c207648aff57');
    expect(error.message).toContain('775294a1-46cf-408f-8641-3e1ce72bd620');

    const unknown = await h.run(['numbers', 'publish', '--feature-set', 'No Such Set', fresh!]);
    expect(unknown.code).toBe(2);
    expect(errorEnvelope(unknown.stderr).message).toContain('Sales Outreach');
    expect(h.sandbox.counters().requests['numbers-list']).toBe(1);
  });

  it('splits more than 10 000 numbers into requests of at most 10 000 and merges the responses', async () => {
    const numbers = freshNumbers(10_050);
    const file = path.join(files.dir, 'many.txt');
    writeFileSync(file, `${numbers.join('\n')}\n`);
    const result = await h.run(['numbers', 'publish', '--feature-set', PRIO1, '--file', file]);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body.new_numbers).toEqual(numbers);
    expect(body.request_count).toBe(2);
    expect(body.statuses).toEqual(['pending', 'pending']);
    expect(body.status).toBe('pending');
    const counters = h.sandbox.counters();
    expect(counters.requests['numbers-list']).toBe(2);
    expect(counters.extra['numbers.publish.received']).toBe(10_050);
    expect(counters.extra['numbers.publish.largestRequest']).toBe(10_000);
  });

  it('an unknown feature set id is the API\'s rejection: exit 4, the API message on stderr', async () => {
    const result = await h.run(['numbers', 'publish', '--feature-set', '00000000-0000-4000-8000-000000000000', '919812345678']);
    expect(result.code).toBe(4);
    expect(result.stdout).toBe('');
    expect(errorEnvelope(result.stderr)).toMatchObject({ http_status: 404, slug: 'not-found' });
  });

  it('--dry-run prints the requests and sends nothing', async () => {
    const numbers = freshNumbers(2);
    const result = await h.run(['numbers', 'publish', '--feature-set', PRIO1, '--dry-run', ...numbers, numbers[0]!]);
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan).toMatchObject({ dry_run: true, action: 'publish', number_count: 2, duplicates_removed: 1 });
    expect(plan.requests).toEqual([
      {
        endpoint: 'numbers-list',
        method: 'POST',
        path: `/clients/${h.sandbox.credentials.clientAccountId}/number_management/feature_sets/${PRIO1}/numbers/publish`,
        body: { phone_numbers: numbers },
      },
    ]);
    expect(h.sandbox.counters().requests['numbers-list']).toBeUndefined();
  });

  it('--wait polls numbers-details until every accepted number is listed', async () => {
    numbersSandbox(h.sandbox.state).config.processingMs = 400;
    const numbers = freshNumbers(2);
    const result = await h.run(['numbers', 'publish', '--feature-set', PRIO1, '--wait', '--interval', '1s', ...numbers]);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body.wait).toMatchObject({ target_status: 'listed', timed_out: false, pending: [], failed: [] });
    expect(body.wait.settled.sort()).toEqual([...numbers].sort());
    for (const n of numbers) expect(statusOf(n)).toBe('listed');
    expect(h.sandbox.counters().requests['numbers-details']).toBeGreaterThanOrEqual(1);
  });

  it('--wait gives up after --wait-timeout with exit 7, the result still on stdout', async () => {
    numbersSandbox(h.sandbox.state).config.processingMs = 600_000;
    const [fresh] = freshNumbers(1);
    const result = await h.run([
      'numbers', 'publish', '--feature-set', PRIO1, '--wait', '--interval', '1s', '--wait-timeout', '200ms', fresh!,
    ]);
    expect(result.code).toBe(7);
    const body = JSON.parse(result.stdout);
    expect(body.new_numbers).toEqual([fresh]);
    expect(body.wait).toMatchObject({ timed_out: true, pending: [{ phone_number: fresh, status: 'pending' }] });
    expect(errorEnvelope(result.stderr).code).toBe('wait_timeout');
  });

  it('a number still processing comes back in processing_numbers → exit 6', async () => {
    numbersSandbox(h.sandbox.state).config.processingMs = 600_000;
    const [fresh] = freshNumbers(1);
    expect((await h.run(['numbers', 'publish', '--feature-set', PRIO1, fresh!])).code).toBe(0);
    const again = await h.run(['numbers', 'publish', '--feature-set', PRIO1, fresh!, '--verbose']);
    expect(again.code).toBe(6);
    expect(JSON.parse(again.stdout).processing_numbers).toEqual([fresh]);
    expect(again.stderr).toMatch(/Warning: 1 number still being processed/);
  });
});

describe('tcb numbers delist', () => {
  it('without a TTY and without --yes → exit 2 and no request at all', async () => {
    const result = await h.run(['numbers', 'delist', '--feature-set', 'prio1', '919810001000']);
    expect(result.code).toBe(2);
    expect(errorEnvelope(result.stderr).message).toMatch(/--yes/);
    const counters = h.sandbox.counters();
    expect(counters.requests).toEqual({});
    expect(counters.tokensCreated).toBe(0);
    expect(statusOf('919810001000')).toBe('listed');
  });

  it('with --yes delists; numbers that were not listed → exit 6 with new_numbers', async () => {
    const result = await h.run(['numbers', 'delist', '--yes', '--feature-set', 'prio1', '919810001037', '919811112222']);
    expect(result.code).toBe(6);
    const body = JSON.parse(result.stdout);
    expect(body).toMatchObject({ status: 'pending', existing_numbers: ['919810001037'], new_numbers: ['919811112222'] });
    expect(errorEnvelope(result.stderr).code).toBe('partial_failure');
  });

  it('with --yes --wait waits until the numbers are delisted; csv shows the final state', async () => {
    numbersSandbox(h.sandbox.state).config.processingMs = 300;
    const result = await h.run([
      'numbers', 'delist', '--yes', '--feature-set', SUPPORT, '--wait', '--interval', '1s', '--format', 'csv',
      '919810501000', '919810501037',
    ]);
    expect(result.code).toBe(0);
    const rows = parse(result.stdout, { columns: true }) as Record<string, string>[];
    expect(rows).toEqual([
      { phone_number: '919810501000', bucket: 'existing_numbers', accepted: 'true', final_status: 'delisted' },
      { phone_number: '919810501037', bucket: 'existing_numbers', accepted: 'true', final_status: 'delisted' },
    ]);
    expect(statusOf('919810501000')).toBe('delisted');
  });

  it('--dry-run needs no --yes and sends nothing', async () => {
    const result = await h.run(['numbers', 'delist', '--feature-set', PRIO1, '--dry-run', '--format', 'ndjson', '919810001074']);
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ endpoint: 'numbers-delist', body: { phone_numbers: ['919810001074'] } });
    expect(h.sandbox.counters().requests['numbers-delist']).toBeUndefined();
    expect(statusOf('919810001074')).toBe('listed');
  });
});
