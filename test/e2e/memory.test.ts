// Streaming commands keep V8's young generation at 8 MB instead of letting it grow to 32 MB (most
// of their peak memory). Measured in the built binary by a preloaded hook that records the young
// generation's size after every garbage collection; no timing is involved.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmbLogEvents } from '../../src/sandbox/routes/logs.js';
import { BIN, ROOT, baseEnv, startHarness, tempDir, type Harness } from '../helpers/cli.js';

const CAP_BYTES = 8 * 1024 * 1024;
const ROWS = 20_000;
const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';

const YOUNG_GENERATION_HOOK = `data:text/javascript,${encodeURIComponent(`
import v8 from 'node:v8';
import { PerformanceObserver } from 'node:perf_hooks';
let max = 0;
const note = () => { max = Math.max(max, v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0); };
new PerformanceObserver(note).observe({ entryTypes: ['gc'] });
process.on('exit', () => { note(); process.stderr.write('\\nYOUNG_GENERATION_BYTES=' + max + '\\n'); });
`)}`;

function runMeasured(args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; youngBytes: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', YOUNG_GENERATION_HOOK, BIN, ...args], { cwd: ROOT, env: baseEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const match = /YOUNG_GENERATION_BYTES=(\d+)/.exec(stderr);
      if (!match) return reject(new Error(`no measurement (exit ${code}):\n${stderr}`));
      resolve({ code, stdout, youngBytes: Number(match[1]) });
    });
  });
}

describe('memory of streaming commands', () => {
  let h: Harness;
  const dir = tempDir('tcb-memory-');
  beforeAll(async () => {
    h = await startHarness({ batchDelayMs: 0, rateLimits: { 'cp-batch-v2': { limit: 60_000, windowMs: 60_000 } } });
  });
  afterAll(async () => {
    await h.close();
    dir.cleanup();
  });

  it(`cmb export of ${ROWS} rows: every row out, young generation at most 8 MB`, async () => {
    const events = cmbLogEvents(h.sandbox.state);
    const template = events[0]!;
    const base = Date.parse('2020-01-01T00:00:00Z');
    events.length = 0;
    for (let i = 0; i < ROWS; i += 1) events.push({ ...template, id: `memory-${i}`, requestedAt: base + i * 1000 });
    const run = await runMeasured(['cmb', 'export', '--from', String(base), '--to', String(base + ROWS * 1000), '--format', 'csv'], h.env);
    expect(run.code).toBe(0);
    expect(run.stdout.trimEnd().split('\n')).toHaveLength(ROWS + 1);
    expect(run.youngBytes).toBeGreaterThan(0);
    expect(run.youngBytes).toBeLessThanOrEqual(CAP_BYTES);
  });

  it(`call-reason upload of ${ROWS} rows: all accepted, young generation at most 8 MB`, async () => {
    const now = Date.now();
    const lines = ['caller_number,receiver_number,starts_at,ends_at,label_id,dynamic_label_name,dynamic_call_reason'];
    for (let i = 0; i < ROWS; i += 1) {
      lines.push(`91${8000000000 + i},91${9000000000 + i * 10 + 5},${now + 60_000},${now + 3_600_000},${LABEL},Acme Bank,"Your order ${i}, on its way"`);
    }
    const file = path.join(dir.dir, 'calls.csv');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const run = await runMeasured(['call-reason', 'upload', file, '--rate-limit', '30000/min', '--json'], h.env);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout).records_accepted).toBe(ROWS);
    expect(run.youngBytes).toBeGreaterThan(0);
    expect(run.youngBytes).toBeLessThanOrEqual(CAP_BYTES);
  });

  it(`call-reason stream of ${ROWS} lines: every line acknowledged, young generation at most 8 MB`, async () => {
    const lines = Array.from({ length: ROWS }, (_, i) =>
      JSON.stringify({ caller_number: '911234567890', receiver_number: `9170${String(i + 1).padStart(8, '0')}`, label_id: LABEL, dynamic_call_reason: `Your order ${i}` }),
    );
    const file = path.join(dir.dir, 'calls.ndjson');
    writeFileSync(file, `${lines.join('\n')}\n`);
    const run = await runMeasured(['call-reason', 'stream', file, '--rate-limit', '30000/min', '--duration', '2h'], h.env);
    expect(run.code).toBe(0);
    const acks = run.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { status: string; records: number });
    expect(acks.every((ack) => ack.status === 'accepted')).toBe(true);
    expect(acks.reduce((sum, ack) => sum + ack.records, 0)).toBe(ROWS);
    expect(run.youngBytes).toBeGreaterThan(0);
    expect(run.youngBytes).toBeLessThanOrEqual(CAP_BYTES);
  });
});
