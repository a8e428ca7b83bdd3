// tcb call-reason stream, run as a child process against the sandbox, fed through a pipe the test
// keeps open or closes. No test waits on the clock: each waits for an acknowledgement or a report.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv, errorEnvelope, startHarness, tempDir, type Harness } from '../helpers/cli.js';
import { callReasonSandbox } from '../../src/sandbox/routes/call-reasons.js';

const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
/** A valid UUID that is no label of the sandbox's account: the API (not tcb) rejects it. */
const UNKNOWN_LABEL = '00000000-0000-4000-8000-000000000000';

let h: Harness;
const files = tempDir('tcb-stream-');

beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
  files.cleanup();
});
beforeEach(async () => {
  await fetch(`${h.sandbox.url}/__sandbox/reset`, { method: 'POST' });
  const module = callReasonSandbox(h.sandbox.state);
  module.batches.clear();
  module.seen.clear();
  module.realtime.length = 0;
  // Fast enough that tests do not wait on the documented 60/min; tcb is told the same limit.
  await configure({ rateLimits: { 'cp-batch-v2': { limit: 6000, windowMs: 60_000 } } });
});

async function configure(patch: object): Promise<void> {
  const response = await fetch(`${h.sandbox.url}/__sandbox/config`, { method: 'POST', body: JSON.stringify(patch) });
  expect(response.status).toBe(200);
}

async function inject(failure: object): Promise<void> {
  const response = await fetch(`${h.sandbox.url}/__sandbox/inject`, { method: 'POST', body: JSON.stringify(failure) });
  expect(response.status).toBe(200);
}

/** Line n's record: its receiver number names the line, so the sandbox's records map back to lines. */
function receiverFor(line: number): string {
  return `9170${String(line).padStart(8, '0')}`;
}
function record(line: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ caller_number: '911234567890', receiver_number: receiverFor(line), label_id: LABEL, ...extra });
}

/** Lines whose records the sandbox received (batch and realtime), with repeats. */
function receivedLines(): number[] {
  const module = callReasonSandbox(h.sandbox.state);
  const records = [...[...module.batches.values()].flatMap((batch) => batch.records), ...module.realtime];
  return records.map((r) => Number(r.receiver.slice(4))).sort((a, b) => a - b);
}

type Ack = Record<string, unknown> & { status: string };

interface Running {
  child: ChildProcessWithoutNullStreams;
  acks: Ack[];
  stderrLines: string[];
  write(text: string): void;
  end(): void;
  /** Resolves once an acknowledgement matching `predicate` is on stdout. */
  ack(predicate?: (ack: Ack) => boolean): Promise<Ack>;
  /** Resolves once a stderr line matching `predicate` is there. */
  stderr(predicate: (line: string) => boolean): Promise<string>;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
}

/** The built CLI with a pipe on stdin that stays open until end(). */
function startStream(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [BIN, 'call-reason', 'stream', ...args], {
    cwd: ROOT,
    env: baseEnv({ ...h.env, ...env }),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const acks: Ack[] = [];
  const stderrLines: string[] = [];
  const waiters: (() => void)[] = [];
  const notify = () => waiters.splice(0).forEach((wake) => wake());
  let stdoutRest = '';
  let stderrRest = '';
  let stderrAll = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (stdoutRest + chunk).split('\n');
    stdoutRest = parts.pop()!;
    for (const part of parts) acks.push(JSON.parse(part) as Ack);
    notify();
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderrAll += chunk;
    const parts = (stderrRest + chunk).split('\n');
    stderrRest = parts.pop()!;
    stderrLines.push(...parts);
    notify();
  });
  child.stdin.on('error', () => {});
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) =>
    child.on('close', (code, signal) => {
      notify();
      resolve({ code, signal, stderr: stderrAll });
    }),
  );
  const until = <T>(find: () => T | undefined): Promise<T> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const found = find();
        if (found !== undefined) resolve(found);
        else if (child.exitCode !== null || child.signalCode !== null) reject(new Error(`tcb exited first:\n${stderrAll}`));
        else waiters.push(check);
      };
      check();
    });
  return {
    child,
    acks,
    stderrLines,
    write: (text) => child.stdin.write(text),
    end: () => child.stdin.end(),
    ack: (predicate = () => true) => until(() => acks.find(predicate)),
    stderr: (predicate) => until(() => stderrLines.find(predicate)),
    exit,
  };
}

const FAST = ['--rate-limit', '6000/min', '--duration', '2h'];

