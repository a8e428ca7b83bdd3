import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Start-up cost of tcb beside bare Node (`node -e 0`), measured in the same run.
 *
 * Wall time: medians of RUNS interleaved runs, so machine noise hits every variant alike.
 * Peak RSS: medians of separate interleaved runs with a preloaded exit hook (it adds ~2.5 MB to
 * every variant, bare Node included), so the hook never sits in a timed run.
 *
 * The real commands run with a stored profile and a cached token (made by one `tcb auth login`
 * before the timing) against a sandbox started once in this process: what a cron job or a shell
 * loop calling tcb pays. Env: BENCH_STARTUP_RUNS (default 15), BENCH_STARTUP_RSS_RUNS (default 10).
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'tcb.js');
const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 15);
const RSS_RUNS = Number(process.env.BENCH_STARTUP_RSS_RUNS ?? 10);
const RSS_HOOK = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nMAXRSS_KB='+process.resourceUsage().maxRSS+'\\n'))`;
const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';

/** Spawns node asynchronously (the sandbox in this process must keep answering). */
function runNode(args, { env = process.env, input, rss = false } = {}) {
  return new Promise((resolve, reject) => {
    const argv = rss ? ['--import', RSS_HOOK, ...args] : args;
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, argv, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`node ${args.join(' ')} exited ${code}:\n${stderr}`));
      const match = /MAXRSS_KB=(\d+)/.exec(stderr);
      resolve({ ms, rssMb: match ? Number(match[1]) / 1024 : undefined, stdout });
    });
    child.stdin.end(input ?? '');
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** A batch in the sandbox for `tcb batch status`, posted like any API client would. */
async function createBatch(sandbox, token) {
  const account = sandbox.credentials.clientAccountId;
  const now = Date.now();
  const res = await fetch(`${sandbox.url}/v2/clients/${account}/dynamic_call_records`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({
      call_records: [
        { caller_number: '911234567890', receiver_number: '919810001005', starts_at: now, ends_at: now + 3_600_000, label_id: LABEL, dynamic_call_reason: 'Your parcel arrives today' },
      ],
    }),
  });
  const body = await res.json();
  if (res.status !== 200 || !body.batch_id) throw new Error(`batch not accepted: ${JSON.stringify(body)}`);
  return body.batch_id;
}

export async function bench({ report }) {
  const { startSandbox } = await import(pathToFileURL(path.join(ROOT, 'dist', 'sandbox', 'server.js')).href);
  const sandbox = await startSandbox({ port: 0, batchDelayMs: 0 });
  const configDir = mkdtempSync(path.join(tmpdir(), 'tcb-bench-startup-'));
  // A stored profile (config.json) and a cached token, as after `tcb auth login`; no TCB_* credentials.
  const env = { ...process.env, TCB_CONFIG_DIR: configDir };
  for (const key of ['TCB_BASE_URL', 'TCB_CLIENT_ACCOUNT_ID', 'TCB_KEY_ID', 'TCB_API_KEY', 'TCB_PROFILE', 'TCB_FORMAT', 'TCB_DEBUG']) delete env[key];
  try {
    const { clientAccountId, keyId, apiKey } = sandbox.credentials;
    await runNode([BIN, 'auth', 'login', '--client-account-id', clientAccountId, '--key-id', keyId, '--api-key-stdin', '--base-url', sandbox.url], { env, input: apiKey });
    const token = (await runNode([BIN, 'auth', 'token'], { env })).stdout.trim();
    const batchId = await createBatch(sandbox, token);

    const variants = {
      'node -e 0': ['-e', '0'],
      'tcb --version': [BIN, '--version'],
      'tcb --help': [BIN, '--help'],
      'tcb labels list --json': [BIN, 'labels', 'list', '--json'],
      'tcb numbers list --json': [BIN, 'numbers', 'list', '--json'],
      'tcb auth status --json': [BIN, 'auth', 'status', '--json'],
      'tcb batch status ID --json': [BIN, 'batch', 'status', batchId, '--json'],
      'tcb completion bash': [BIN, 'completion', 'bash'],
    };
    const goals = {
      'tcb --version': { ratio: 1.1 },
      'tcb --help': { ratio: 1.3 },
      'tcb labels list --json': { ratio: 2.0, rssMb: 70 },
      'tcb numbers list --json': { ratio: 2.0, rssMb: 70 },
      'tcb auth status --json': { ratio: 2.0, rssMb: 70 },
      'tcb batch status ID --json': { ratio: 2.0, rssMb: 70 },
    };
    const times = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
    const rss = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
    for (const args of Object.values(variants)) await runNode(args, { env }); // warm the file cache
    for (let i = 0; i < RUNS; i += 1) {
      for (const [name, args] of Object.entries(variants)) times[name].push((await runNode(args, { env })).ms);
    }
    for (let i = 0; i < RSS_RUNS; i += 1) {
      for (const [name, args] of Object.entries(variants)) rss[name].push((await runNode(args, { env, rss: true })).rssMb);
    }

    const base = median(times['node -e 0']);
    const figures = {
      runs: `${RUNS} timed + ${RSS_RUNS} for RSS, interleaved`,
      'node -e 0': `${base.toFixed(1)} ms, peak RSS ${median(rss['node -e 0']).toFixed(1)} MB`,
    };
    let met = true;
    for (const [name, goal] of Object.entries(goals)) {
      const ratio = median(times[name]) / base;
      const peak = median(rss[name]);
      const ok = ratio <= goal.ratio && (goal.rssMb === undefined || peak <= goal.rssMb);
      met &&= ok;
      const memory = goal.rssMb === undefined ? `peak RSS ${peak.toFixed(1)} MB` : `peak RSS ${peak.toFixed(1)} MB (goal <= ${goal.rssMb})`;
      figures[name] = `${ratio.toFixed(2)}x node (goal <= ${goal.ratio}x), ${median(times[name]).toFixed(1)} ms, ${memory}${ok ? '' : '  NOT MET'}`;
    }
    figures['tcb completion bash / --help'] = `${(median(times['tcb completion bash']) / median(times['tcb --help'])).toFixed(2)}x (the generator only: close to 1)`;
    figures.goal = met ? 'met' : 'NOT met';
    report('startup', figures);
  } finally {
    await sandbox.close();
    rmSync(configDir, { recursive: true, force: true });
  }
}
