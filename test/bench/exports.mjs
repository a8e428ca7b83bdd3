import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * Exports: memory stays flat whatever the size of the log. The same export runs against logs of
 * SMALL and LARGE rows (the sandbox serves them as one CSV download); peak RSS of the tcb process
 * is measured by a preloaded hook, and reported as a ratio against the small run. Goal: a CSV export
 * of 200 000 rows peaks at ≤ 80 MB.
 */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'tcb.js');
const SMALL = Number(process.env.BENCH_EXPORT_SMALL ?? 10_000);
const LARGE = Number(process.env.BENCH_EXPORT_LARGE ?? 200_000);
const RSS_HOOK = `data:text/javascript,process.on('exit',()=>process.stderr.write('\\nMAXRSS_KB='+process.resourceUsage().maxRSS+'\\n'))`;

function runExport(env, args) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, ['--import', RSS_HOOK, BIN, ...args], { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c) => (stderr += c));
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      const rss = /MAXRSS_KB=(\d+)/.exec(stderr);
      if (code !== 0 || !rss) reject(new Error(`export exited ${code}:\n${stderr}`));
      else resolve({ ms, rssMb: Number(rss[1]) / 1024 });
    });
  });
}

export async function bench({ report }) {
  const { startSandbox } = await import(pathToFileURL(path.join(ROOT, 'dist', 'sandbox', 'server.js')).href);
  const { cmbLogEvents } = await import(pathToFileURL(path.join(ROOT, 'dist', 'sandbox', 'routes', 'logs.js')).href);
  const sandbox = await startSandbox({ port: 0 });
  const configDir = mkdtempSync(path.join(tmpdir(), 'tcb-bench-exports-'));
  const env = {
    ...process.env,
    TCB_CONFIG_DIR: configDir,
    TCB_BASE_URL: sandbox.url,
    TCB_CLIENT_ACCOUNT_ID: sandbox.credentials.clientAccountId,
    TCB_KEY_ID: sandbox.credentials.keyId,
    TCB_API_KEY: sandbox.credentials.apiKey,
  };
  try {
    const events = cmbLogEvents(sandbox.state);
    const template = events[0];
    const base = Date.parse('2020-01-01T00:00:00Z');
    events.length = 0;
    for (let i = 0; i < LARGE; i += 1) events.push({ ...template, id: `bench-${i}`, requestedAt: base + i * 1000 });
    const range = (n) => ['--from', String(base), '--to', String(base + (n - 1) * 1000)];
    const figures = {};
    for (const format of ['csv', 'ndjson']) {
      await runExport(env, ['cmb', 'export', ...range(SMALL), '--format', format]); // warm-up (token, file cache)
      const small = await runExport(env, ['cmb', 'export', ...range(SMALL), '--format', format]);
      const large = await runExport(env, ['cmb', 'export', ...range(LARGE), '--format', format]);
      figures[`${format}: peak RSS ${SMALL} rows (MB)`] = small.rssMb.toFixed(1);
      figures[`${format}: peak RSS ${LARGE} rows (MB${format === 'csv' ? ', goal ≤ 80' : ''})`] = large.rssMb.toFixed(1);
      figures[`${format}: RSS ratio ${LARGE / SMALL}x rows`] = (large.rssMb / small.rssMb).toFixed(2);
      figures[`${format}: rows/s at ${LARGE} rows`] = Math.round(LARGE / (large.ms / 1000));
    }
    report('exports (memory stays flat)', figures);
  } finally {
    await sandbox.close();
    rmSync(configDir, { recursive: true, force: true });
  }
}
