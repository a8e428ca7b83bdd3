import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openWebhookStore } from '../../src/services/webhooks/store.js';
import { errorEnvelope, runTcb, tempDir } from '../helpers/cli.js';
import { KEY, fixture, fixtureText, post, rawConnection, startListener, stop, storedEvent, storedEvents, type Listener } from '../helpers/webhook.js';

/**
 * `tcb webhook listen` as a production daemon: what it stores, how it stays up, what it says.
 * Every test drives a real listener process over real sockets. Nothing waits on a clock: timeouts
 * are configured short and the test waits for the event itself (a socket's close, a log line).
 */

const jsonLines = (text: string): Array<Record<string, any>> =>
  text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line));

const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** As root, permission bits do not stop writes: run the listener as nobody to meet a read-only store. */
const unprivileged = process.getuid?.() === 0 ? { uid: 65534, gid: 65534 } : {};

describe('data: every authenticated event with an event_id is stored, byte for byte', () => {
  const tmp = tempDir('tcb-webhook-daemon-');
  let listener: Listener;
  let storeFile: string;
  const cmb = () => fixture('webhook.cmb.slot-picker-happy-flow.json');
  const exportEnv = () => ({ TCB_CONFIG_DIR: path.join(tmp.dir, 'config') });

  beforeAll(async () => {
    storeFile = path.join(tmp.dir, 'events.sqlite');
    // No --verbose and no terminal: warnings must reach stderr all the same.
    listener = await startListener(storeFile);
  });
  afterAll(async () => {
    if (listener) await stop(listener);
    tmp.cleanup();
  });

  it('stores events the docs do not describe, answers 200, flags them unrecognised and warns on stderr', async () => {
    const cases: Array<[string, object, RegExp]> = [
      ['odd-type', { ...cmb(), event_id: 'odd-type', event_type: 'call_log' }, /event_type "call_log" is not "cmb" or "user_feedback"/],
      ['no-type', { ...cmb(), event_id: 'no-type', event_type: undefined }, /event_type is missing/],
      ['string-bool', { ...cmb(), event_id: 'string-bool', cmb_payload: { ...cmb().cmb_payload, is_interested: 'true' } }, /is_interested must be true or false/],
      ['numeric-number', { ...cmb(), event_id: 'numeric-number', cmb_payload: { ...cmb().cmb_payload, client_number: 911234567890 } }, /client_number must be a string/],
      ['no-created-at', { ...cmb(), event_id: 'no-created-at', created_at: undefined }, /created_at is missing/],
    ];
    for (const [id, body, reason] of cases) {
      const text = JSON.stringify(body);
      const answer = await post(listener.hook, text);
      expect(answer.status, id).toBe(200);
      expect(answer.json).toMatchObject({ status: 'ok', event_id: id, duplicate: false, unrecognised: expect.stringMatching(reason) });
      const stored = storedEvent(storeFile, id)!;
      expect(Buffer.from(stored.body).toString('utf8')).toBe(text);
      expect(stored.unrecognised_reason).toMatch(reason);
    }
    // The log is written asynchronously: wait for the last warning before reading them all.
    await listener.waitForStderr(/"event_id":"no-created-at"/);
    const warnings = jsonLines(listener.stderr()).filter((line) => line.level === 'warn');
    for (const [id, , reason] of cases) {
      expect(warnings.find((w) => w.event_id === id), id).toMatchObject({ reason: expect.stringMatching(reason) });
    }
  });

  it('keeps the raw bytes: invalid UTF-8 is not replaced, a BOM is not stripped', async () => {
    const latin1 = Buffer.concat([Buffer.from(`{"event_id":"latin1","event_type":"cmb","created_at":"1753945760","cmb_payload":{"cmb_config_name":"Caf`), Buffer.from([0xe9]), Buffer.from('"}}')]);
    const answer = await post(listener.hook, latin1);
    expect(answer.status).toBe(200);
    expect(answer.json.unrecognised).toMatch(/not valid UTF-8/);
    expect(Buffer.from(storedEvent(storeFile, 'latin1')!.body).equals(latin1)).toBe(true);

    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify({ ...cmb(), event_id: 'with-bom' }))]);
    const bomAnswer = await post(listener.hook, withBom);
    expect(bomAnswer.status).toBe(200);
    expect(bomAnswer.json.unrecognised).toBeUndefined();
    const stored = storedEvent(storeFile, 'with-bom')!;
    expect(Buffer.from(stored.body).equals(withBom)).toBe(true);
    expect(stored.unrecognised_reason).toBeNull();
  });

  it('a redelivery with a different body keeps the first, records the conflicting body and warns', async () => {
    const first = JSON.stringify({ ...cmb(), event_id: 'conflicted' });
    const second = JSON.stringify({ ...cmb(), event_id: 'conflicted', created_at: '1753949999' });
    expect((await post(listener.hook, first)).json).toMatchObject({ duplicate: false });
    const answer = await post(listener.hook, second);
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ duplicate: true, conflict: true });
    expect((await post(listener.hook, first)).json.conflict).toBeUndefined(); // the same bytes again: a plain duplicate

    const stored = storedEvent(storeFile, 'conflicted')!;
    expect(Buffer.from(stored.body).toString()).toBe(first);
    expect(stored).toMatchObject({ deliveries: 3, conflicts: 1 });
    const store = openWebhookStore(storeFile, { readonly: true });
    try {
      const conflicts = store.conflicts('conflicted');
      expect(conflicts).toHaveLength(1);
      expect(Buffer.from(conflicts[0]!.body).toString()).toBe(second);
    } finally {
      store.close();
    }
    await listener.waitForStderr(/"event_id":"conflicted"/);
    const warning = jsonLines(listener.stderr()).find((line) => line.level === 'warn' && line.event_id === 'conflicted');
    expect(warning).toMatchObject({ conflicts: 1, msg: expect.stringMatching(/different body/) });
  });

  it('exports include unrecognised events: the raw body in a CSV column, the event as it came in JSON', async () => {
    const csv = await runTcb(['cmb', 'export', '--source', 'webhook', '--store', storeFile, '--format', 'csv'], { env: exportEnv() });
    expect(csv.code, csv.stderr).toBe(0);
    const { parse } = await import('csv-parse/sync');
    const rows: Array<Record<string, string>> = parse(csv.stdout, { columns: true });
    const byId = new Map(rows.map((row) => [row.event_id, row]));
    const oddText = JSON.stringify({ ...cmb(), event_id: 'string-bool', cmb_payload: { ...cmb().cmb_payload, is_interested: 'true' } });
    expect(byId.get('string-bool')).toMatchObject({ raw: oddText, unrecognised_reason: expect.stringMatching(/is_interested/), is_interested: 'true' });
    expect(byId.get('odd-type')!.raw).toContain('"event_type":"call_log"');
    expect(byId.get('latin1')!.raw).toContain('Caf\ufffd'); // decoded only for the export
    expect(byId.get('with-bom')).toMatchObject({ raw: '', unrecognised_reason: '' });

    const json = await runTcb(['cmb', 'export', '--source', 'webhook', '--store', storeFile, '--format', 'json'], { env: exportEnv() });
    expect(json.code, json.stderr).toBe(0);
    const jsonRows: Array<Record<string, any>> = JSON.parse(json.stdout);
    const numeric = jsonRows.find((row) => row.event_id === 'numeric-number')!;
    expect(numeric.raw).toEqual({ ...cmb(), event_id: 'numeric-number', cmb_payload: { ...cmb().cmb_payload, client_number: 911234567890 } });
    expect(numeric.client_number).toBe(911234567890);
    expect(jsonRows.find((row) => row.event_id === 'conflicted')).toMatchObject({ raw: null, conflicts: 1, deliveries: 3 });

    // An event of an unknown type is in the feedback export too, rather than in neither.
    const feedback = await runTcb(['feedback', 'export', '--source', 'webhook', '--store', storeFile, '--format', 'json'], { env: exportEnv() });
    expect(feedback.code, feedback.stderr).toBe(0);
    const feedbackIds = JSON.parse(feedback.stdout).map((row: { event_id: string }) => row.event_id);
    expect(feedbackIds).toEqual(expect.arrayContaining(['odd-type', 'no-type']));
    expect(feedbackIds).not.toContain('string-bool');
  });
});

