/**
 * Several `tcb webhook listen` processes (the built CLI) on one real PostgreSQL database, and the
 * exports reading it. One throwaway server for the whole file; each test has its own database.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv, runTcb, tempDir, type RunResult } from '../helpers/cli.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres.js';

const KEY = 'e2e-pg-webhook-key-0123456789abcdef';
const WRITER = 'tcb_writer';
// Distinctive, so a leak anywhere in any output is found by a plain search.
const PASSWORD = 'Pg-S3cret/pass@word-7f3a';
const EXAMPLE = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'api', 'webhook.cmb.slot-picker-happy-flow.json'), 'utf8'));
const FEEDBACK = JSON.parse(readFileSync(path.join(ROOT, 'test', 'fixtures', 'api', 'webhook.user-feedback.json'), 'utf8'));

/** Every stdout and stderr of every process this file starts: the password must be in none. */
const outputs: string[] = [];

interface Listener {
  child: ChildProcessWithoutNullStreams;
  url: string;
  hook: string;
  info: Record<string, unknown>;
  stderr: () => string;
  /** Resolves when a stderr line matches. */
  waitForLog: (pattern: RegExp) => Promise<string>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startListener(store: string, env: Record<string, string | undefined>, extraArgs: string[] = []): Promise<Listener> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'webhook', 'listen', '--store', store, '--port', '0', '--json', ...extraArgs], {
      cwd: ROOT,
      env: baseEnv({ TCB_WEBHOOK_KEY: KEY, ...env }),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let started = false;
    const watchers: Array<{ pattern: RegExp; resolve: (line: string) => void }> = [];
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
      child.on('close', (code, signal) => {
        outputs.push(stdout, stderr);
        done({ code, signal });
      }),
    );
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk;
      for (const watcher of [...watchers]) {
        const line = stderr.split('\n').find((l) => watcher.pattern.test(l));
        if (line) {
          watchers.splice(watchers.indexOf(watcher), 1);
          watcher.resolve(line);
        }
      }
    });
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      if (started) return;
      try {
        const info = JSON.parse(stdout);
        started = true;
        resolve({
          child,
          url: info.url,
          hook: `${info.url}tcbiz-webhook?key=${KEY}`,
          info,
          stderr: () => stderr,
          waitForLog: (pattern) =>
            new Promise((done) => {
              const line = stderr.split('\n').find((l) => pattern.test(l));
              if (line) done(line);
              else watchers.push({ pattern, resolve: done });
            }),
          exited,
        });
      } catch {
        // not a whole JSON object yet
      }
    });
    void exited.then(({ code }) => {
      if (!started) reject(new Error(`listener exited with ${code}:\n${stderr}`));
    });
  });
}

async function stop(listener: Listener): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (listener.child.exitCode === null && listener.child.signalCode === null) listener.child.kill('SIGTERM');
  return listener.exited;
}

interface Answer {
  status: number;
  json: any;
  retryAfter: string | null;
}

/** One POST on its own connection (or the agent's); a refused or reset connection rejects. */
function post(url: string, body: object | string, agent?: Agent): Promise<Answer> {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent: agent ?? false, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) } }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (chunk) => (data += chunk));
      res.on('end', () => {
        let json: unknown = data;
        try {
          json = JSON.parse(data);
        } catch {
          // keep the text
        }
        resolve({ status: res.statusCode ?? 0, json, retryAfter: (res.headers['retry-after'] as string | undefined) ?? null });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(text);
  });
}

async function tcb(args: string[], env: Record<string, string | undefined>, timeoutMs = 45_000): Promise<RunResult> {
  // A process still running at timeoutMs is killed: its result then has a signal.
  const result = await runTcb(args, { env, timeoutMs });
  outputs.push(result.stdout, result.stderr);
  return result;
}

const cmb = (id: string) => ({ ...EXAMPLE, event_id: id });

