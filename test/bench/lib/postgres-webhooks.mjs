/**
 * The webhook bench's PostgreSQL section: receivers sharing one PostgreSQL store, beside the SQLite
 * store, all measured in the same run with the same senders (20 keep-alive connections by default).
 *
 *   - SQLite, one receiver: `tcb webhook listen --store FILE` (the baseline);
 *   - PostgreSQL, one receiver: `tcb webhook listen --store postgres://…`;
 *   - PostgreSQL, two receivers on one database: the senders split between them, as behind a
 *     load balancer.
 *
 * The PostgreSQL server is a throwaway one on this machine (test/helpers/postgres.ts) with fsync
 * on, so "durable" means what it says: a 200 is sent after COMMIT has been flushed to disk. After
 * each run, every acknowledged event_id is looked up in the store: lost = acknowledged, not stored.
 * Variants are interleaved in rounds; medians are reported. Env as webhooks.mjs:
 * BENCH_WEBHOOK_EVENTS, BENCH_WEBHOOK_ROUNDS, BENCH_WEBHOOK_SENDERS.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'tcb.js');
const DIST_STORES = pathToFileURL(path.join(ROOT, 'dist', 'services', 'webhooks', 'stores.js')).href;
const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_WEBHOOK_ROUNDS ?? 3);
const SENDERS = Number(process.env.BENCH_WEBHOOK_SENDERS ?? 20);
const KEY = 'bench-webhook-key-0123456789abcdef';
const DB_USER = 'tcb_bench';
const DB_PASSWORD = 'bench-password-0123456789';
const EXAMPLE = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'api', 'webhook.cmb.slot-picker-happy-flow.json'), 'utf8'));

/** The test helper is TypeScript: compiled once into node_modules/.cache (where it finds `pg`). */
async function loadPostgresHelper() {
  const { build } = await import('esbuild');
  const dir = path.join(ROOT, 'node_modules', '.cache', 'tcb-bench');
  mkdirSync(dir, { recursive: true });
  const outfile = path.join(dir, 'postgres.mjs');
  await build({ entryPoints: [path.join(ROOT, 'test', 'helpers', 'postgres.ts')], outfile, format: 'esm', platform: 'node', logLevel: 'error' });
  return import(pathToFileURL(outfile).href);
}

function startListener(store, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'webhook', 'listen', '--store', store, '--port', '0', '--json'], {
      cwd: ROOT,
      env: { ...process.env, TCB_WEBHOOK_KEY: KEY, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const exited = new Promise((done) => child.on('close', (code, signal) => done({ code, signal })));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (err += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk) => {
      out += chunk;
      const match = /"url":\s*"([^"]+)"/.exec(out);
      if (match) resolve({ url: match[1], stop: () => (child.kill('SIGTERM'), exited) });
    });
    exited.then(({ code }) => reject(new Error(`listener exited ${code}: ${err}`)));
  });
}

function post(agent, url, body) {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** SENDERS loops on keep-alive connections, spread over the receivers (sender i → receiver i mod n). */
async function blast(urls, label) {
  const acknowledged = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: SENDERS }, async (_, i) => {
      const target = `${urls[i % urls.length]}tcbiz-webhook?key=${KEY}`;
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (next < EVENTS) {
        const id = `${label}-${next}`;
        next += 1;
        const status = await post(agent, target, JSON.stringify({ ...EXAMPLE, event_id: id }));
        if (status === 200) acknowledged.push(id);
        else failures += 1;
      }
      agent.destroy();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: acknowledged.length / seconds, acknowledged, failures };
}

async function storedIds(store, env) {
  const { openEventReader, resolveStoreLocation } = await import(DIST_STORES);
  const reader = await openEventReader(resolveStoreLocation(store, { ...process.env, ...env }));
  try {
    const ids = new Set();
    for await (const event of reader.events()) ids.add(event.event_id);
    return ids;
  } finally {
    await reader.close();
  }
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function benchPostgres({ report }) {
  const { startPostgres, findPostgresBinary } = await loadPostgresHelper();
  if (!findPostgresBinary('initdb')) {
    report('webhooks on PostgreSQL', { skipped: 'PostgreSQL is not installed (apt-get install postgresql)' });
    return;
  }
  const server = await startPostgres({ fsync: true, settings: { max_connections: 60 } });
  const dir = mkdtempSync(path.join(tmpdir(), 'tcb-bench-pg-'));
  const env = { PGPASSWORD: DB_PASSWORD };
  const rates = { sqlite: [], pgOne: [], pgTwo: [] };
  const totals = { sqlite: { ack: 0, lost: 0, failed: 0 }, pgOne: { ack: 0, lost: 0, failed: 0 }, pgTwo: { ack: 0, lost: 0, failed: 0 } };
  const measure = async (variant, stores, label, storeForCheck, checkEnv = {}) => {
    const listeners = await Promise.all(stores.map((store) => startListener(store, env)));
    const run = await blast(listeners.map((l) => l.url), label);
    await Promise.all(listeners.map((l) => l.stop()));
    const ids = await storedIds(storeForCheck, checkEnv);
    rates[variant].push(run.perSecond);
    totals[variant].ack += run.acknowledged.length;
    totals[variant].failed += run.failures;
    totals[variant].lost += run.acknowledged.filter((id) => !ids.has(id)).length;
  };
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      const file = path.join(dir, `events-${round}.sqlite`);
      await measure('sqlite', [file], `sqlite${round}`, file);
      const one = server.url(await server.createDatabase(`one${round}`, { user: DB_USER, password: DB_PASSWORD }), DB_USER);
      await measure('pgOne', [one], `pg1-${round}`, one, env);
      const two = server.url(await server.createDatabase(`two${round}`, { user: DB_USER, password: DB_PASSWORD }), DB_USER);
      await measure('pgTwo', [two, two], `pg2-${round}`, two, env);
    }
  } finally {
    await server.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
  const sqlite = median(rates.sqlite);
  const pgOne = median(rates.pgOne);
  const pgTwo = median(rates.pgTwo);
  const line = (variant) => `${totals[variant].ack} / ${totals[variant].lost} / ${totals[variant].failed}`;
  const lost = totals.pgOne.lost + totals.pgTwo.lost;
  report('webhooks on PostgreSQL', {
    senders: SENDERS,
    'rounds x events per run': `${ROUNDS} x ${EVENTS}`,
    'SQLite, 1 receiver (median events/s)': sqlite.toFixed(0),
    'PostgreSQL, 1 receiver (median events/s)': pgOne.toFixed(0),
    'PostgreSQL, 2 receivers, 1 database': pgTwo.toFixed(0),
    'runs, 2 receivers (events/s)': rates.pgTwo.map((r) => r.toFixed(0)).join(', '),
    'acknowledged / lost / non-200: SQLite': line('sqlite'),
    '... PostgreSQL 1 receiver': line('pgOne'),
    '... PostgreSQL 2 receivers': line('pgTwo'),
    '2 receivers on PostgreSQL vs SQLite': `${(pgTwo / sqlite).toFixed(2)}x`,
    '2 receivers vs 1 on PostgreSQL': `${(pgTwo / pgOne).toFixed(2)}x`,
    'durable, zero lost': lost === 0 && totals.sqlite.lost === 0 ? 'yes' : `NO (${lost} lost on PostgreSQL)`,
  });
}