describe('the store deleted or replaced while running', () => {
  const tmp = tempDir('tcb-webhook-daemon-');
  afterAll(() => tmp.cleanup());

  it('answers 503 (and /healthz 503 with the reason, an error on stderr) until the file is back', async () => {
    const storeFile = path.join(tmp.dir, 'moved.sqlite');
    const listener = await startListener(storeFile);
    try {
      expect((await post(listener.hook, { ...fixture('webhook.user-feedback.json'), event_id: 'before-move' })).status).toBe(200);
      renameSync(storeFile, `${storeFile}.away`);

      const during = await post(listener.hook, { ...fixture('webhook.user-feedback.json'), event_id: 'during-move' });
      expect(during.status).toBe(503);
      expect(during.headers.get('retry-after')).toMatch(/^\d+$/);
      const health = await fetch(`${listener.url}healthz`);
      expect(health.status).toBe(503);
      const healthBody = await health.json();
      expect(healthBody.error).toMatch(/the store file was deleted or moved/);
      expect(healthBody.error).not.toContain(tmp.dir); // /healthz needs no key: no paths in it
      await listener.waitForStderr(/"level":"error"/);
      expect(jsonLines(listener.stderr()).find((line) => line.level === 'error')).toMatchObject({ msg: expect.stringMatching(/store file was deleted or moved/), store: storeFile });

      renameSync(`${storeFile}.away`, storeFile);
      const after = await post(listener.hook, { ...fixture('webhook.user-feedback.json'), event_id: 'during-move' });
      expect(after.status).toBe(200);
      expect((await fetch(`${listener.url}healthz`)).status).toBe(200);
      await listener.waitForStderr(/the store is writable again/);

      // Replaced by another file: the same answer.
      const other = path.join(tmp.dir, 'other.sqlite');
      openWebhookStore(other).close();
      renameSync(storeFile, `${storeFile}.old`);
      copyFileSync(other, storeFile);
      const replaced = await post(listener.hook, { ...fixture('webhook.user-feedback.json'), event_id: 'after-replace' });
      expect(replaced.status).toBe(503);
      const replacedHealth = await fetch(`${listener.url}healthz`);
      expect((await replacedHealth.json()).error).toMatch(/replaced/);
      renameSync(`${storeFile}.old`, storeFile);
    } finally {
      expect((await stop(listener)).code).toBe(0);
    }
    expect(storedEvents(storeFile).map((e) => e.event_id).sort()).toEqual(['after-replace', 'before-move', 'during-move']);
  });
});

