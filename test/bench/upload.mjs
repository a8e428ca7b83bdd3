import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Call-reason upload (issue 6):
 *  1. validation throughput of `tcb call-reason upload --dry-run` on a generated CSV, beside the raw
 *     rate of csv-parse alone (default options, stream, counting records) on the same file, in the
 *     same run; peak RSS of both processes. Goal: ≥ 0.8 × raw, ≤ 150 MB.
 *  2. an upload against the sandbox with its batch limit at 600/min and --rate-limit 600/min:
 *     achieved / allowed request rate, 429s, peak RSS. Goal: ≥ 0.98, zero 429s, ≤ 150 MB.
 *  3. memory while sending fast: uploads of 100 000 and 1 000 000 rows with --rate-limit 30000/min
 *     against a sandbox whose batch limit is raised above that, so the API is not the bottleneck.
 *     Goal: peak RSS ≤ 150 MB at both sizes (no record sent twice).
 * Generated files live in a temporary directory that is removed afterwards.
 * Sizes: BENCH_UPLOAD_ROWS (default 1 000 000: the dry run and the large fast send),
 * BENCH_UPLOAD_SEND_ROWS (default 100 000: the 600/min send and the small fast send).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'tcb.js');
const ROWS = Number(process.env.BENCH_UPLOAD_ROWS ?? 1_000_000);
const SEND_ROWS = Number(process.env.BENCH_UPLOAD_SEND_ROWS ?? 100_000);
const LIMIT_PER_MIN = 600;
const FAST_PER_MIN = 30_000;
const RSS_HOOK = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nMAXRSS_KB='+process.resourceUsage().maxRSS+'\\n'))`;
const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';

async function generate(file, rows) {
  const out = createWriteStream(file);
  const now = Date.now();
  out.write('caller_number,receiver_number,starts_at,ends_at,label_id,dynamic_label_name,dynamic_call_reason\n');
  let chunk = '';
  for (let i = 0; i < rows; i += 1) {
    // receivers end in 5x: no record fails; quoted reason with a comma, like real exports.
    chunk += `91${8000000000 + i},91${9000000000 + i * 10 + 5},${now + 60_000},${now + 20 * 3_600_000},${LABEL},Acme Bank,"Your order ${i}, on its way"\n`;
    if (chunk.length > 1 << 16) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
}

/** Runs node with args; returns wall time, peak RSS and stdout. */
function runNode(args, env = process.env) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--import', RSS_HOOK, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const rss = /MAXRSS_KB=(\d+)/.exec(stderr);
      if (code !== 0 || !rss) reject(new Error(`${args.join(' ')} exited ${code}:\n${stderr}`));
      else resolve({ ms, rssMb: Number(rss[1]) / 1024, stdout });
    });
  });
}

const RAW_PARSE = `
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
let n = 0;
createReadStream(process.argv[2]).pipe(parse()).on('data', () => { n += 1; }).on('end', () => console.log(n - 1));
`;

