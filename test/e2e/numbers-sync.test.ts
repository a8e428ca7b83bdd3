// tcb numbers sync, run as a child process (no TTY) against the sandbox.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv, errorEnvelope, startHarness, tempDir, type Harness } from '../helpers/cli.js';
import { numbersSandbox } from '../../src/sandbox/routes/numbers.js';
import { seedState } from '../../src/sandbox/seed.js';

const PRIO1 = '069d2e3a-41e6-41f9-a768-157d7e3bd6b9';
const SUPPORT = '31b403a8-4d69-417c-ba06-31d25a2cd425';
/** The seeded numbers of prio1. */
const PRIO1_SEED = ['919810001000', '919810001037', '919810001074', '919810001111'];

let h: Harness;
const files = tempDir('tcb-numbers-sync-');

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
  files.cleanup();
});
beforeEach(async () => {
  await fetch(`${h.sandbox.url}/__sandbox/reset`, { method: 'POST' });
  // The control reset keeps the data: start each test from the seeded numbers.
  h.sandbox.state.numbers.splice(0, Infinity, ...seedState().numbers);
  numbersSandbox(h.sandbox.state).inFlight.clear();
  numbersSandbox(h.sandbox.state).config.processingMs = 0;
});

/** Fresh, valid, never-seen numbers (Indian mobile range 96…). */
let serial = 0;
function freshNumbers(count: number): string[] {
  const start = serial;
  serial += count;
  return Array.from({ length: count }, (_, i) => `9196${String(start + i).padStart(8, '0')}`);
}

function writeFile(name: string, text: string): string {
  const file = path.join(files.dir, name);
  writeFileSync(file, text);
  return file;
}

/** What the sandbox's feature set holds or is receiving (anything not delisted/delisting). */
function heldBy(featureSetId: string): string[] {
  return h.sandbox.state.numbers
    .filter((n) => n.feature_set_id === featureSetId && !/delist/.test(n.status))
    .map((n) => n.phone_number)
    .sort();
}

function changeRequests(): { publish: number; delist: number } {
  const requests = h.sandbox.counters().requests;
  return { publish: requests['numbers-list'] ?? 0, delist: requests['numbers-delist'] ?? 0 };
}