describe('tcb webhook listen on PostgreSQL: several receivers, one database', () => {
  let server: PostgresServer;
  const config = tempDir('tcb-pg-e2e-');
  /** The environment of a receiver or an export: the password only in PGPASSWORD. */
  const env = { PGPASSWORD: PASSWORD, TCB_CONFIG_DIR: config.dir };
  const newDatabase = async (prefix: string) => {
    const db = await server.createDatabase(prefix, { user: WRITER, password: PASSWORD });
    return { db, url: server.url(db, WRITER) };
  };
  const stored = (db: string) =>
    server.query<{ event_id: string; deliveries: number; seq: string }>('SELECT event_id, deliveries, seq FROM tcb_webhook_events ORDER BY seq', [], db);

  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.destroy();
    config.cleanup();
  });

  it('every event posted to both receivers at once is stored once, with both deliveries counted', async () => {
    const { db, url } = await newDatabase('both');
    const [a, b] = await Promise.all([startListener(url, env), startListener(url, env)]);
    expect(a.info.store).toBe(url);
    const ids = Array.from({ length: 40 }, (_, i) => `both-${i}`);
    const answers = await Promise.all(ids.map((id) => Promise.all([post(a.hook, cmb(id)), post(b.hook, cmb(id))])));
    for (const [fromA, fromB] of answers) {
      expect([fromA.status, fromB.status]).toEqual([200, 200]);
      // Exactly one of the two stored it; the other found it there.
      expect([fromA.json.duplicate, fromB.json.duplicate].sort()).toEqual([false, true]);
    }
    const rows = await stored(db);
    expect(rows.map((r) => r.event_id).sort()).toEqual([...ids].sort());
    expect(rows.every((r) => r.deliveries === 2)).toBe(true);
    expect((await stop(a)).code).toBe(0);
    expect((await stop(b)).code).toBe(0);
  });

  it('kill -9 of one receiver mid-burst: every acknowledged event is stored, the rest go to the other', async () => {
    const { db, url } = await newDatabase('kill');
    const [a, b] = await Promise.all([startListener(url, env), startListener(url, env)]);
    const ids = Array.from({ length: 240 }, (_, i) => `kill-${i}`);
    const acknowledged = new Set<string>();
    let fromA = 0;
    let refusedByA = 0;
    let next = 0;
    const killAfter = 40;
    // Like a load balancer: alternate, and send to the other receiver when one fails.
    const sender = async () => {
      const agents = [new Agent({ keepAlive: true, maxSockets: 1 }), new Agent({ keepAlive: true, maxSockets: 1 })];
      while (next < ids.length) {
        const index = next++;
        const id = ids[index]!;
        const order = index % 2 === 0 ? [0, 1] : [1, 0];
        for (const which of order) {
          const target = which === 0 ? a : b;
          try {
            const answer = await post(target.hook, cmb(id), agents[which]);
            if (answer.status !== 200) continue;
            acknowledged.add(id);
            if (which === 0 && ++fromA === killAfter) a.child.kill('SIGKILL');
            break;
          } catch {
            if (which === 0) refusedByA += 1;
          }
        }
      }
      agents.forEach((agent) => agent.destroy());
    };
    await Promise.all(Array.from({ length: 8 }, () => sender()));
    expect(fromA).toBeGreaterThanOrEqual(killAfter);
    expect((await a.exited).signal).toBe('SIGKILL');
    expect(refusedByA).toBeGreaterThan(0);
    expect(acknowledged.size).toBe(ids.length);
    const rows = await stored(db);
    const inDatabase = new Set(rows.map((r) => r.event_id));
    expect([...acknowledged].filter((id) => !inDatabase.has(id))).toEqual([]);
    expect(rows.length).toBe(ids.length);
    // The killed receiver's events are all there after a restart too.
    const again = await startListener(url, env);
    expect(again.info.events_stored).toBe(ids.length);
    await stop(again);
    expect((await stop(b)).code).toBe(0);
  }, 180_000);

  it('--since-last while two receivers write: each event exported exactly once, a late commit included', async () => {
    const { db, url } = await newDatabase('since');
    const [a, b] = await Promise.all([startListener(url, env), startListener(url, env)]);
    const exported: string[] = [];
    const exportOnce = async () => {
      const result = await tcb(['cmb', 'export', '--source', 'webhook', '--store', url, '--since-last', '--format', 'ndjson'], env);
      expect(result.code, result.stderr).toBe(0);
      for (const line of result.stdout.split('\n').filter(Boolean)) exported.push(JSON.parse(line).event_id);
    };
    await post(a.hook, cmb('first'));
    // A receiver whose commit is slow: its row takes a seq now and becomes visible only later.
    const { default: pg } = await import('pg');
    const slow = new pg.Client({ host: server.socketDir, port: server.port, user: 'postgres', database: db });
    await slow.connect();
    await slow.query('BEGIN');
    await slow.query(
      `INSERT INTO tcb_webhook_events (event_key, event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, body)
       VALUES (sha256(convert_to('late', 'UTF8')), 'late', 'cmb', '1753945760', 1753945760000, 0, 0, convert_to($1, 'UTF8'))`,
      [JSON.stringify(cmb('late'))],
    );
    const writer = async (listener: Listener, name: string) => {
      for (let i = 0; i < 40; i += 1) expect((await post(listener.hook, cmb(`${name}-${i}`))).status).toBe(200);
    };
    const exports = (async () => {
      for (let i = 0; i < 3; i += 1) await exportOnce();
    })();
    await Promise.all([writer(a, 'a'), writer(b, 'b'), exports]);
    expect(exported).not.toContain('late');
    await slow.query('COMMIT');
    await slow.end();
    await exportOnce();
    await exportOnce();
    const all = (await stored(db)).map((r) => r.event_id);
    expect(all).toContain('late');
    expect(exported.length).toBe(all.length);
    expect(new Set(exported).size).toBe(exported.length);
    expect([...exported].sort()).toEqual([...all].sort());
    await Promise.all([stop(a), stop(b)]);
  });

  it('exports by range in csv, and user_feedback rows, from the shared store', async () => {
    const { url } = await newDatabase('range');
    const a = await startListener(url, env);
    expect((await post(a.hook, cmb('r1'))).status).toBe(200);
    expect((await post(a.hook, { ...FEEDBACK, event_id: 'f1' })).status).toBe(200);
    await stop(a);
    const csv = await tcb(['cmb', 'export', '--source', 'webhook', '--store', url, '--format', 'csv'], env);
    expect(csv.code, csv.stderr).toBe(0);
    const lines = csv.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^event_id,event_type,/);
    expect(lines.slice(1).map((l) => l.split(',')[0])).toEqual(['r1']);
    const feedback = await tcb(['feedback', 'export', '--source', 'webhook', '--store', url, '--json'], env);
    expect(feedback.code, feedback.stderr).toBe(0);
    const rows = JSON.parse(feedback.stdout);
    expect(rows.length).toBe(FEEDBACK.survey_payload.user_responses.length);
    expect(new Set(rows.map((r: { event_id: string }) => r.event_id))).toEqual(new Set(['f1']));
  });

  it('the password never shows: URL on argv is masked, --verbose, a wrong password, a missing store', async () => {
    const { db } = await newDatabase('secret');
    const withPassword = server.urlWithPassword(db, WRITER, PASSWORD);
    const listener = await startListener(withPassword, { TCB_CONFIG_DIR: config.dir }, ['--verbose']);
    expect(listener.info.store).toBe(`postgres://${WRITER}:***@127.0.0.1:${server.port}/${db}`);
    await listener.waitForLog(/password is in --store/);
    expect((await post(listener.hook, cmb('s1'))).status).toBe(200);
    await stop(listener);

    const exported = await tcb(['cmb', 'export', '--source', 'webhook', '--store', withPassword, '--verbose', '--json'], { TCB_CONFIG_DIR: config.dir });
    expect(exported.code, exported.stderr).toBe(0);
    expect(JSON.parse(exported.stdout).map((r: { event_id: string }) => r.event_id)).toEqual(['s1']);

    // The password from a private .pgpass (PGPASSFILE), nothing else.
    const pgpass = path.join(config.dir, 'pgpass');
    writeFileSync(pgpass, `127.0.0.1:${server.port}:${db}:${WRITER}:${PASSWORD.replace(/[:\\]/g, '\\$&')}\n`, { mode: 0o600 });
    const fromFile = await tcb(['cmb', 'export', '--source', 'webhook', '--store', server.url(db, WRITER), '--json', '--verbose'], { TCB_CONFIG_DIR: config.dir, PGPASSFILE: pgpass });
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(JSON.parse(fromFile.stdout).map((r: { event_id: string }) => r.event_id)).toEqual(['s1']);

    const wrong = await tcb(['cmb', 'export', '--source', 'webhook', '--store', server.urlWithPassword(db, WRITER, `${PASSWORD}-x`)], { TCB_CONFIG_DIR: config.dir });
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/wrong or missing password/);
    const wrongListener = await tcb(['webhook', 'listen', '--store', server.url(db, WRITER), '--port', '0'], { ...env, PGPASSWORD: `${PASSWORD}-y`, TCB_WEBHOOK_KEY: KEY });
    expect(wrongListener.code).toBe(3);
    const empty = await newDatabase('empty');
    const none = await tcb(['cmb', 'export', '--source', 'webhook', '--store', empty.url], env);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/has no tcb webhook store/);
    const badScheme = await tcb(['cmb', 'export', '--source', 'webhook', '--store', `mysql://${WRITER}:${PASSWORD}@127.0.0.1/db`], env);
    expect(badScheme.code).toBe(2);
    expect(badScheme.stderr).toMatch(/mysql URL/);
  });

  it('database stopped: 503 with Retry-After, /healthz 503, the receiver stays up; it recovers once the database is back', async () => {
    const { db, url } = await newDatabase('down');
    const listener = await startListener(url, env);
    expect((await post(listener.hook, cmb('before'))).status).toBe(200);

    await server.stop();
    const refused = await post(listener.hook, cmb('during'));
    expect(refused.status).toBe(503);
    // The seconds until the receiver tries the database again (its backoff is at most 10 s).
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(refused.retryAfter)).toBeLessThanOrEqual(10);
    await listener.waitForLog(/PostgreSQL is unavailable/);
    const health = await fetch(`${listener.url}healthz`);
    expect(health.status).toBe(503);
    expect((await post(listener.hook, cmb('during'))).status).toBe(503);
    expect(listener.child.exitCode).toBeNull();

    await server.start();
    await listener.waitForLog(/reachable again/);
    expect((await post(listener.hook, cmb('during'))).status).toBe(200);
    expect((await fetch(`${listener.url}healthz`)).status).toBe(200);
    expect((await stored(db)).map((r) => r.event_id)).toEqual(['before', 'during']);
    expect((await stop(listener)).code).toBe(0);
  });

  it('no process above printed the password, in any form, on stdout or stderr; the export state does not hold it', () => {
    const state = readFileSync(path.join(config.dir, 'export-state.json'), 'utf8');
    expect(state).toContain(`postgres://${WRITER}@127.0.0.1:${server.port}/`);
    outputs.push(state);
    const all = outputs.join('\n');
    expect(outputs.length).toBeGreaterThan(20);
    expect(all).toContain(`${WRITER}:***@`);
    for (const form of [PASSWORD, encodeURIComponent(PASSWORD)]) expect(all.includes(form), `password (${form}) in the output`).toBe(false);
  });
});