/** Every accepted line is covered by exactly one accepted ack, whose count matches its valid lines. */
function expectAcksCover(acks: Ack[], valid: readonly number[]): void {
  const accepted = acks.filter((ack) => ack.status === 'accepted');
  const validSet = new Set(valid);
  let covered = 0;
  for (const ack of accepted) {
    const inRange = valid.filter((line) => line >= (ack.first_line as number) && line <= (ack.last_line as number));
    expect(ack.records).toBe(inRange.length);
    expect(typeof ack.batch_id).toBe('string');
    expect(validSet.has(ack.first_line as number) && validSet.has(ack.last_line as number)).toBe(true);
    covered += inRange.length;
  }
  expect(covered).toBe(valid.length);
}

describe('tcb call-reason stream', () => {
  it('2 000 lines, some invalid: every valid record received once, acks cover them, the invalid lines reported', async () => {
    const invalid = new Map<number, string>();
    const lines: string[] = [];
    for (let line = 1; line <= 2000; line += 1) {
      if (line % 97 === 0) {
        const kind = (line / 97) % 4;
        const text = [
          '{"caller_number": "911234567890", oops',
          record(line, { receiver_number: '12' }),
          record(line, { dynamic_call_reason: 'Bad <script> reason' }),
          '[1, 2, 3]',
        ][kind]!;
        invalid.set(line, text);
        lines.push(text);
      } else if (line % 250 === 0) {
        // v1 field names, a "+" and spaces, and a CRLF line end are all fine.
        lines.push(`{"caller":"+91 12345 67890","receiver":"${receiverFor(line)}","label_id":"${LABEL}"}\r`);
      } else {
        lines.push(record(line));
      }
    }
    const input = path.join(files.dir, 'two-thousand.ndjson');
    writeFileSync(input, `${lines.join('\n')}\n`);
    const rejects = path.join(files.dir, 'rejects.ndjson');
    const result = await h.run(['call-reason', 'stream', input, ...FAST, '--reject-file', rejects], { timeoutMs: 120_000 });
    expect(result.code).toBe(6);

    const valid = Array.from({ length: 2000 }, (_, i) => i + 1).filter((line) => !invalid.has(line));
    expect(receivedLines()).toEqual(valid);
    expect(h.sandbox.counters().extra.duplicateRecordsReceived).toBeUndefined();
    const acks = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as Ack);
    expect(acks.every((ack) => ack.status === 'accepted')).toBe(true);
    expectAcksCover(acks, valid);

    const reported = result.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
      .filter((line) => line.status === 'rejected');
    expect(reported.map((r) => r.line)).toEqual([...invalid.keys()]);
    expect(reported[0].error).toMatch(/receiver_number/);
    expect(reported[1].error).toMatch(/special character/);
    expect(reported[2].error).toBe('not a JSON object');
    const fileRejects = readFileSync(rejects, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(fileRejects.map((r) => [r.line, r.input])).toEqual([...invalid.entries()]);
    expect(errorEnvelope(result.stderr)).toMatchObject({ code: 'partial_failure', exit_code: 6 });
  });

  it('an open pipe with one record: it is sent and acknowledged while stdin is still open', async () => {
    const run = startStream([...FAST, '--max-latency', '100ms']);
    run.write(`${record(1)}\n`);
    const ack = await run.ack();
    expect(run.child.stdin.writableEnded).toBe(false);
    expect(ack).toMatchObject({ status: 'accepted', first_line: 1, last_line: 1, records: 1 });
    expect(receivedLines()).toEqual([1]);
    run.end();
    expect((await run.exit).code).toBe(0);
  });

  it('end of input sends what is buffered before the latency bound, then exits 0', async () => {
    const run = startStream([...FAST, '--max-latency', '1h']);
    run.write([record(1), record(2), '', record(4)].join('\n'));
    run.end();
    const exit = await run.exit;
    expect(exit.code).toBe(0);
    expect(run.acks).toEqual([expect.objectContaining({ status: 'accepted', first_line: 1, last_line: 4, records: 3 })]);
    expect(receivedLines()).toEqual([1, 2, 4]);
  });

  it('SIGTERM stops reading, sends the buffered records and exits 0', async () => {
    const run = startStream([...FAST, '--max-latency', '1h']);
    run.write(`${record(1)}\n${record(2)}\n${record(3)}\nnot json\n`);
    // The report of line 4 proves lines 1-3 were read (and are buffered: the batch is not due for an hour).
    await run.stderr((line) => line.includes('"line":4'));
    expect(run.acks).toEqual([]);
    run.child.kill('SIGTERM');
    const exit = await run.exit;
    expect(exit.code).toBe(0);
    expect(run.acks).toEqual([expect.objectContaining({ status: 'accepted', first_line: 1, last_line: 3, records: 3 })]);
    expect(receivedLines()).toEqual([1, 2, 3]);
  });

  it('Ctrl-C (SIGINT) also sends the buffered records, and exits 130', async () => {
    const run = startStream([...FAST, '--max-latency', '1h']);
    run.write(`${record(1)}\nnot json\n`);
    await run.stderr((line) => line.includes('"line":2'));
    run.child.kill('SIGINT');
    const exit = await run.exit;
    expect(exit.code).toBe(130);
    expect(run.acks).toEqual([expect.objectContaining({ status: 'accepted', records: 1 })]);
    expect(receivedLines()).toEqual([1]);
  });

  it('429 with Retry-After during the stream: retried, nothing received twice', async () => {
    await inject({ endpoint: 'cp-batch-v2', status: 429, count: 2, retryAfterSeconds: 1 });
    const lines = Array.from({ length: 1200 }, (_, i) => record(i + 1));
    const result = await h.run(['call-reason', 'stream', ...FAST, '--batch-size', '100'], { input: `${lines.join('\n')}\n`, timeoutMs: 120_000 });
    expect(result.code).toBe(0);
    const counters = h.sandbox.counters();
    expect(counters.rateLimited).toBe(2);
    expect(counters.extra.duplicateRecordsReceived).toBeUndefined();
    expect(receivedLines()).toEqual(Array.from({ length: 1200 }, (_, i) => i + 1));
    expectAcksCover(result.stdout.trim().split('\n').map((line) => JSON.parse(line)), Array.from({ length: 1200 }, (_, i) => i + 1));
  });

  it('a token that expires during the stream is replaced; nothing is lost or repeated', async () => {
    const run = startStream([...FAST, '--batch-size', '2']);
    run.write(`${record(1)}\n${record(2)}\n`);
    await run.ack((ack) => ack.first_line === 1);
    // The token may come from the cache of an earlier test: count from here.
    const tokensBefore = h.sandbox.counters().tokensCreated;
    for (const token of h.sandbox.state.tokens.values()) token.expiresAt = 0;
    run.write(`${record(3)}\n${record(4)}\n`);
    await run.ack((ack) => ack.first_line === 3);
    run.end();
    expect((await run.exit).code).toBe(0);
    expect(h.sandbox.counters().tokensCreated).toBe(tokensBefore + 1);
    expect(h.sandbox.counters().responses['401']).toBe(1);
    expect(receivedLines()).toEqual([1, 2, 3, 4]);
    expect(run.acks.map((ack) => ack.status)).toEqual(['accepted', 'accepted']);
  });

  it('a batch whose outcome is unknown (500 after processing) is reported uncertain and never resent', async () => {
    await inject({ endpoint: 'cp-batch-v2', status: 500, mode: 'after-processing', count: 1 });
    const run = startStream([...FAST, '--batch-size', '2']);
    run.write(`${record(1)}\n${record(2)}\n`);
    const uncertain = await run.ack();
    expect(uncertain).toMatchObject({ status: 'uncertain', first_line: 1, last_line: 2, records: 2 });
    const onStderr = await run.stderr((line) => line.includes('"uncertain"'));
    expect(JSON.parse(onStderr)).toMatchObject({ status: 'uncertain', first_line: 1, last_line: 2 });
    run.write(`${record(3)}\n${record(4)}\n`);
    await run.ack((ack) => ack.first_line === 3);
    run.end();
    const exit = await run.exit;
    expect(exit.code).toBe(6);
    expect(errorEnvelope(exit.stderr).message).toContain('2 records with an unknown outcome');
    // The sandbox processed the uncertain batch once; tcb did not send it again.
    expect(receivedLines()).toEqual([1, 2, 3, 4]);
    expect(h.sandbox.counters().requests['cp-batch-v2']).toBe(2);
  });

  it('--mode realtime: one request and one acknowledgement per record', async () => {
    const input = [record(1), record(2), record(3, { label_id: UNKNOWN_LABEL }), record(4, { caller_number: 'x' }), record(5)].join('\n');
    const result = await h.run(['call-reason', 'stream', '--mode', 'realtime', '--duration', '2h'], { input });
    expect(result.code).toBe(6);
    const acks = result.stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(acks.sort((a, b) => a.line - b.line)).toEqual([
      { line: 1, status: 'accepted' },
      { line: 2, status: 'accepted' },
      { line: 3, status: 'rejected', field: 'label_id', error: expect.stringContaining('not a dynamic label') },
      { line: 5, status: 'accepted' },
    ]);
    expect(result.stderr).toContain('"line":4');
    expect(receivedLines()).toEqual([1, 2, 5]);
    expect(h.sandbox.counters().requests['cp-realtime-v2']).toBe(4);
    expect(h.sandbox.counters().requests['cp-batch-v2']).toBeUndefined();
  });

  it('--input-format csv: a header row, quoted fields across lines, bad rows rejected by line', async () => {
    const csv = [
      'caller_number,receiver_number,label_id,dynamic_call_reason,note',
      `911234567890,${receiverFor(2)},${LABEL},"Your order, on its way",plain`,
      `911234567890,${receiverFor(3)},${LABEL},Order three is ready,"a note on`,
      `two lines, with ""quotes"""`,
      `911234567890,${receiverFor(5)}`,
      `911234567890,${receiverFor(6)},${LABEL},,`,
    ].join('\r\n');
    const result = await h.run(['call-reason', 'stream', '--input-format', 'csv', ...FAST], { input: `${csv}\r\n` });
    expect(result.code).toBe(6);
    expect(JSON.parse(result.stdout)).toMatchObject({ status: 'accepted', first_line: 2, last_line: 6, records: 3 });
    const rejected = result.stderr.trim().split('\n').map((line) => JSON.parse(line)).filter((line) => line.status === 'rejected');
    expect(rejected).toEqual([{ status: 'rejected', line: 5, error: 'has 2 fields, the header has 5' }]);
    expect(receivedLines()).toEqual([2, 3, 6]);
  });

  it('refuses bad invocations before reading: the input as reject file, a missing file, a directory, a bad header', async () => {
    const input = path.join(files.dir, 'same.ndjson');
    writeFileSync(input, `${record(1)}\n`);
    const same = await h.run(['call-reason', 'stream', input, '--reject-file', input, ...FAST]);
    expect(same.code).toBe(2);
    expect(errorEnvelope(same.stderr).message).toContain('that is the input');
    expect((await h.run(['call-reason', 'stream', path.join(files.dir, 'missing.ndjson')])).code).toBe(2);
    expect((await h.run(['call-reason', 'stream', files.dir])).code).toBe(2);
    const header = await h.run(['call-reason', 'stream', '--input-format', 'csv'], { input: 'caller_number,label_id\n911234567890,x\n' });
    expect(header.code).toBe(2);
    expect(errorEnvelope(header.stderr).message).toContain('receiver_number');
    expect(h.sandbox.counters().requests['cp-batch-v2']).toBeUndefined();
  });

  it('empty input: nothing sent, exit 0', async () => {
    const result = await h.run(['call-reason', 'stream', ...FAST], { input: '' });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(h.sandbox.counters().requests['cp-batch-v2']).toBeUndefined();
  });
});