describe('tcb numbers sync', () => {
  it('plans publish, delist, unchanged and elsewhere from a CSV with + and spaces; --dry-run sends nothing', async () => {
    const fresh = freshNumbers(2);
    const csv = writeFile(
      'desired.csv',
      '\uFEFFname,phone_number\r\n' +
        'Desk A,+91 98100 01000\r\n' + // unchanged
        'Desk B,91-9810-001037\r\n' + // unchanged
        `New 1,+${fresh[0]}\r\n` +
        `New 2, ${fresh[1]!.slice(0, 6)} ${fresh[1]!.slice(6)} \r\n` +
        '\r\n' +
        'Support,+91 98105 01000\r\n' + // listed in "Support Callbacks"
        'Collections,919810201000\r\n' + // listed in one of two feature sets called "Collections"
        'Dup,+919810001000\r\n',
    );
    const result = await h.run(['numbers', 'sync', '--feature-set', 'prio1', '--file', csv, '--dry-run']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const plan = JSON.parse(result.stdout);
    expect(plan).toMatchObject({
      dry_run: true,
      feature_set: { id: PRIO1, name: 'prio1' },
      desired_count: 6,
      duplicates_removed: 1,
      current_count: 4,
      counts: { publish: 2, delist: 2, unchanged: 2, elsewhere: 2, kept: 0 },
      publish: fresh,
      delist: ['919810001074', '919810001111'],
      unchanged: ['919810001000', '919810001037'],
      kept: [],
    });
    expect(plan.elsewhere).toEqual([
      { phone_number: '919810501000', feature_set_id: SUPPORT, feature_set_name: 'Support Callbacks', status: 'listed' },
      // Two feature sets share the name: no single id to give.
      { phone_number: '919810201000', feature_set_id: null, feature_set_name: 'Collections', status: 'listed' },
    ]);
    expect(plan.applied).toBeUndefined();
    expect(changeRequests()).toEqual({ publish: 0, delist: 0 });
    expect(heldBy(PRIO1)).toEqual(PRIO1_SEED);
  });

  it('a plan that delists is refused without --yes and without a TTY: exit 2, nothing sent', async () => {
    const file = writeFile('refuse.txt', `${PRIO1_SEED[0]}\n${freshNumbers(1)[0]}\n`);
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    const error = errorEnvelope(result.stderr);
    expect(error.message).toContain('delists 3 numbers of the 4 in feature set "prio1"');
    expect(error.message).toContain('nothing was sent');
    expect(error.hint).toMatch(/--yes/);
    expect(changeRequests()).toEqual({ publish: 0, delist: 0 });
    expect(heldBy(PRIO1)).toEqual(PRIO1_SEED);
  });

  it('applies with --yes: the feature set then holds exactly the file; a second run sends nothing', async () => {
    const fresh = freshNumbers(3);
    const desired = [PRIO1_SEED[1]!, ...fresh];
    const file = writeFile('apply.txt', `# desired numbers\n${desired.map((n) => `+${n}`).join('\n')}\n`);
    const first = await h.run(['numbers', 'sync', '--feature-set', 'prio1', '--file', file, '--yes']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const body = JSON.parse(first.stdout);
    expect(body).toMatchObject({ dry_run: false, publish: fresh, delist: [PRIO1_SEED[0], PRIO1_SEED[2], PRIO1_SEED[3]] });
    expect(body.applied.publish).toMatchObject({ status: 'pending', new_numbers: fresh });
    expect(body.applied.delist).toMatchObject({ status: 'pending', existing_numbers: [PRIO1_SEED[0], PRIO1_SEED[2], PRIO1_SEED[3]] });
    expect(changeRequests()).toEqual({ publish: 1, delist: 1 });
    expect(heldBy(PRIO1)).toEqual([...desired].sort());
    // Other feature sets are untouched.
    expect(heldBy(SUPPORT)).toHaveLength(9);

    const second = await h.run(['numbers', 'sync', '--feature-set', 'prio1', '--file', file]);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ publish: [], delist: [], unchanged: desired, applied: { publish: null, delist: null } });
    expect(changeRequests()).toEqual({ publish: 1, delist: 1 });
  });

  it('counts pending changes where they are going: a rerun before they settle sends nothing', async () => {
    numbersSandbox(h.sandbox.state).config.processingMs = 600_000;
    const fresh = freshNumbers(2);
    const file = writeFile('pending.txt', [PRIO1_SEED[0], ...fresh].join('\n'));
    const first = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--yes']);
    expect(first.code).toBe(0);
    expect(h.sandbox.state.numbers.find((n) => n.phone_number === PRIO1_SEED[1])?.status).toBe('delisting');
    expect(h.sandbox.state.numbers.find((n) => n.phone_number === fresh[0])?.status).toBe('pending');

    const second = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--format', 'ndjson']);
    expect(second.code).toBe(0);
    const rows = second.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(rows).toEqual([PRIO1_SEED[0], ...fresh].map((phone_number) => ({ phone_number, action: 'unchanged' })));
    expect(changeRequests()).toEqual({ publish: 1, delist: 1 });
  });

  it('desired numbers held by another feature set are reported, not attempted: exit 6 with the rest applied', async () => {
    const [fresh] = freshNumbers(1);
    const file = writeFile('elsewhere.txt', [...PRIO1_SEED, fresh, '919810501000'].join('\n'));
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--format', 'csv']);
    expect(result.code).toBe(6);
    const rows = parse(result.stdout, { columns: true }) as Record<string, string>[];
    expect(rows.find((row) => row.phone_number === fresh)).toMatchObject({ action: 'publish', bucket: 'new_numbers', accepted: 'true' });
    expect(rows.find((row) => row.phone_number === '919810501000')).toMatchObject({
      action: 'elsewhere',
      bucket: '',
      other_feature_set_id: SUPPORT,
      other_feature_set_name: 'Support Callbacks',
    });
    const error = errorEnvelope(result.stderr);
    expect(error.code).toBe('partial_failure');
    expect(error.message).toContain('1 desired number is listed in another feature set');
    expect(h.sandbox.counters().extra['numbers.publish.received']).toBe(1);
    expect(h.sandbox.state.numbers.find((n) => n.phone_number === '919810501000')?.feature_set_id).toBe(SUPPORT);
  });

  it('numbers the API rejects make exit 6 with the buckets', async () => {
    const file = writeFile('rejected.txt', [...PRIO1_SEED, '919000000001'].join('\n'));
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file]);
    expect(result.code).toBe(6);
    expect(JSON.parse(result.stdout).applied.publish.others_numbers).toEqual(['919000000001']);
    expect(errorEnvelope(result.stderr).message).toContain('1 of 1 numbers not published (1 others_numbers, status "failed")');
  });

  it('never delists a number that numbers-details names as another feature set\'s, even when the filter returns it', async () => {
    // A server that ignores the feature_set_id filter, simulated: the filter now returns one of
    // "Sales Outreach"'s numbers for prio1, still named "Sales Outreach".
    h.sandbox.state.numbers.find((n) => n.phone_number === '919810601000')!.feature_set_id = PRIO1;
    const file = writeFile('foreign.txt', PRIO1_SEED.join('\n'));
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--yes', '--verbose']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ delist: [], unchanged: PRIO1_SEED, current_count: 4 });
    expect(result.stderr).toContain('numbers-details returned 1 number of other feature sets for this one; they are left alone');
    expect(changeRequests()).toEqual({ publish: 0, delist: 0 });
  });

  it('an invalid entry → exit 2 naming file:line, no request at all', async () => {
    const file = writeFile('invalid.csv', 'phone_number\n919810001000\n+91 98100 0100x\n');
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--yes']);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(errorEnvelope(result.stderr).message).toContain(`${file}:3`);
    expect(h.sandbox.counters().requests).toEqual({});
  });

  it('an empty desired list is refused (exit 2, no request); --allow-empty empties the feature set', async () => {
    for (const text of ['', '\n\n', 'phone_number\r\n', '# nothing yet\n']) {
      const file = writeFile('empty.csv', text);
      const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--yes']);
      expect(result.code).toBe(2);
      const error = errorEnvelope(result.stderr);
      expect(error.message).toContain('would delist every number');
      expect(error.hint).toContain('--allow-empty');
    }
    const stdin = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', '-', '--yes'], { input: '' });
    expect(stdin.code).toBe(2);
    expect(h.sandbox.counters().requests).toEqual({});

    const emptied = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', '-', '--yes', '--allow-empty'], { input: '' });
    expect(emptied.code).toBe(0);
    expect(JSON.parse(emptied.stdout).delist).toEqual(PRIO1_SEED);
    expect(heldBy(PRIO1)).toEqual([]);
  });

  it('--no-delist only adds: no confirmation needed, the other numbers are kept', async () => {
    const fresh = freshNumbers(1);
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', '-', '--no-delist'], { input: `${fresh[0]}\n` });
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body).toMatchObject({ publish: fresh, delist: [], kept: PRIO1_SEED, applied: { delist: null } });
    expect(changeRequests()).toEqual({ publish: 1, delist: 0 });
    expect(heldBy(PRIO1)).toEqual([...PRIO1_SEED, ...fresh].sort());
  });

  it('--interval under 1 s is refused before any request, like publish', async () => {
    const file = writeFile('interval.txt', PRIO1_SEED.join('\n'));
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--wait', '--interval', '100ms']);
    expect(result.code).toBe(2);
    expect(errorEnvelope(result.stderr).message).toContain('--interval must be at least 1s');
    expect(h.sandbox.counters().requests).toEqual({});
  });

  it('an unknown feature set id → exit 2 before reading any number', async () => {
    const file = writeFile('one.txt', '919810001000\n');
    const result = await h.run(['numbers', 'sync', '--feature-set', '00000000-0000-4000-8000-000000000000', '--file', file]);
    expect(result.code).toBe(2);
    expect(errorEnvelope(result.stderr).message).toContain('no feature set has the id');
    expect(h.sandbox.counters().requests['numbers-details']).toBeUndefined();
  });

  it('25 000 desired numbers: publish in requests of at most 10 000, then the feature set equals the list', async () => {
    const fresh = freshNumbers(25_000);
    const desired = [PRIO1_SEED[0]!, ...fresh];
    const file = writeFile('big.txt', `${desired.join('\n')}\n`);
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--yes', '--format', 'ndjson'], { timeoutMs: 120_000 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const counters = h.sandbox.counters();
    expect(changeRequests()).toEqual({ publish: 3, delist: 1 });
    expect(counters.extra['numbers.publish.received']).toBe(25_000);
    expect(counters.extra['numbers.publish.largestRequest']).toBe(10_000);
    expect(counters.extra['numbers.delist.received']).toBe(3);
    const rows = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(rows.filter((row) => row.action === 'publish' && row.bucket === 'new_numbers')).toHaveLength(25_000);
    expect(heldBy(PRIO1)).toEqual([...desired].sort());

    const again = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--yes'], { timeoutMs: 120_000 });
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout).counts).toEqual({ publish: 0, delist: 0, unchanged: 25_001, elsewhere: 0, kept: 0 });
    expect(changeRequests()).toEqual({ publish: 3, delist: 1 });
  });

  it('--wait waits for both changes to settle', async () => {
    numbersSandbox(h.sandbox.state).config.processingMs = 300;
    const fresh = freshNumbers(1);
    const file = writeFile('wait.txt', [PRIO1_SEED[0], ...fresh].join('\n'));
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--yes', '--wait', '--interval', '1s']);
    expect(result.code).toBe(0);
    const body = JSON.parse(result.stdout);
    expect(body.wait.publish).toMatchObject({ target_status: 'listed', settled: fresh, timed_out: false });
    expect(body.wait.delist).toMatchObject({ target_status: 'delisted', timed_out: false });
    expect(body.wait.delist.settled.sort()).toEqual(PRIO1_SEED.slice(1));
  });

  it('--wait gives up after --wait-timeout: exit 7, the result on stdout', async () => {
    numbersSandbox(h.sandbox.state).config.processingMs = 600_000;
    const file = writeFile('timeout.txt', PRIO1_SEED.join('\n') + `\n${freshNumbers(1)[0]}\n`);
    const result = await h.run(['numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--wait', '--interval', '1s', '--wait-timeout', '150ms']);
    expect(result.code).toBe(7);
    expect(JSON.parse(result.stdout).wait.publish).toMatchObject({ timed_out: true });
    expect(errorEnvelope(result.stderr).code).toBe('wait_timeout');
  });
});

