// The promises `tcb call-reason upload` makes that a quiet regression would break: the journal
// records a batch before its POST leaves, the default batch size is the API's 500, and 429/503
// answers are retried (and slow the limiter down) without sending a record twice.
// Timing never decides an outcome: requests are held at the sandbox and failures are planned by
// request number.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv, errorEnvelope, startHarness, tempDir, type Harness } from '../helpers/cli.js';
import { journalEntries, rows, writeCsv } from '../helpers/upload.js';
import { callReasonSandbox } from '../../src/sandbox/routes/call-reasons.js';
import type { SandboxOptions } from '../../src/sandbox/types.js';

let harness: Harness | undefined;
let dirs: { cleanup: () => void }[] = [];

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  for (const d of dirs) d.cleanup();
  dirs = [];
});

async function start(options: SandboxOptions = {}): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

function workDir(): string {
  const d = tempDir('tcb-upload-');
  dirs.push(d);
  return d.dir;
}

const batchPosts = (h: Harness) => h.sandbox.counters().requests['cp-batch-v2'] ?? 0;
const received = (h: Harness) => h.sandbox.counters().extra.recordsReceived ?? 0;
const duplicates = (h: Harness) => h.sandbox.counters().extra.duplicateRecordsReceived ?? 0;

describe('tcb call-reason upload: exactly once across a crash', () => {
  it('journals a batch as "sending" before its POST leaves: after kill -9 mid-request, --resume calls it uncertain and sends nothing; --resend-uncertain sends it', async () => {
    const h = await start();
    const file = writeCsv(workDir(), 'calls.csv', rows(10));
    // The API receives the POST and never answers it.
    const hold = h.sandbox.hold({ endpoint: 'cp-batch-v2' });
    const child = spawn(process.execPath, [BIN, 'call-reason', 'upload', file, '--json'], { cwd: ROOT, env: baseEnv(h.env), stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await hold.whenArrived(1);
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');

    const batches = journalEntries(h.configDir).filter((entry) => entry.type === 'batch');
    expect(batches).toEqual([expect.objectContaining({ seq: 1, state: 'sending', first_line: 2, last_line: 11, records: 10 })]);
    expect(batchPosts(h)).toBe(1);
    expect(received(h)).toBe(0);

    const resumed = await h.run(['call-reason', 'upload', file, '--resume', '--json']);
    expect(resumed.code).toBe(5);
    const envelope = errorEnvelope(resumed.stderr);
    expect(envelope.code).toBe('uncertain_batches');
    expect(envelope.message).toBe('10 records in 1 batch(es) may or may not have been accepted (lines 2-11); they were not resent');
    expect(envelope.hint).toContain('--resume --resend-uncertain');
    expect(JSON.parse(resumed.stdout)).toMatchObject({
      records_sent: 0,
      records_accepted: 0,
      records_uncertain: 10,
      outcome: 'uncertain',
      uncertain: [{ seq: 1, lines: '2-11', records: 10 }],
    });
    expect(batchPosts(h)).toBe(1);

    const resent = await h.run(['call-reason', 'upload', file, '--resume', '--resend-uncertain', '--json']);
    expect(resent.stderr).toBe('');
    expect(resent.code).toBe(0);
    expect(JSON.parse(resent.stdout)).toMatchObject({ records_sent: 10, records_accepted: 10, records_uncertain: 0, outcome: 'complete' });
    expect(batchPosts(h)).toBe(2);
    // The held request was never processed (its client died), so the resend is its only copy.
    expect(received(h)).toBe(10);
    expect(duplicates(h)).toBe(0);
  });
});

describe('tcb call-reason upload: batch size', () => {
  it('sends 501 rows, with no --batch-size, as a batch of 500 and a batch of 1 (the sandbox, like the API, refuses more than 500)', async () => {
    const h = await start();
    const file = writeCsv(workDir(), 'big.csv', rows(501));
    const result = await h.run(['call-reason', 'upload', file, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ batch_size: 500, batches_sent: 2, records_accepted: 501 });
    expect(summary.batches.map((b: { lines: string; records: number }) => [b.lines, b.records])).toEqual([
      ['2-501', 500],
      ['502', 1],
    ]);
    const sizes = [...callReasonSandbox(h.sandbox.state).batches.values()].map((b) => b.records.length);
    expect(sizes.sort((a, b) => b - a)).toEqual([500, 1]);
  });
});

describe('tcb call-reason upload: 429 and 503 mid-upload', () => {
  it('retries them, slows its limiter down at each 429, and delivers every record exactly once', async () => {
    // The sandbox's own limit is out of the way: only the planned failures answer 429.
    const h = await start({ rateLimits: { 'cp-batch-v2': { limit: 10_000, windowMs: 1000 } } });
    const file = writeCsv(workDir(), 'many.csv', rows(400));
    // Requests 4 and 5 get a 429, the three after them a 503: the upload is under way, whatever the machine's speed.
    h.sandbox.inject({ endpoint: 'cp-batch-v2', status: 429, count: 2, retryAfterSeconds: 1, after: 3 });
    h.sandbox.inject({ endpoint: 'cp-batch-v2', status: 503, count: 3, after: 3 });
    const result = await h.run(['call-reason', 'upload', file, '--rate-limit', '50/s', '--batch-size', '10', '--json', '--verbose']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ records_accepted: 400, batches_sent: 40, outcome: 'complete' });
    const counters = h.sandbox.counters();
    expect(counters.responses['429']).toBe(2);
    expect(counters.responses['503']).toBe(3);
    expect(batchPosts(h)).toBe(45);
    expect(received(h)).toBe(400);
    expect(duplicates(h)).toBe(0);

    // Each 429 widened the limiter's spacing by a quarter: 50/s × 1.01 margin = 2970.3/min before the first.
    const slowdowns = [...result.stderr.matchAll(/slowing cp-batch-v2 from ([\d.]+) to ([\d.]+) requests\/min/g)].map((m) => [
      Number(m[1]),
      Number(m[2]),
    ]);
    expect(slowdowns).toHaveLength(2);
    expect(slowdowns[0]).toEqual([2970.3, 2376.2]);
    for (const [from, to] of slowdowns) expect(to! / from!).toBeCloseTo(0.8, 3);
  });
});