export async function bench({ report }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcb-bench-upload-'));
  try {
    // ---- 1. validation vs raw parse ----
    const big = path.join(dir, 'big.csv');
    await generate(big, ROWS);
    // The raw parser runs from the repo so it resolves csv-parse from node_modules.
    const rawScript = path.join(ROOT, 'test', 'bench', `.raw-parse-${process.pid}.mjs`);
    writeFileSync(rawScript, RAW_PARSE);
    const env = { ...process.env, TCB_CONFIG_DIR: path.join(dir, 'config') };
    let raw;
    let dry;
    try {
      await runNode([rawScript, big]); // warm the file cache
      // Alternate and keep the best of two: the machine may be busy.
      for (let i = 0; i < 2; i += 1) {
        const r = await runNode([rawScript, big]);
        if (Number(r.stdout.trim()) !== ROWS) throw new Error(`raw parse counted ${r.stdout.trim()} rows`);
        if (!raw || r.ms < raw.ms) raw = r;
        const d = await runNode([BIN, 'call-reason', 'upload', big, '--dry-run', '--json'], env);
        const summary = JSON.parse(d.stdout);
        if (summary.valid !== ROWS) throw new Error(`dry run found ${summary.valid} valid rows of ${ROWS}`);
        if (!dry || d.ms < dry.ms) dry = d;
      }
    } finally {
      rmSync(rawScript, { force: true });
    }
    const rawRate = ROWS / (raw.ms / 1000);
    const dryRate = ROWS / (dry.ms / 1000);
    report(`upload: validation (${ROWS.toLocaleString('en')} rows)`, {
      'csv-parse alone (rows/s)': Math.round(rawRate),
      'upload --dry-run (rows/s)': Math.round(dryRate),
      'ratio (goal ≥ 0.8)': (dryRate / rawRate).toFixed(2),
      'peak RSS csv-parse alone (MB)': raw.rssMb.toFixed(1),
      'peak RSS upload --dry-run (MB, goal ≤ 150)': dry.rssMb.toFixed(1),
    });

    // ---- 2. upload against the sandbox at 600/min ----
    const { startSandbox } = await import(pathToFileURL(path.join(ROOT, 'dist', 'sandbox', 'server.js')).href);
    const sandbox = await startSandbox({
      port: 0,
      rateLimits: { 'cp-batch-v2': { limit: LIMIT_PER_MIN, windowMs: 60_000 } },
    });
    try {
      const small = path.join(dir, 'send.csv');
      await generate(small, SEND_ROWS);
      const sendEnv = {
        ...process.env,
        TCB_CONFIG_DIR: path.join(dir, 'config-send'),
        TCB_BASE_URL: sandbox.url,
        TCB_CLIENT_ACCOUNT_ID: sandbox.credentials.clientAccountId,
        TCB_KEY_ID: sandbox.credentials.keyId,
        TCB_API_KEY: sandbox.credentials.apiKey,
      };
      const run = await runNode([BIN, 'call-reason', 'upload', small, '--rate-limit', `${LIMIT_PER_MIN}/min`, '--json'], sendEnv);
      const summary = JSON.parse(run.stdout);
      const counters = sandbox.counters();
      if (counters.extra.recordsReceived !== SEND_ROWS || (counters.extra.duplicateRecordsReceived ?? 0) !== 0) {
        throw new Error(`sandbox received ${counters.extra.recordsReceived} records, ${counters.extra.duplicateRecordsReceived ?? 0} duplicates`);
      }
      report(`upload: sending (${SEND_ROWS.toLocaleString('en')} rows, ${LIMIT_PER_MIN}/min)`, {
        'batches sent': summary.batches_sent,
        'achieved requests/min': summary.requests_per_minute,
        'achieved / allowed (goal ≥ 0.98)': (summary.requests_per_minute / LIMIT_PER_MIN).toFixed(3),
        '429 responses (goal 0)': counters.rateLimited,
        'records/s while sending': summary.records_per_second,
        'whole command incl. validation (s)': (run.ms / 1000).toFixed(1),
        'peak RSS (MB, goal ≤ 150)': run.rssMb.toFixed(1),
      });
    } finally {
      await sandbox.close();
    }

    // ---- 3. memory while sending at 30 000/min ----
    const fast = {};
    for (const [rows, csv] of [[SEND_ROWS, path.join(dir, 'send.csv')], [ROWS, big]]) {
      const fastSandbox = await startSandbox({
        port: 0,
        batchDelayMs: 0,
        rateLimits: { 'cp-batch-v2': { limit: FAST_PER_MIN * 2, windowMs: 60_000 } },
      });
      try {
        const fastEnv = {
          ...process.env,
          TCB_CONFIG_DIR: path.join(dir, `config-fast-${rows}`),
          TCB_BASE_URL: fastSandbox.url,
          TCB_CLIENT_ACCOUNT_ID: fastSandbox.credentials.clientAccountId,
          TCB_KEY_ID: fastSandbox.credentials.keyId,
          TCB_API_KEY: fastSandbox.credentials.apiKey,
        };
        const run = await runNode([BIN, 'call-reason', 'upload', csv, '--rate-limit', `${FAST_PER_MIN}/min`, '--json'], fastEnv);
        const summary = JSON.parse(run.stdout);
        const counters = fastSandbox.counters();
        if (summary.records_accepted !== rows || counters.extra.recordsReceived !== rows || (counters.extra.duplicateRecordsReceived ?? 0) !== 0) {
          throw new Error(`fast upload of ${rows}: ${summary.records_accepted} accepted, sandbox received ${counters.extra.recordsReceived}`);
        }
        fast[`${rows.toLocaleString('en')} rows: peak RSS (MB, goal ≤ 150)`] = run.rssMb.toFixed(1);
        fast[`${rows.toLocaleString('en')} rows: requests/min, whole command (s)`] = `${summary.requests_per_minute}, ${(run.ms / 1000).toFixed(1)}`;
      } finally {
        await fastSandbox.close();
      }
    }
    report(`upload: memory sending at ${FAST_PER_MIN.toLocaleString('en')}/min (sandbox limit raised)`, fast);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