describe('tcb numbers sync --wait, interrupted', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while waiting prints the plan, the API's answers and the interruption, exit 130`, async () => {
      numbersSandbox(h.sandbox.state).config.processingMs = 3_600_000;
      const fresh = freshNumbers(1);
      const file = writeFile(`interrupt-${signal}.txt`, [PRIO1_SEED[0], ...fresh].join('\n'));
      const child = spawn(
        process.execPath,
        [BIN, 'numbers', 'sync', '--feature-set', PRIO1, '--file', file, '--yes', '--wait', '--interval', '1s', '--verbose'],
        { cwd: ROOT, env: baseEnv(h.env), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
      // The --verbose HTTP log: a numbers-details poll answered after the delist was: waiting has begun.
      const waiting = new Promise<void>((resolve) => {
        child.stderr.setEncoding('utf8').on('data', (c) => {
          stderr += c;
          const delisted = stderr.search(/← 200 POST \S+\/numbers\/delist/);
          if (delisted !== -1 && /← 200 GET \S+\/number_management\/numbers/.test(stderr.slice(delisted))) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await waiting;
      child.kill(signal);
      expect(await exited).toBe(130);
      const body = JSON.parse(stdout);
      expect(body.applied.publish.new_numbers).toEqual(fresh);
      expect(body.applied.delist.existing_numbers).toEqual(PRIO1_SEED.slice(1));
      expect(body.wait.publish).toMatchObject({ interrupted: true, timed_out: false });
      const envelope = errorEnvelope(stderr);
      expect(envelope.code).toBe('interrupted');
      expect(envelope.message).toMatch(/interrupted while waiting/);
    });
  }
});
