import { spawn } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv, errorEnvelope, startHarness, tempDir, type Harness } from '../helpers/cli.js';
import { callReasonSandbox } from '../../src/sandbox/routes/call-reasons.js';
import { whenJournal } from '../helpers/upload.js';
import type { SandboxOptions } from '../../src/sandbox/types.js';

const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
const HEADER = 'caller_number,receiver_number,starts_at,ends_at,label_id,dynamic_label_name,dynamic_call_reason';
/** Fast limits so the tests do not wait on the documented 60/min. */
const FAST = '100/s';
const FAST_SANDBOX: SandboxOptions = { rateLimits: { 'cp-batch-v2': { limit: 100, windowMs: 1000 } } };

let harness: Harness | undefined;
let dirs: { cleanup: () => void }[] = [];

afterEach(async () => {
  await harness?.close();
  harness = undefined;
  for (const d of dirs) d.cleanup();
  dirs = [];
});

async function start(options: SandboxOptions = FAST_SANDBOX): Promise<Harness> {
  harness = await startHarness(options);
  return harness;
}

function workDir(): string {
  const d = tempDir('tcb-upload-');
  dirs.push(d);
  return d.dir;
}

/** n unique, valid rows; receiver numbers never end in 01-04 unless `failing` says so. */
function rows(n: number, options: { offset?: number; failing?: (i: number) => string | undefined } = {}): string[] {
  const now = Date.now();
  const out: string[] = [];
  for (let i = 0; i < n; i += 1) {
    const k = (options.offset ?? 0) + i;
    const suffix = options.failing?.(i);
    const receiver = suffix ? `9190000${String(k).padStart(3, '0')}${suffix}` : `9190${String(k).padStart(6, '0')}55`;
    out.push(`91800${String(k).padStart(7, '0')},${receiver},${now},${now + 3_600_000},${LABEL},Acme Bank,Your parcel ${k} is on its way`);
  }
  return out;
}

function writeCsv(dir: string, name: string, lines: string[], eol = '\n'): string {
  const file = path.join(dir, name);
  writeFileSync(file, [HEADER, ...lines].join(eol) + eol);
  return file;
}

function extra(h: Harness): Record<string, number> {
  return h.sandbox.counters().extra;
}

function journalFiles(h: Harness): string[] {
  const dir = path.join(h.configDir, 'uploads');
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => path.join(dir, f));
}

function journalEntries(h: Harness): Record<string, unknown>[] {
  return journalFiles(h).flatMap((f) =>
    readFileSync(f, 'utf8')
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as Record<string, unknown>),
  );
}

