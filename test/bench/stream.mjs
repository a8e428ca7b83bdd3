import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Call-reason stream: BENCH_STREAM_LINES (default 1 000 000) NDJSON lines piped into
 * `tcb call-reason stream --rate-limit 600/min` against the sandbox with its cp-batch-v2 limit at
 * 600/min, the producer writing as fast as the pipe takes it (so the stream is saturated and
 * back-pressure holds the producer). Figures, with their goals:
 *  - achieved / allowed request rate (from the acknowledgements' arrival), goal ≥ 0.98, and 429s, goal 0;
 *  - peak RSS of tcb, goal ≤ 150 MB;
 *  - p99 of the time from a line entering the pipe to its acknowledgement, goal ≤ max-latency
 *    (2 s) + one rate interval (100 ms). Measured from the producer's side, it includes the time a
 *    line waits in the pipe before tcb reads it, so it bounds the line-read → ack time from above.
 * Every record must be received by the sandbox exactly once.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'tcb.js');
const LINES = Number(process.env.BENCH_STREAM_LINES ?? 1_000_000);
const LIMIT_PER_MIN = 600;
const MAX_LATENCY_MS = 2000;
const LINES_PER_WRITE = 100;
const RSS_HOOK = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nMAXRSS_KB='+process.resourceUsage().maxRSS+'\\n'))`;
const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';

function lineText(i) {
  return `{"caller_number":"91${8000000000 + (i % 1000)}","receiver_number":"91${9000000000 + i}","label_id":"${LABEL}","dynamic_call_reason":"Your order ${i} is on its way"}\n`;
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

export async function bench({ report }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcb-bench-stream-'));
  const { startSandbox } = await import(pathToFileURL(path.join(ROOT, 'dist', 'sandbox', 'server.js')).href);
  const sandbox = await startSandbox({ port: 0, rateLimits: { 'cp-batch-v2': { limit: LIMIT_PER_MIN, windowMs: 60_000 } } });
  try {
    const env = {
      ...process.env,
      TCB_CONFIG_DIR: path.join(dir, 'config'),
      TCB_BASE_URL: sandbox.url,
      TCB_CLIENT_ACCOUNT_ID: sandbox.credentials.clientAccountId,
      TCB_KEY_ID: sandbox.credentials.keyId,
      TCB_API_KEY: sandbox.credentials.apiKey,
    };
    const started = Date.now();
    const child = spawn(
      process.execPath,
      ['--import', RSS_HOOK, BIN, 'call-reason', 'stream', '--rate-limit', `${LIMIT_PER_MIN}/min`, '--duration', '2h', '--max-latency', `${MAX_LATENCY_MS}ms`],
      { env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    // When each group of lines was handed to the pipe (ms since start).
    const writtenAt = new Float64Array(Math.ceil(LINES / LINES_PER_WRITE));
    const latencies = new Float64Array(LINES);
    let latencyCount = 0;
    const ackTimes = [];
    let stderr = '';
    let rest = '';
    let acked = 0;
    const problems = {};
    let problemBatches = 0;
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      const now = Date.now() - started;
      const parts = (rest + chunk).split('\n');
      rest = parts.pop();
      for (const part of parts) {
        const ack = JSON.parse(part);
        if (ack.status !== 'accepted') {
          // Reported, never resent: counted, and excluded from the latency figures.
          problems[ack.status] = (problems[ack.status] ?? 0) + ack.records;
          problemBatches += 1;
          continue;
        }
        ackTimes.push(now);
        acked += ack.records;
        for (let line = ack.first_line; line <= ack.last_line; line += 1) {
          latencies[latencyCount] = now - writtenAt[Math.floor((line - 1) / LINES_PER_WRITE)];
          latencyCount += 1;
        }
      }
    });
    const exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));

    // Warm-up: the first line alone, until it is acknowledged (tcb started, token obtained), so the
    // figures are about the stream and not about the process start. The rate counts from that ack.
    await new Promise((resolve) => child.stdin.write(lineText(0), resolve));
    writtenAt[0] = Date.now() - started;
    while (ackTimes.length === 0) {
      if (child.exitCode !== null) throw new Error(`tcb exited during warm-up:\n${stderr}`);
      await new Promise((resolve) => child.stdout.once('data', resolve));
    }
    for (let group = 0; group * LINES_PER_WRITE < LINES; group += 1) {
      let text = '';
      const first = group * LINES_PER_WRITE;
      for (let i = Math.max(1, first); i < Math.min(LINES, first + LINES_PER_WRITE); i += 1) text += lineText(i);
      // The callback fires once the bytes are in the pipe: back-pressure holds the producer here.
      await new Promise((resolve, reject) => child.stdin.write(text, (error) => (error ? reject(error) : resolve())));
      writtenAt[group] = Date.now() - started;
    }
    child.stdin.end();
    const code = await exited;
    const rss = /MAXRSS_KB=(\d+)/.exec(stderr);
    const unanswered = Object.values(problems).reduce((n, v) => n + v, 0);
    if (!rss || (code !== 0 && !(code === 6 && unanswered > 0))) throw new Error(`tcb call-reason stream exited ${code}:\n${stderr.slice(-2000)}`);
    const counters = sandbox.counters();
    // Every line is answered once; accepted ones arrived; none arrived twice (uncertain ones may have arrived once).
    if (acked + unanswered !== LINES || counters.extra.recordsReceived < acked || (counters.extra.duplicateRecordsReceived ?? 0) !== 0) {
      throw new Error(`accepted ${acked} + ${JSON.stringify(problems)} of ${LINES}; sandbox received ${counters.extra.recordsReceived} records (${counters.extra.duplicateRecordsReceived ?? 0} duplicates)`);
    }
    // From the warm-up's ack to the last one: the requests of the flood.
    const spanMs = ackTimes[ackTimes.length - 1] - ackTimes[0];
    const perMinute = ((ackTimes.length - 1) / spanMs) * 60_000;
    const sorted = latencies.subarray(0, latencyCount).sort();
    const intervalMs = 60_000 / LIMIT_PER_MIN;
    report(`stream: ${LINES.toLocaleString('en')} NDJSON lines through a pipe at ${LIMIT_PER_MIN}/min`, {
      'requests (batches)': ackTimes.length,
      'achieved requests/min': perMinute.toFixed(1),
      'achieved / allowed (goal ≥ 0.98)': (perMinute / LIMIT_PER_MIN).toFixed(3),
      '429 responses (goal 0)': counters.rateLimited,
      'batches not accepted (uncertain/failed, never resent)': `${problemBatches}${problemBatches ? ` ${JSON.stringify(problems)}` : ''}`,
      'duplicates received': counters.extra.duplicateRecordsReceived ?? 0,
      'peak RSS (MB, goal ≤ 150)': (Number(rss[1]) / 1024).toFixed(1),
      'line → ack p50 (ms)': Math.round(percentile(sorted, 50)),
      [`line → ack p99 (ms, goal ≤ ${MAX_LATENCY_MS + intervalMs})`]: Math.round(percentile(sorted, 99)),
      'line → ack max (ms)': Math.round(sorted[sorted.length - 1]),
      'whole run (s)': ((Date.now() - started) / 1000).toFixed(1),
    });
  } finally {
    await sandbox.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