describe('a hostile stream', () => {
  it('binary junk and an endless line are rejected by line; the records around them go through', async () => {
    const endless = 'x'.repeat(1024 * 1024 + 10);
    const input = Buffer.concat([
      Buffer.from(`${record(1)}\n`),
      Buffer.from([0xff, 0xfe, 0x00, 0x41, 0x0a]),
      Buffer.from(`${endless}\n${record(4)}\n`),
    ]);
    const result = await h.run(['call-reason', 'stream', ...FAST], { input });
    expect(result.code).toBe(6);
    const reported = result.stderr.trim().split('\n').map((line) => JSON.parse(line)).filter((line) => line.status === 'rejected');
    expect(reported).toEqual([
      { status: 'rejected', line: 2, error: 'the line is not valid UTF-8' },
      { status: 'rejected', line: 3, error: 'the line is longer than 1 MiB' },
    ]);
    expect(receivedLines()).toEqual([1, 4]);
  });

  it('a consumer that stops reading the acknowledgements ends the stream quietly with 0', async () => {
    const run = startStream([...FAST, '--max-latency', '100ms']);
    run.child.stdout.destroy();
    run.write(`${record(1)}\n`);
    run.end();
    const exit = await run.exit;
    expect(exit.code).toBe(0);
    expect(exit.stderr).not.toMatch(/Error|at .*\.js/);
  });
});