describe('tcb call-reason upload', () => {
  it('uploads a CSV with a BOM, CRLF line ends and quoted commas exactly once', async () => {
    const h = await start();
    const dir = workDir();
    const now = Date.now();
    const body = [
      HEADER,
      `911234567890,919876543210,${now},${now + 3_600_000},${LABEL},"Acme, ""Bank""","Your parcel, order 1, is here"`,
      `+91 12345 67891,919876543211,${new Date(now).toISOString()},${new Date(now + 7_200_000).toISOString()},${LABEL},Acme Bank,"Payment due, please call"`,
      '',
      `911234567892,919876543212,${now},${now + 60_000},${LABEL},"Multi
line label",Delivery window today`,
      `911234567893,919876543213,${now},${now + 60_000},${LABEL},,`,
    ].join('\r\n');
    const file = path.join(dir, 'bom.csv');
    writeFileSync(file, Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body + '\r\n')]));

    const result = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST, '--batch-size', '2', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ rows: 4, valid: 4, invalid: 0, records_sent: 4, batches_sent: 2, records_accepted: 4, outcome: 'complete' });
    expect(summary.batches.map((b: { lines: string }) => b.lines)).toEqual(['2-3', '5-7']);
    expect(summary.batches.every((b: { batch_id: string | null }) => typeof b.batch_id === 'string')).toBe(true);
    expect(extra(h).recordsReceived).toBe(4);
    expect(extra(h).duplicateRecordsReceived ?? 0).toBe(0);

    // What the API received: quoted commas and quotes intact, "+" and spaces normalised away.
    const received = [...callReasonSandbox(h.sandbox.state).batches.values()].flatMap((b) => b.records);
    expect(received.map((r) => r.labelName)).toEqual(['Acme, "Bank"', 'Acme Bank', 'Multi\nline label', 'FlowerEra']);
    expect(received[0]!.callReason).toBe('Your parcel, order 1, is here');
    expect(received[1]!.caller).toBe('911234567891');
    expect(received[1]!.endsAt - received[1]!.startsAt).toBe(7_200_000);
  });

  it('reports invalid rows with their line numbers, exits 2 and sends nothing', async () => {
    const h = await start();
    const dir = workDir();
    const good = rows(5);
    const lines = [...good.slice(0, 2), good[2]!.replace(/^91800/, 'abc'), good[3]!, '911234567890,919876543210,1,2,' + LABEL + ',ok,Short', good[4]!];
    const file = writeCsv(dir, 'bad.csv', lines);
    const result = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST]);
    expect(result.code).toBe(2);
    const envelope = errorEnvelope(result.stderr);
    expect(envelope.message).toMatch(/^2 of 6 rows in .* are invalid; nothing was sent/);
    expect(envelope.message).toContain('line 4: caller_number');
    expect(envelope.message).toMatch(/line 6: .*starts_at/);
    expect(envelope.hint).toContain('--skip-invalid');
    expect(extra(h).recordsReceived ?? 0).toBe(0);
    expect(h.sandbox.counters().requests['cp-batch-v2'] ?? 0).toBe(0);

    // --skip-invalid sets them aside (with line and reason) and sends the rest.
    const skipped = path.join(dir, 'skipped.csv');
    const second = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST, '--skip-invalid', skipped, '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ valid: 4, invalid: 2, records_accepted: 4 });
    expect(extra(h).recordsReceived).toBe(4);
    const aside = readFileSync(skipped, 'utf8').trim().split('\n');
    expect(aside[0]).toBe(`${HEADER},line,error`);
    expect(aside).toHaveLength(3);
    expect(aside[1]).toMatch(/^abc.*,4,"caller_number/);
    expect(aside[2]).toMatch(/,6,"starts_at/);
  });

  it('--dry-run validates only', async () => {
    const h = await start();
    const file = writeCsv(workDir(), 'ok.csv', rows(1200));
    const result = await h.run(['call-reason', 'upload', file, '--dry-run', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ dry_run: true, rows: 1200, valid: 1200, batches_planned: 3 });
    expect(h.sandbox.counters().requests['cp-batch-v2'] ?? 0).toBe(0);
  });

  it('reads stdin (-), with defaults from flags for missing columns', async () => {
    const h = await start();
    const now = Date.now();
    const input = ['caller,receiver,starts_at', ...Array.from({ length: 30 }, (_, i) => `9180000000${String(i).padStart(2, '0')},9190000000${String(i + 10).padStart(2, '0')},${now}`)].join('\n');
    const result = await h.run(
      ['call-reason', 'upload', '-', '--rate-limit', FAST, '--label-id', LABEL, '--duration', '2h', '--reason', 'Calling about your order', '--batch-size', '10', '--json'],
      { input },
    );
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ file: '-', records_accepted: 30, batches_sent: 3 });
    const received = [...callReasonSandbox(h.sandbox.state).batches.values()].flatMap((b) => b.records);
    expect(received).toHaveLength(30);
    expect(received.every((r) => r.endsAt - r.startsAt === 7_200_000 && r.callReason === 'Calling about your order')).toBe(true);
  });

  it('crosses several token expiries without duplicates', async () => {
    const h = await start({ tokenLifetimeSeconds: 2, tokenQuota: 100, rateLimits: { 'cp-batch-v2': { limit: 20, windowMs: 1000 } } });
    const file = writeCsv(workDir(), 'slow.csv', rows(200));
    const result = await h.run(['call-reason', 'upload', file, '--rate-limit', '20/s', '--batch-size', '2', '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(h.sandbox.counters().tokensCreated).toBeGreaterThanOrEqual(3);
    expect(JSON.parse(result.stdout)).toMatchObject({ records_accepted: 200, batches_sent: 100 });
    expect(extra(h).recordsReceived).toBe(200);
    expect(extra(h).duplicateRecordsReceived ?? 0).toBe(0);
  });

  it('marks a batch answered with a 500 after processing as uncertain and never resends it silently', async () => {
    const h = await start();
    const file = writeCsv(workDir(), 'u.csv', rows(50));
    h.sandbox.inject({ endpoint: 'cp-batch-v2', status: 500, count: 1, mode: 'after-processing' });
    const first = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST, '--batch-size', '10', '--json']);
    expect(first.code).toBe(5);
    const envelope = errorEnvelope(first.stderr);
    expect(envelope.code).toBe('uncertain_batches');
    expect(envelope.hint).toContain('--resume --resend-uncertain');
    const summary = JSON.parse(first.stdout);
    expect(summary).toMatchObject({ records_accepted: 40, records_uncertain: 10, outcome: 'uncertain' });
    expect(summary.uncertain).toHaveLength(1);
    expect(summary.uncertain[0]).toMatchObject({ records: 10, lines: expect.stringMatching(/^\d+-\d+$/) });
    expect(envelope.message).toContain(`lines ${summary.uncertain[0].lines}`);
    expect(extra(h).recordsReceived).toBe(50);

    // --resume does not resend it.
    const again = await h.run(['call-reason', 'upload', file, '--resume', '--rate-limit', FAST, '--json']);
    expect(again.code).toBe(5);
    expect(JSON.parse(again.stdout)).toMatchObject({ records_sent: 0, records_accepted: 40, records_uncertain: 10 });
    expect(extra(h).recordsReceived).toBe(50);
    expect(extra(h).duplicateRecordsReceived ?? 0).toBe(0);

    // Without --resume, a second upload of the same file is refused.
    const refused = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST]);
    expect(refused.code).toBe(2);
    expect(errorEnvelope(refused.stderr).hint).toContain('--resume');

    // Deliberately: the 10 records go again (and, here, arrive twice).
    const resend = await h.run(['call-reason', 'upload', file, '--resend-uncertain', '--rate-limit', FAST, '--json']);
    expect(resend.code).toBe(0);
    expect(JSON.parse(resend.stdout)).toMatchObject({ records_sent: 10, records_accepted: 50, records_uncertain: 0 });
    expect(extra(h).recordsReceived).toBe(60);
    expect(extra(h).duplicateRecordsReceived).toBe(10);
  });

  it('after kill -9 between batches, --resume sends every record exactly once', async () => {
    const h = await start({ rateLimits: { 'cp-batch-v2': { limit: 20, windowMs: 1000 } } });
    const file = writeCsv(workDir(), 'k.csv', rows(300));
    // At 2 requests a minute the second batch cannot leave until 30 s after the first, so a kill
    // right after the first is accepted lands between batches whatever the machine's speed.
    const child = spawn(process.execPath, [BIN, 'call-reason', 'upload', file, '--rate-limit', '2/min', '--batch-size', '60', '--json'], {
      cwd: ROOT,
      env: baseEnv(h.env),
      stdio: 'ignore',
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    await whenJournal(h.configDir, (entries) => entries.some((e) => e.state === 'accepted'));
    child.kill('SIGKILL');
    expect(await exited).toBe('SIGKILL');
    const before = extra(h).recordsReceived ?? 0;
    expect(before).toBe(60);
    // One batch went out: written as sending before the POST, accepted after it. Which of the
    // first batches won the first slot is up to the race for the first token.
    const batches = journalEntries(h).filter((e) => e.type === 'batch');
    expect(batches.map((e) => e.state)).toEqual(['sending', 'accepted']);
    expect(batches[1]!.seq).toBe(batches[0]!.seq);

    const resumed = await h.run(['call-reason', 'upload', file, '--resume', '--rate-limit', '20/s', '--json']);
    expect(resumed.stderr).toBe('');
    expect(resumed.code).toBe(0);
    const summary = JSON.parse(resumed.stdout);
    expect(summary.records_accepted).toBe(300);
    expect(summary.already_sent).toBe(before);
    expect(summary.records_sent).toBe(300 - before);
    expect(extra(h).recordsReceived).toBe(300);
    expect(extra(h).duplicateRecordsReceived ?? 0).toBe(0);
  });

  it('Ctrl-C stops cleanly with exit 130; --resume sends the rest exactly once', async () => {
    const h = await start({ rateLimits: { 'cp-batch-v2': { limit: 20, windowMs: 1000 } } });
    const file = writeCsv(workDir(), 'c.csv', rows(300));
    const child = spawn(process.execPath, [BIN, 'call-reason', 'upload', file, '--rate-limit', '10/s', '--batch-size', '10', '--json'], {
      cwd: ROOT,
      env: baseEnv(h.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await h.sandbox.whenRequests('cp-batch-v2', 3);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(errorEnvelope(stderr).code).toBe('interrupted');
    const summary = JSON.parse(stdout);
    expect(summary.outcome).toBe('interrupted');
    const received = extra(h).recordsReceived ?? 0;
    expect(summary.records_accepted).toBe(received);
    expect(summary.records_uncertain).toBe(0);
    expect(journalEntries(h).filter((e) => e.type === 'end')).toHaveLength(1);

    const resumed = await h.run(['call-reason', 'upload', file, '--resume', '--rate-limit', '20/s', '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ records_accepted: 300, already_sent: received });
    expect(extra(h).recordsReceived).toBe(300);
    expect(extra(h).duplicateRecordsReceived ?? 0).toBe(0);
  });

  it('stops at a rejected batch (exit 4); --resume sends the rest; a changed file is refused', async () => {
    const h = await start();
    const dir = workDir();
    const file = writeCsv(dir, 'changing.csv', rows(20));
    h.sandbox.inject({
      endpoint: 'cp-batch-v2',
      status: 400,
      count: 1,
      body: { status_info: { status: 'error', field: 'call_records[0].label_id', message: 'Request body is invalid: label_id is not a dynamic label of this client' } },
    });
    const first = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST, '--batch-size', '5']);
    expect(first.code).toBe(4);
    const envelope = errorEnvelope(first.stderr);
    expect(envelope.message).toMatch(/the API rejected the batch of lines \d+-\d+: .*label_id/);
    expect(envelope.hint).toContain('--resume');
    expect(journalEntries(h).some((e) => e.state === 'rejected')).toBe(true);

    const resumed = await h.run(['call-reason', 'upload', file, '--resume', '--rate-limit', FAST, '--json']);
    expect(resumed.code).toBe(0);
    expect(JSON.parse(resumed.stdout)).toMatchObject({ records_accepted: 20 });
    expect(extra(h).recordsReceived).toBe(20);
    expect(extra(h).duplicateRecordsReceived ?? 0).toBe(0);

    writeFileSync(file, [HEADER, ...rows(20, { offset: 100 })].join('\n') + '\n');
    const changed = await h.run(['call-reason', 'upload', file, '--resume', '--rate-limit', FAST]);
    expect(changed.code).toBe(2);
    expect(errorEnvelope(changed.stderr).message).toContain('changed since the upload');
    expect(extra(h).recordsReceived).toBe(20);
  });

  it('--wait --report lists the failed rows by CSV line and reason; exit 6', async () => {
    const h = await start();
    callReasonSandbox(h.sandbox.state).config.batchDelayMs = 300;
    const dir = workDir();
    const failing: Record<number, string> = { 3: '01', 7: '02', 12: '04' };
    const file = writeCsv(dir, 'w.csv', rows(15, { failing: (i) => failing[i] }));
    const report = path.join(dir, 'out', 'failed.csv');
    const result = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST, '--batch-size', '4', '--wait', '--interval', '1', '--report', report, '--json']);
    expect(result.code).toBe(6);
    expect(errorEnvelope(result.stderr).code).toBe('partial_failure');
    const summary = JSON.parse(result.stdout);
    expect(summary.wait).toMatchObject({ batches: 4, records: 15, failed: 3, by_status: { success: 12, failed: 3 } });
    expect(summary.wait.failures_by_reason).toEqual({ 'Not a Truecaller user': 1, 'OS not supported': 1, 'Failed to push': 1 });
    const lines = readFileSync(report, 'utf8').trim().split('\n');
    expect(lines[0]).toBe(`line,batch_id,status,reason,${HEADER}`);
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 1).concat(l.split(',')[3]!))).toEqual([
      ['5', 'Not a Truecaller user'],
      ['9', 'OS not supported'],
      ['14', 'Failed to push'],
    ]);
    expect(lines[1]).toContain(',failed,');
  });

  it('--report places failures by content when the status endpoint lists records in another order', async () => {
    const h = await start();
    const sandbox = callReasonSandbox(h.sandbox.state);
    sandbox.config.batchDelayMs = 300;
    sandbox.config.statusOrder = 'reversed';
    const dir = workDir();
    const failing: Record<number, string> = { 0: '03', 5: '01' };
    const file = writeCsv(dir, 'r.csv', rows(8, { failing: (i) => failing[i] }));
    const report = path.join(dir, 'failed.csv');
    const result = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST, '--batch-size', '4', '--wait', '--interval', '1', '--report', report, '--json']);
    expect(result.code).toBe(6);
    const lines = readFileSync(report, 'utf8').trim().split('\n').slice(1);
    expect(lines.map((l) => [l.split(',')[0], l.split(',')[3]])).toEqual([
      ['2', 'App version not supported'],
      ['7', 'Not a Truecaller user'],
    ]);
  });

  it('--api v1 sends the deprecated field names and reads the batch id from the message', async () => {
    const h = await start();
    callReasonSandbox(h.sandbox.state).config.batchDelayMs = 100;
    const file = writeCsv(workDir(), 'v1.csv', rows(12, { failing: (i) => (i === 4 ? '03' : undefined) }));
    const result = await h.run(['call-reason', 'upload', file, '--api', 'v1', '--rate-limit', '10/s', '--batch-size', '5', '--wait', '--interval', '1', '--json']);
    expect(result.code).toBe(6);
    const summary = JSON.parse(result.stdout);
    expect(summary).toMatchObject({ api: 'v1', records_accepted: 12, batches_sent: 3 });
    const batches = [...callReasonSandbox(h.sandbox.state).batches.values()];
    expect(batches.map((b) => b.version)).toEqual(['v1', 'v1', 'v1']);
    expect(summary.batches.map((b: { batch_id: string }) => b.batch_id).sort()).toEqual(batches.map((b) => b.id).sort());
    expect(summary.wait).toMatchObject({ records: 12, failed: 1, failures_by_reason: { 'App version not supported': 1 } });
    expect(h.sandbox.counters().requests['cp-bulk-v1']).toBe(3);
  });

  it('a connection dropped after the request was sent makes the batch uncertain', async () => {
    const h = await start();
    const file = writeCsv(workDir(), 'drop.csv', rows(10));
    h.sandbox.inject({ endpoint: 'cp-batch-v2', count: 1, mode: 'drop-connection' });
    const result = await h.run(['call-reason', 'upload', file, '--rate-limit', FAST, '--batch-size', '10', '--json']);
    expect(result.code).toBe(5);
    expect(JSON.parse(result.stdout)).toMatchObject({ records_accepted: 0, records_uncertain: 10, uncertain: [{ lines: '2-11' }] });
    expect(h.sandbox.counters().requests['cp-batch-v2']).toBe(1);
  });
});