describe('start-up: refuse what cannot work, before saying ready', () => {
  const tmp = tempDir('tcb-webhook-daemon-');
  chmodSync(tmp.dir, 0o755);
  afterAll(() => tmp.cleanup());
  const listen = (store: string, options: { uid?: number; gid?: number } = {}) =>
    startListener(store, [], options).then(
      async (listener) => {
        await stop(listener);
        return { code: 0, stdout: listener.stdout(), stderr: listener.stderr() };
      },
      (error: { code: number; stdout: string; stderr: string }) => error,
    );

  it("another application's SQLite database is refused untouched (exit 2), and so is its export", async () => {
    const file = path.join(tmp.dir, 'crm.sqlite');
    const db = new Database(file);
    db.exec("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO users (name) VALUES ('a')");
    db.close();
    const before = sha256(file);
    const result = await listen(file);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(errorEnvelope(result.stderr).message).toMatch(/crm\.sqlite is not a tcb webhook store: .*other tables \(users\)/);
    expect(sha256(file)).toBe(before);
    expect(existsSync(`${file}-wal`)).toBe(false);

    const exported = await runTcb(['cmb', 'export', '--source', 'webhook', '--store', file], { env: { TCB_CONFIG_DIR: path.join(tmp.dir, 'config') } });
    expect(exported.code).toBe(2);
    expect(errorEnvelope(exported.stderr).message).toMatch(/not a tcb webhook store/);

    const text = path.join(tmp.dir, 'notes.txt');
    writeFileSync(text, 'just some notes\n'.repeat(100));
    const notSqlite = await listen(text);
    expect(notSqlite.code).toBe(2);
    expect(errorEnvelope(notSqlite.stderr).message).toMatch(/notes\.txt is not a tcb webhook store: it is not an SQLite database/);
    expect(readFileSync(text, 'utf8')).toBe('just some notes\n'.repeat(100));

    const folder = await listen(tmp.dir);
    expect(folder.code).toBe(2);
    expect(errorEnvelope(folder.stderr).message).toMatch(/is a directory/);
  });

  it('a store it cannot write (read-only file, read-only folder): exit 2 naming the path, no ready line', async () => {
    const file = path.join(tmp.dir, 'readonly.sqlite');
    openWebhookStore(file).close();
    chmodSync(file, 0o444);
    const readOnlyFile = await listen(file, unprivileged);
    expect(readOnlyFile.code).toBe(2);
    expect(readOnlyFile.stdout).toBe('');
    expect(errorEnvelope(readOnlyFile.stderr).message).toContain(file);

    // A read-only file in a folder the listener may write: SQLite opens it read-only without a
    // word, so only a real write at start-up finds out.
    const writableFolder = path.join(tmp.dir, 'open');
    mkdirSync(writableFolder);
    if (unprivileged.uid !== undefined) chownSync(writableFolder, unprivileged.uid, unprivileged.gid!);
    const readOnlyInOpenFolder = path.join(writableFolder, 'events.sqlite');
    openWebhookStore(readOnlyInOpenFolder).close();
    chmodSync(readOnlyInOpenFolder, 0o444);
    const quietlyReadOnly = await listen(readOnlyInOpenFolder, unprivileged);
    expect(quietlyReadOnly.code).toBe(2);
    expect(quietlyReadOnly.stdout).toBe('');
    expect(errorEnvelope(quietlyReadOnly.stderr).message).toMatch(new RegExp(`cannot write to the webhook store ${readOnlyInOpenFolder}: attempt to write a readonly database`));

    const folder = path.join(tmp.dir, 'locked');
    mkdirSync(folder, { mode: 0o555 });
    chmodSync(folder, 0o555);
    const readOnlyFolder = await listen(path.join(folder, 'events.sqlite'), unprivileged);
    expect(readOnlyFolder.code).toBe(2);
    expect(readOnlyFolder.stdout).toBe('');
    expect(errorEnvelope(readOnlyFolder.stderr).message).toContain(path.join(folder, 'events.sqlite'));

    // A writable file in a folder where SQLite cannot create its -wal file.
    const walless = path.join(tmp.dir, 'walless');
    mkdirSync(walless);
    openWebhookStore(path.join(walless, 'events.sqlite')).close();
    if (unprivileged.uid !== undefined) chownSync(path.join(walless, 'events.sqlite'), unprivileged.uid, unprivileged.gid!);
    chmodSync(walless, 0o555);
    const noWal = await listen(path.join(walless, 'events.sqlite'), unprivileged);
    expect(noWal.code).toBe(2);
    expect(errorEnvelope(noWal.stderr).message).toContain(path.join(walless, 'events.sqlite'));
  });

  it('a version-1 store is migrated in place: events kept (body as bytes), the sequence continues', async () => {
    const file = path.join(tmp.dir, 'v1.sqlite');
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    db.exec(`CREATE TABLE events (
      seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, event_type TEXT NOT NULL, created_at TEXT NOT NULL,
      created_at_ms INTEGER, received_at_ms INTEGER NOT NULL, last_received_ms INTEGER NOT NULL, deliveries INTEGER NOT NULL DEFAULT 1,
      body TEXT NOT NULL);
      CREATE INDEX events_type_created ON events (event_type, created_at_ms);`);
    const text = fixtureText('webhook.cmb.not-interested.json');
    const old = JSON.parse(text);
    db.prepare('INSERT INTO events (seq, event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, deliveries, body) VALUES (7, ?, ?, ?, ?, 1, 2, 3, ?)').run(
      old.event_id,
      old.event_type,
      old.created_at,
      Number(old.created_at) * 1000,
      text,
    );
    db.pragma('user_version = 1');
    db.close();

    const listener = await startListener(file);
    try {
      expect(listener.info.events_stored).toBe(1);
      const answer = await post(listener.hook, { ...fixture('webhook.user-feedback.json'), event_id: 'after-migration' });
      expect(answer.status).toBe(200);
    } finally {
      expect((await stop(listener)).code).toBe(0);
    }
    const events = storedEvents(file);
    expect(events.map((e) => [e.seq, e.event_id])).toEqual([
      [7, old.event_id],
      [8, 'after-migration'],
    ]);
    expect(Buffer.from(events[0]!.body).toString('utf8')).toBe(text);
    expect(events[0]).toMatchObject({ deliveries: 3, conflicts: 0, unrecognised_reason: null });
  });

  it('binding every interface warns at start, pointing at the reverse-proxy setup', async () => {
    const listener = await startListener(path.join(tmp.dir, 'public.sqlite'), ['--host', '0.0.0.0']);
    try {
      await listener.waitForStderr(/plain HTTP/);
      const warning = jsonLines(listener.stderr()).find((line) => line.level === 'warn');
      expect(warning?.msg).toMatch(/listening on 0\.0\.0\.0: plain HTTP with the key in the URL.*tcb help webhooks, "Reverse proxy"/);
    } finally {
      await stop(listener);
    }
    // The warning comes before the "listening" line, so its absence then is final.
    const local = await startListener(path.join(tmp.dir, 'local.sqlite'), ['--access-log']);
    try {
      await local.waitForStderr(/"msg":"listening"/);
      expect(local.stderr()).not.toMatch(/plain HTTP/);
    } finally {
      await stop(local);
    }
  });
});

