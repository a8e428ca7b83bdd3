/**
 * Webhook listener throughput: events acknowledged per second with durable commits (WAL,
 * synchronous=FULL, 200 only after the commit), 20 concurrent senders on keep-alive connections,
 * then a check that every acknowledged event is in the store (zero lost). Goals: >= 2000 events/s,
 * and >= 0.7 x the bare-HTTP ceiling measured in the same run.
 *
 * Measured in the same run, each server in its own process, the same senders:
 *   - bare HTTP: a Node server answering 200 without parsing or storing (the HTTP ceiling);
 *   - one commit per event: the listener with group commit off (maxBatch 1: one event per transaction);
 *   - tcb webhook listen: the real CLI (group commit).
 * The variants run interleaved in rounds and the medians are reported, so machine noise hits each
 * alike. Env: BENCH_WEBHOOK_EVENTS (per run, default 10000; the slow per-event baseline gets a
 * third), BENCH_WEBHOOK_ROUNDS (default 3), BENCH_WEBHOOK_SENDERS (default 20).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { benchPostgres } from './lib/postgres-webhooks.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BIN = path.join(ROOT, 'bin', 'tcb.js');
const DIST_LISTENER = pathToFileURL(path.join(ROOT, 'dist', 'services', 'webhooks', 'listener.js')).href;
const DIST_STORE = pathToFileURL(path.join(ROOT, 'dist', 'services', 'webhooks', 'store.js')).href;
const DIST_STORES = pathToFileURL(path.join(ROOT, 'dist', 'services', 'webhooks', 'stores.js')).href;
const DIST_LOG = pathToFileURL(path.join(ROOT, 'dist', 'services', 'webhooks', 'log.js')).href;
const RATIO_GOAL = 0.7;
const RATE_GOAL = 2000;
const EVENTS = Number(process.env.BENCH_WEBHOOK_EVENTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_WEBHOOK_ROUNDS ?? 3);
const SENDERS = Number(process.env.BENCH_WEBHOOK_SENDERS ?? 20);
const KEY = 'bench-webhook-key-0123456789abcdef';
const EXAMPLE = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'api', 'webhook.cmb.slot-picker-happy-flow.json'), 'utf8'));

/** Starts a server process that prints {"url": ...} on stdout; resolves with its URL and a stop(). */
function startServer(args, env = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
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
    exited.then(({ code }) => reject(new Error(`server exited ${code}: ${err}`)));
  });
}

const BARE_SERVER = `
import { createServer } from 'node:http';
const server = createServer((req, res) => {
  req.on('data', () => {});
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"status":"ok"}'); });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ url: 'http://127.0.0.1:' + server.address().port + '/' })));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
`;

const PER_EVENT_SERVER = (store) => `
import { startWebhookListener } from ${JSON.stringify(DIST_LISTENER)};
import { openEventSink } from ${JSON.stringify(DIST_STORES)};
import { createDaemonLog } from ${JSON.stringify(DIST_LOG)};
const sink = await openEventSink(${JSON.stringify(store)});
const log = createDaemonLog({ format: 'text', accessLog: false });
const handle = await startWebhookListener({ port: 0, host: '127.0.0.1', sink, log, key: process.env.TCB_WEBHOOK_KEY, maxBatch: 1 });
console.log(JSON.stringify({ url: handle.url }));
process.on('SIGTERM', () => handle.close().then(() => process.exit(0)));
`;

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

/** SENDERS loops, each on its own keep-alive connection, until EVENTS posts were answered. */
async function blast(url, label, events = EVENTS) {
  const target = `${url}tcbiz-webhook?key=${KEY}`;
  const acknowledged = [];
  let next = 0;
  let failures = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (next < events) {
        const id = `${label}-${next}`;
        next += 1;
        const body = JSON.stringify({ ...EXAMPLE, event_id: id });
        const status = await post(agent, target, body);
        if (status === 200) acknowledged.push(id);
        else failures += 1;
      }
      agent.destroy();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { perSecond: acknowledged.length / seconds, acknowledged, failures, seconds };
}

function storedIds(file) {
  return import(DIST_STORE).then(({ openWebhookStore }) => {
    const store = openWebhookStore(file, { readonly: true });
    try {
      const ids = new Set();
      for (const event of store.events()) ids.add(event.event_id);
      return ids;
    } finally {
      store.close();
    }
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export async function bench({ report }) {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcb-bench-webhooks-'));
  const rates = { bare: [], perEvent: [], tcb: [] };
  let acknowledged = 0;
  let stored = 0;
  let lost = 0;
  let failures = 0;
  let perEventLost = 0;
  const exits = new Set();
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      const bare = await startServer(['--input-type=module', '-e', BARE_SERVER]);
      rates.bare.push((await blast(bare.url, `bare${round}`)).perSecond);
      await bare.stop();

      const perEventStore = path.join(dir, `per-event-${round}.sqlite`);
      const perEvent = await startServer(['--input-type=module', '-e', PER_EVENT_SERVER(perEventStore)]);
      const perEventRun = await blast(perEvent.url, `per-event${round}`, Math.ceil(EVENTS / 3));
      rates.perEvent.push(perEventRun.perSecond);
      await perEvent.stop();
      const perEventIds = await storedIds(perEventStore);
      perEventLost += perEventRun.acknowledged.filter((id) => !perEventIds.has(id)).length;

      const storeFile = path.join(dir, `events-${round}.sqlite`);
      const listener = await startServer([BIN, 'webhook', 'listen', '--store', storeFile, '--port', '0', '--json']);
      const run = await blast(listener.url, `tcb${round}`);
      rates.tcb.push(run.perSecond);
      exits.add((await listener.stop()).code);
      const ids = await storedIds(storeFile);
      acknowledged += run.acknowledged.length;
      stored += ids.size;
      failures += run.failures;
      lost += run.acknowledged.filter((id) => !ids.has(id)).length;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const bare = median(rates.bare);
  const perEvent = median(rates.perEvent);
  const tcb = median(rates.tcb);
  report('webhooks', {
    senders: SENDERS,
    'rounds x events per run': `${ROUNDS} x ${EVENTS}`,
    'bare HTTP 200, no store (median events/s)': bare.toFixed(0),
    'one commit per event (median events/s)': `${perEvent.toFixed(0)} (lost ${perEventLost})`,
    'tcb webhook listen (median events/s)': tcb.toFixed(0),
    'tcb runs events/s': rates.tcb.map((r) => r.toFixed(0)).join(', '),
    'acknowledged / stored / lost': `${acknowledged} / ${stored} / ${lost}`,
    'non-200 answers': failures,
    'listener exit codes on SIGTERM': [...exits].join(', '),
    'group commit vs one commit per event': `${(tcb / perEvent).toFixed(2)}x`,
    'listener vs bare HTTP': `${(tcb / bare).toFixed(2)}x (goal >= ${RATIO_GOAL}x: ${tcb / bare >= RATIO_GOAL ? 'met' : 'NOT met'})`,
    goal: `${tcb >= RATE_GOAL && lost === 0 ? 'met' : 'NOT met'} (>= ${RATE_GOAL} events/s durable, zero lost)`,
  });
  // Several receivers on one PostgreSQL store, beside SQLite (lib/postgres-webhooks.mjs).
  await benchPostgres({ report });
}