describe('availability: connections that send nothing, too much, or too slowly', () => {
  const tmp = tempDir('tcb-webhook-daemon-');
  let listener: Listener;
  beforeAll(async () => {
    listener = await startListener(path.join(tmp.dir, 'events.sqlite'), ['--idle-timeout', '0.2', '--request-timeout', '0.5', '--access-log']);
  });
  afterAll(async () => {
    if (listener) await stop(listener);
    tmp.cleanup();
  });

  // The outer bounds (15 s) are far above the 0.2 s / 0.5 s configured, and far below the 30 s after
  // which Node checks its timeouts unless told otherwise: they tell "fires as configured" from "fires late".
  it('closes connections that send nothing (408), however many', { timeout: 15_000 }, async () => {
    const idle = await Promise.all(Array.from({ length: 40 }, () => rawConnection(listener.port)));
    await Promise.all(idle.map((connection) => connection.closed));
    for (const connection of idle) expect(connection.received()).toMatch(/^HTTP\/1\.1 408 /);
    expect((await fetch(`${listener.url}healthz`)).status).toBe(200);
  });

  it('closes a keep-alive connection once it is idle', { timeout: 15_000 }, async () => {
    const connection = await rawConnection(listener.port);
    connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
    await connection.closed;
    expect(connection.received()).toMatch(/^HTTP\/1\.1 200 /);
  });

  it('headers or a body that do not arrive in time: 408 and the connection closed, logged as a timeout', { timeout: 15_000 }, async () => {
    const headers = await rawConnection(listener.port);
    headers.socket.write('POST /tcbiz-webhook HTTP/1.1\r\nHost: x\r\n');
    await headers.closed;
    expect(headers.received()).toMatch(/^HTTP\/1\.1 408 /);

    const body = await rawConnection(listener.port);
    body.socket.write(`POST /tcbiz-webhook?key=${KEY} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{"event_id":`);
    await body.closed;
    expect(body.received()).toMatch(/^HTTP\/1\.1 408 /);
    await listener.waitForStderr(/"outcome":"timeout","detail":"the request body did not arrive in time"/);
    const line = jsonLines(listener.stderr()).find((l) => l.detail === 'the request body did not arrive in time');
    expect(line).toMatchObject({ status: 408, client: '127.0.0.1', method: 'POST', path: '/tcbiz-webhook?key=[REDACTED]' });
  });

  it('oversized headers get 431', async () => {
    const connection = await rawConnection(listener.port);
    connection.socket.write(`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    await connection.closed;
    expect(connection.received()).toMatch(/^HTTP\/1\.1 431 /);
  });

  it('after a 401 nothing more is read: the connection is closed while the sender still streams', async () => {
    const small = await rawConnection(listener.port);
    small.socket.write('POST /tcbiz-webhook?key=wrong HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}');
    await small.closed;
    expect(small.received()).toMatch(/^HTTP\/1\.1 401 [^]*connection: close/i);

    const big = await rawConnection(listener.port);
    const declared = 10 * 1024 ** 3;
    let written = 0;
    big.socket.write(`POST /tcbiz-webhook?key=wrong HTTP/1.1\r\nHost: x\r\nContent-Length: ${declared}\r\n\r\n`);
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    const pump = () => {
      while (!big.socket.destroyed) {
        written += chunk.length;
        if (!big.socket.write(chunk)) {
          big.socket.once('drain', pump);
          return;
        }
      }
    };
    pump();
    await big.closed;
    // What the kernel buffers on both sides, far from the 10 GiB announced.
    expect(written).toBeLessThan(64 * 1024 ** 2);
    await listener.waitForStderr(/"status":401,[^\n]*"outcome":"unauthorized"[^\n]*\n[^]*"status":401,[^\n]*"outcome":"unauthorized"/);
  });

  it('past --max-connections the oldest idle connection is closed, and the health check still answers', async () => {
    const capped = await startListener(path.join(tmp.dir, 'capped.sqlite'), ['--max-connections', '3', '--idle-timeout', '600', '--request-timeout', '600']);
    try {
      expect(capped.info.max_connections).toBe(3);
      // Each connection has had an answer, so the listener knows it and it is idle.
      const open = [];
      for (let i = 0; i < 3; i += 1) {
        const connection = await rawConnection(capped.port);
        connection.socket.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n');
        await connection.waitFor(/\r\n\r\n\{"status":"ok"\}\n/);
        open.push(connection);
      }
      const health = await fetch(`${capped.url}healthz`);
      expect(health.status).toBe(200);
      await open[0]!.closed;
      expect(open[1]!.socket.destroyed).toBe(false);
      await capped.waitForStderr(/3 connections are open \(the limit\)/);
      for (const connection of open) connection.socket.destroy();
    } finally {
      await stop(capped);
    }
  });

  it('under a low open-file limit, a crowd of idle connections cannot make the health check fail', async () => {
    const limited = await startListener(path.join(tmp.dir, 'fd.sqlite'), ['--idle-timeout', '600', '--request-timeout', '600'], { fdLimit: 128 });
    const crowd: Awaited<ReturnType<typeof rawConnection>>[] = [];
    try {
      // The default limit leaves room under `ulimit -n`: 80 % of 128, less 32.
      expect(limited.info.max_connections).toBe(70);
      for (let i = 0; i < 120; i += 1) crowd.push(await rawConnection(limited.port));
      const health = await fetch(`${limited.url}healthz`);
      expect(health.status).toBe(200);
      expect((await post(limited.hook, { ...fixture('webhook.user-feedback.json'), event_id: 'despite-the-crowd' })).status).toBe(200);
      await crowd[0]!.closed; // the oldest idle ones made room
    } finally {
      for (const connection of crowd) connection.socket.destroy();
      await stop(limited);
    }
  });

  it('an aborted request is logged as aborted, with its client', async () => {
    const connection = await rawConnection(listener.port);
    connection.socket.write(`POST /aborted-here?key=${KEY} HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\nExpect: 100-continue\r\n\r\n`);
    await connection.waitFor(/100 Continue/);
    connection.socket.write('{"event_id":');
    connection.socket.destroy();
    await listener.waitForStderr(/"path":"\/aborted-here[^\n]*"outcome":"aborted"/);
    const line = jsonLines(listener.stderr()).find((l) => l.path?.startsWith('/aborted-here'));
    expect(line).toMatchObject({ client: '127.0.0.1', status: null, outcome: 'aborted' });
  });
});

describe('signals and a closed log pipe', () => {
  const tmp = tempDir('tcb-webhook-daemon-');
  afterAll(() => tmp.cleanup());

  it('a log reader that goes away (EPIPE) does not stop the server: events keep being stored, SIGTERM exits 0', async () => {
    const storeFile = path.join(tmp.dir, 'epipe.sqlite');
    const listener = await startListener(storeFile, ['--access-log']);
    await listener.waitForStderr(/"msg":"listening"/);
    listener.child.stderr.destroy();
    for (let i = 0; i < 5; i += 1) {
      const answer = await post(listener.hook, { ...fixture('webhook.user-feedback.json'), event_id: `after-epipe-${i}` });
      expect(answer.status).toBe(200);
    }
    expect((await fetch(`${listener.url}healthz`)).status).toBe(200);
    expect(await stop(listener)).toEqual({ code: 0, signal: null });
    expect(storedEvents(storeFile)).toHaveLength(5);
  });

  it('SIGHUP stops like SIGTERM: in-flight work finished, the store checkpointed and closed, exit 0', async () => {
    const storeFile = path.join(tmp.dir, 'hup.sqlite');
    const listener = await startListener(storeFile, ['--verbose']);
    expect((await post(listener.hook, { ...fixture('webhook.cmb.not-interested.json'), event_id: 'before-hup' })).status).toBe(200);
    expect(await stop(listener, 'SIGHUP')).toEqual({ code: 0, signal: null });
    expect(jsonLines(listener.stderr()).map((line) => line.msg)).toContain('stopping on a signal: finishing in-flight requests');
    expect(existsSync(`${storeFile}-wal`)).toBe(false);
    expect(existsSync(`${storeFile}-shm`)).toBe(false);
    expect(storedEvents(storeFile).map((e) => e.event_id)).toEqual(['before-hup']);
  });
});

describe('observability: timestamps, client addresses, escaping, masking', () => {
  const tmp = tempDir('tcb-webhook-daemon-');
  afterAll(() => tmp.cleanup());

  it('text lines start with an ISO timestamp; every field is escaped: one line per entry, no raw control characters', async () => {
    const listener = await startListener(path.join(tmp.dir, 'text.sqlite'), ['--log-format', 'text', '--access-log']);
    try {
      const nasty = { ...fixture('webhook.cmb.not-interested.json'), event_id: 'evil\nFAKE 200 stored\u0000\u001b[31m' };
      expect((await post(listener.hook, nasty)).status).toBe(200);
      const broken = await post(listener.hook, 'not json\nFAKE LINE\u0000\u001b[2J');
      expect(broken.status).toBe(400);
      await stop(listener);
      const stderr = listener.stderr();
      expect(stderr).not.toMatch(/[\u0000\u001b]/);
      const lines = stderr.trimEnd().split('\n');
      for (const line of lines) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (INFO |WARN |ERROR|ACCESS) /);
      expect(lines.filter((line) => line.includes('FAKE'))).toHaveLength(3); // the warning, its access line, the 400
      expect(stderr).toContain('event_id="evil\\nFAKE 200 stored\\u0000\\u001b[31m"');
      expect(stderr).toMatch(/ACCESS 127\.0\.0\.1 "POST \/tcbiz-webhook\?key=\[REDACTED\]" 400 [\d.]+ms rejected detail="the body is not valid JSON: \\"not json\\\\nFAKE LINE\\\\u0000\\\\u001b\[2J\\""/);
    } finally {
      await stop(listener);
    }
  });

  it('X-Forwarded-For is used only with --trust-proxy, right-most untrusted hop first', async () => {
    const health = (url: string, forwardedFor: string) => fetch(`${url}healthz`, { headers: { 'x-forwarded-for': forwardedFor } });
    const clients = async (args: string[], forwarded: string[]) => {
      const listener = await startListener(path.join(tmp.dir, `xff-${args.join('')}.sqlite`), ['--access-log', ...args]);
      try {
        for (const value of forwarded) expect((await health(listener.url, value)).status).toBe(200);
      } finally {
        await stop(listener);
      }
      return jsonLines(listener.stderr())
        .filter((line) => line.msg === 'request')
        .map((line) => line.client);
    };
    expect(await clients([], ['203.0.113.9'])).toEqual(['127.0.0.1']);
    expect(await clients(['--trust-proxy'], ['203.0.113.9', '198.51.100.1, 203.0.113.9', '203.0.113.9, 127.0.0.1', 'forged, 127.0.0.1'])).toEqual([
      '203.0.113.9',
      '203.0.113.9',
      '203.0.113.9',
      'forged',
    ]);
    // The peer (127.0.0.1) is not among the trusted proxies: the header is ignored.
    expect(await clients(['--trust-proxy', '10.0.0.0/8'], ['203.0.113.9'])).toEqual(['127.0.0.1']);
    const bad = await runTcb(['webhook', 'listen', '--store', path.join(tmp.dir, 'x.sqlite'), '--trust-proxy', '10.0.0.0/99'], { env: { TCB_WEBHOOK_KEY: KEY } });
    expect(bad.code).toBe(2);
    expect(errorEnvelope(bad.stderr).message).toMatch(/--trust-proxy: "10\.0\.0\.0\/99" has a bad prefix length/);
  });

  it('the key is masked however its parameter name is spelled (percent-encoded names too)', async () => {
    const listener = await startListener(path.join(tmp.dir, 'mask.sqlite'), ['--access-log']);
    try {
      const event = (id: string) => ({ ...fixture('webhook.cmb.not-interested.json'), event_id: id });
      expect((await post(`${listener.url}hook?%6Bey=${KEY}`, event('mask-1'))).status).toBe(200);
      // Every character of the value percent-encoded too: only the name-aware masking can hide it.
      const encoded = [...KEY].map((c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`).join('');
      expect((await post(`${listener.url}hook?a=1&k%65y=${encoded}`, event('mask-2'))).status).toBe(200);
      expect((await post(`${listener.url}hook?KEY=${KEY}`, event('mask-3'))).status).toBe(401);
    } finally {
      await stop(listener);
    }
    const paths = jsonLines(listener.stderr())
      .filter((line) => line.msg === 'request')
      .map((line) => line.path);
    expect(paths).toEqual(['/hook?%6Bey=[REDACTED]', '/hook?a=1&k%65y=[REDACTED]', '/hook?KEY=[REDACTED]']);
    expect(listener.stderr()).not.toContain(KEY);
    expect(listener.stderr()).not.toContain('%65%32%65'); // the start of the encoded key ("e2e")
  });
});
