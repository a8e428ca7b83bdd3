import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { GroupCommitter } from '../../src/services/webhooks/group-commit.js';
import { parseStoredEvent } from '../../src/services/webhooks/records.js';
import { SqliteSink } from '../../src/services/webhooks/sqlite-sink.js';
import type { EventToStore } from '../../src/services/webhooks/store-types.js';
import { STORE_APPLICATION_ID, openWebhookStore, sqliteEventReader, type WebhookStore } from '../../src/services/webhooks/store.js';
import { classifyDelivery } from '../../src/services/webhooks/validate.js';
import { tempDir } from '../helpers/cli.js';

const fixture = (name: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'api', name), 'utf8');
const HAPPY = fixture('webhook.cmb.slot-picker-happy-flow.json');
const SIM = fixture('webhook.cmb.sim-info-unavailable.json');
const NOT_INTERESTED = fixture('webhook.cmb.not-interested.json');
const FEEDBACK = fixture('webhook.user-feedback.json');

function record(body: string | Buffer): EventToStore {
  const result = classifyDelivery(Buffer.isBuffer(body) ? body : Buffer.from(body));
  if (!result.ok) throw new Error(result.reason);
  return result.record;
}

function cmb(id: string, createdAtSeconds: number, extra: object = {}): EventToStore {
  return record(JSON.stringify({ ...JSON.parse(HAPPY), event_id: id, created_at: String(createdAtSeconds), ...extra }));
}

describe('webhook store (SQLite)', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  let store: WebhookStore;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('tcb-webhook-store-'));
    file = path.join(dir, 'sub', 'events.sqlite');
    store = openWebhookStore(file);
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('creates a private file in WAL mode with synchronous=FULL, marked as a tcb store of schema 2', () => {
    expect(existsSync(file)).toBe(true);
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o077).toBe(0);
    const raw = (store as unknown as { db: Database.Database }).db;
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('synchronous', { simple: true })).toBe(2); // 2 = FULL
    expect(raw.pragma('application_id', { simple: true })).toBe(STORE_APPLICATION_ID);
    expect(raw.pragma('user_version', { simple: true })).toBe(2);
  });

  it('stores each event once: same bytes again is a duplicate, other bytes a conflict kept aside', () => {
    const first = store.insertBatch([record(HAPPY), record(FEEDBACK)]);
    expect(first).toEqual([
      { seq: 1, outcome: 'stored', deliveries: 1, conflicts: 0 },
      { seq: 2, outcome: 'stored', deliveries: 1, conflicts: 0 },
    ]);
    const changed = HAPPY.replace('"Saturday"', '"Sunday"');
    const again = store.insertBatch([record(HAPPY), record(SIM), record(SIM), record(changed)]);
    expect(again).toEqual([
      { seq: 1, outcome: 'duplicate', deliveries: 2, conflicts: 0 },
      // A redelivery uses up a sequence number: seq only grows, with gaps.
      { seq: 4, outcome: 'stored', deliveries: 1, conflicts: 0 },
      { seq: 4, outcome: 'duplicate', deliveries: 2, conflicts: 0 },
      { seq: 1, outcome: 'conflict', deliveries: 3, conflicts: 1 },
    ]);
    const all = [...store.events()];
    expect(all.map((e) => [e.event_id, e.deliveries, e.conflicts])).toEqual([
      ['860a7f4c-6545-40f1-85be-3655edde650f', 3, 1],
      ['7719f451-5436-470a-98ba-422b997582f8', 1, 0],
      ['119be0c3-d23f-4728-8e42-d936c2e8dad6', 2, 0],
    ]);
    expect(Buffer.from(all[0]!.body).toString()).toBe(HAPPY);
    const conflicts = store.conflicts('860a7f4c-6545-40f1-85be-3655edde650f');
    expect(conflicts.map((c) => Buffer.from(c.body).toString())).toEqual([changed]);
  });

  it('keeps the body byte for byte (BOM, invalid UTF-8) and the times as they came', () => {
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(SIM)]);
    const latin1 = Buffer.from(NOT_INTERESTED.replace('CMBName', 'Caf?'), 'utf8');
    latin1[latin1.indexOf('Caf?') + 3] = 0xe9;
    store.insertBatch([record(bom), record(latin1)], Date.UTC(2026, 0, 2, 3, 4, 5));
    const [first, second] = [...store.events()];
    expect(Buffer.from(first!.body).equals(bom)).toBe(true);
    expect(Buffer.from(second!.body).equals(latin1)).toBe(true);
    expect(first).toMatchObject({
      seq: 1,
      event_id: '119be0c3-d23f-4728-8e42-d936c2e8dad6',
      event_type: 'cmb',
      created_at: '1753945773',
      created_at_ms: 1753945773000,
      received_at: '2026-01-02T03:04:05.000Z',
      deliveries: 1,
      unrecognised_reason: null,
    });
    expect(second!.unrecognised_reason).toBe('the body is not valid UTF-8');
    expect(parseStoredEvent(first!)).toEqual(JSON.parse(SIM));
    expect(parseStoredEvent(second!).cmb_payload!.cmb_config_name).toBe('Caf\ufffd');
  });

  it('filters by type (unknown types in every export), created_at range, afterSeq and upToSeq, in insertion order', () => {
    store.insertBatch([cmb('c', 3000), cmb('a', 1000), record(FEEDBACK), cmb('b', 2000), cmb('odd', 1500, { event_type: 'call_log' }), cmb('none', 1500, { event_type: undefined })]);
    const ids = (filter: Parameters<WebhookStore['events']>[0]) => [...store.events(filter)].map((e) => e.event_id);
    expect(ids({ type: 'cmb' })).toEqual(['c', 'a', 'b', 'odd', 'none']);
    expect(ids({ type: 'user_feedback' })).toEqual(['7719f451-5436-470a-98ba-422b997582f8', 'odd', 'none']);
    expect(ids({ type: 'cmb', fromMs: 2_000_000 })).toEqual(['c', 'b']);
    expect(ids({ type: 'cmb', toMs: 2_000_000 })).toEqual(['a', 'odd', 'none']);
    expect(ids({ type: 'cmb', fromMs: 1_000_000, toMs: 3_000_000 })).toEqual(['a', 'b', 'odd', 'none']);
    expect(ids({ afterSeq: 2, upToSeq: 4 })).toEqual(['7719f451-5436-470a-98ba-422b997582f8', 'b']);
    expect(ids({ type: 'cmb', limit: 2 })).toEqual(['c', 'a']);
    expect(store.lastSeq()).toBe(6);
    expect(store.lastSeq('user_feedback')).toBe(6);
    expect(store.count({ type: 'cmb' })).toBe(5);
  });

  it('iterates past one chunk without losing or repeating events', () => {
    const items = Array.from({ length: 1234 }, (_, i) => cmb(`e${i}`, 1_700_000_000 + i));
    store.insertBatch(items);
    const seen = [...store.events({ type: 'cmb' })].map((e) => e.event_id);
    expect(seen.length).toBe(1234);
    expect(new Set(seen).size).toBe(1234);
    expect(seen[0]).toBe('e0');
    expect(seen[1233]).toBe('e1233');
    expect(store.count({ fromMs: (1_700_000_000 + 1000) * 1000 })).toBe(234);
  });

  it('reads through a read-only handle while the writer is open, and after it closed', () => {
    store.insertBatch([record(HAPPY), record(NOT_INTERESTED)]);
    const reader = openWebhookStore(file, { readonly: true });
    try {
      expect([...reader.events()].length).toBe(2);
      store.insertBatch([record(FEEDBACK)]);
      expect([...reader.events({ afterSeq: 2 })].map((e) => e.event_type)).toEqual(['user_feedback']);
      expect(() => reader.insertBatch([record(SIM)])).toThrow(/read-only/);
    } finally {
      reader.close();
    }
    store.close();
    const later = openWebhookStore(file, { readonly: true });
    try {
      expect(later.count()).toBe(3);
    } finally {
      later.close();
    }
  });

  it('refuses, untouched, a missing file (read-only), a text file, and another application\'s database', () => {
    expect(() => openWebhookStore(path.join(dir, 'nope.sqlite'), { readonly: true })).toThrow(UsageError);
    const text = path.join(dir, 'foreign.txt');
    writeFileSync(text, 'this is not sqlite at all, just some text that is long enough to matter');
    expect(() => openWebhookStore(text, { readonly: true })).toThrow(/not an SQLite database/);
    expect(() => openWebhookStore(text)).toThrow(/not an SQLite database/);
    expect(readFileSync(text, 'utf8')).toBe('this is not sqlite at all, just some text that is long enough to matter');

    const crm = path.join(dir, 'crm.sqlite');
    const db = new Database(crm);
    db.exec('CREATE TABLE events (id INTEGER PRIMARY KEY, what TEXT)');
    db.close();
    const before = readFileSync(crm);
    expect(() => openWebhookStore(crm)).toThrow(/not a tcb webhook store: it is an SQLite database with other tables \(events\)/);
    expect(readFileSync(crm).equals(before)).toBe(true);
    expect(existsSync(`${crm}-wal`)).toBe(false);

    const tagged = path.join(dir, 'tagged.sqlite');
    const other = new Database(tagged);
    other.pragma('application_id = 42');
    other.close();
    expect(() => openWebhookStore(tagged)).toThrow(/belongs to another application \(application_id 42\)/);

    const newer = path.join(dir, 'newer.sqlite');
    openWebhookStore(newer).close();
    const bump = new Database(newer);
    bump.pragma('user_version = 3');
    bump.close();
    expect(() => openWebhookStore(newer, { readonly: true })).toThrow(/written by a newer tcb/);
  });
});

/** A version-1 store as tcb 1.x wrote it: body as text, no side tables. */
function versionOneStore(file: string, rows: Array<{ seq: number; body: string }>, deleteAfter = false): void {
  const db = new Database(file);
  db.exec(`CREATE TABLE events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE, event_type TEXT NOT NULL, created_at TEXT NOT NULL,
    created_at_ms INTEGER, received_at_ms INTEGER NOT NULL, last_received_ms INTEGER NOT NULL, deliveries INTEGER NOT NULL DEFAULT 1,
    body TEXT NOT NULL)`);
  const insert = db.prepare(
    'INSERT INTO events (seq, event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, deliveries, body) VALUES (?, ?, ?, ?, ?, 1000, 2000, 3, ?)',
  );
  for (const row of rows) {
    const event = JSON.parse(row.body);
    insert.run(row.seq, event.event_id, event.event_type, event.created_at, Number(event.created_at) * 1000, row.body);
  }
  // The newest event was removed by hand: its seq must not be handed out again.
  if (deleteAfter) db.prepare('DELETE FROM events WHERE seq = (SELECT MAX(seq) FROM events)').run();
  db.pragma('user_version = 1');
  db.close();
}

describe('webhook store: opening, versions and reading', () => {
  let dir: string;
  let cleanup: () => void;
  beforeEach(() => {
    ({ dir, cleanup } = tempDir('tcb-webhook-open-'));
  });
  afterEach(() => cleanup());

  it('a version-1 store opened read-only is read as it is: bytes as stored, no conflicts, nothing migrated', () => {
    const file = path.join(dir, 'v1.sqlite');
    versionOneStore(file, [{ seq: 7, body: NOT_INTERESTED }]);
    const before = readFileSync(file);
    const reader = openWebhookStore(file, { readonly: true });
    try {
      expect(reader.version).toBe(1);
      expect(reader.readonly).toBe(true);
      const [event] = [...reader.events()];
      expect(event).toMatchObject({ seq: 7, event_type: 'cmb', deliveries: 3, conflicts: 0, unrecognised_reason: null, received_at: '1970-01-01T00:00:01.000Z', last_received_ms: 2000 });
      expect(Buffer.from(event!.body).toString()).toBe(NOT_INTERESTED);
      expect(reader.conflicts(event!.event_id)).toEqual([]);
      expect(reader.checkWritable()).toEqual({ ok: false, reason: 'opened read-only' });
    } finally {
      reader.close();
    }
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('a version-1 store is migrated when opened for writing: events kept, the sequence continues past removed events', () => {
    const file = path.join(dir, 'v1.sqlite');
    versionOneStore(file, [{ seq: 7, body: NOT_INTERESTED }, { seq: 9, body: SIM }], true);
    const store = openWebhookStore(file);
    try {
      expect(store.version).toBe(2);
      const raw = (store as unknown as { db: Database.Database }).db;
      expect(raw.pragma('user_version', { simple: true })).toBe(2);
      expect(raw.pragma('application_id', { simple: true })).toBe(STORE_APPLICATION_ID);
      expect([...store.events()].map((e) => [e.seq, Buffer.from(e.body).toString()])).toEqual([[7, NOT_INTERESTED]]);
      expect(store.insertBatch([record(FEEDBACK)], 5000)).toEqual([{ seq: 10, outcome: 'stored', deliveries: 1, conflicts: 0 }]);
      // The new schema works: a conflicting redelivery of a migrated event is kept aside.
      const changed = NOT_INTERESTED.replace('"cmb"', '"cmb" ');
      expect(store.insertBatch([record(changed)], 6000)).toEqual([{ seq: 7, outcome: 'conflict', deliveries: 4, conflicts: 1 }]);
      expect(store.conflicts(JSON.parse(NOT_INTERESTED).event_id).map((c) => Buffer.from(c.body).toString())).toEqual([changed]);
    } finally {
      store.close();
    }
  });

  it('an empty version-1 store migrates too', () => {
    const file = path.join(dir, 'v1-empty.sqlite');
    versionOneStore(file, []);
    const store = openWebhookStore(file);
    try {
      expect(store.version).toBe(2);
      expect(store.insertBatch([record(HAPPY)])).toEqual([{ seq: 1, outcome: 'stored', deliveries: 1, conflicts: 0 }]);
    } finally {
      store.close();
    }
  });

  it('a version-1 table under another user_version is not taken for a tcb store, and is left untouched', () => {
    const file = path.join(dir, 'v7.sqlite');
    versionOneStore(file, [{ seq: 1, body: HAPPY }]);
    const db = new Database(file);
    db.pragma('user_version = 7');
    db.close();
    const before = readFileSync(file);
    expect(() => openWebhookStore(file)).toThrow(`${file} is not a tcb webhook store: it is an SQLite database with other tables (events, sqlite_sequence)`);
    expect(readFileSync(file).equals(before)).toBe(true);
  });

  it('checkWritable reports why nothing can be stored', () => {
    const store = openWebhookStore(path.join(dir, 'health.sqlite'));
    try {
      (store as unknown as { db: Database.Database }).db.exec('DROP TABLE health');
      expect(store.checkWritable()).toEqual({ ok: false, reason: 'no such table: health' });
    } finally {
      store.close();
    }
  });

  it('a version-1 look-alike missing a column is not taken for a tcb store', () => {
    const file = path.join(dir, 'almost.sqlite');
    const db = new Database(file);
    db.exec('CREATE TABLE events (seq INTEGER PRIMARY KEY, event_id TEXT, body TEXT)');
    db.pragma('user_version = 1');
    db.close();
    expect(() => openWebhookStore(file)).toThrow(`${file} is not a tcb webhook store: it is an SQLite database with other tables (events)`);
  });

  it('other databases are refused naming what they are; a long table list is cut after five', () => {
    const many = path.join(dir, 'many.sqlite');
    const db = new Database(many);
    for (const name of ['a', 'b', 'c', 'd', 'e', 'f']) db.exec(`CREATE TABLE ${name} (x)`);
    db.close();
    const error = (() => {
      try {
        openWebhookStore(many);
      } catch (e) {
        return e as UsageError;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(UsageError);
    expect(error).toMatchObject({
      message: `${many} is not a tcb webhook store: it is an SQLite database with other tables (a, b, c, d, e, …)`,
      field: '--store',
      hint: "pass a new file, or the --store file that `tcb webhook listen` created; tcb never changes another application's database",
    });
    const versioned = path.join(dir, 'versioned.sqlite');
    const other = new Database(versioned);
    other.pragma('user_version = 5');
    other.close();
    expect(() => openWebhookStore(versioned)).toThrow(`${versioned} is not a tcb webhook store: it is an SQLite database of another application (user_version 5)`);
    const five = path.join(dir, 'five.sqlite');
    const fiveDb = new Database(five);
    for (const name of ['a', 'b', 'c', 'd', 'e']) fiveDb.exec(`CREATE TABLE ${name} (x)`);
    fiveDb.close();
    expect(() => openWebhookStore(five)).toThrow(`${five} is not a tcb webhook store: it is an SQLite database with other tables (a, b, c, d, e)`);
  });

  it('a newer store is refused for writing too, saying to upgrade', () => {
    const newer = path.join(dir, 'newer.sqlite');
    openWebhookStore(newer).close();
    const bump = new Database(newer);
    bump.pragma('user_version = 3');
    bump.close();
    expect(() => openWebhookStore(newer)).toThrow(
      new UsageError(`${newer} was written by a newer tcb (store schema 3; this tcb knows up to 2)`, { hint: 'upgrade tcb' }),
    );
    // The current version opens fine, read-only or not.
    const current = path.join(dir, 'current.sqlite');
    openWebhookStore(current).close();
    const again = openWebhookStore(current, { readonly: true });
    expect(again.version).toBe(2);
    again.close();
  });

  it('read-only: a missing file, an empty file and a folder are refused naming the --store', () => {
    const missing = path.join(dir, 'missing.sqlite');
    expect(() => openWebhookStore(missing, { readonly: true })).toThrow(
      new UsageError(`no webhook store at ${missing}`, { hint: 'pass the --store file that `tcb webhook listen` writes', field: '--store' }),
    );
    expect(existsSync(missing)).toBe(false);
    const empty = path.join(dir, 'empty.sqlite');
    writeFileSync(empty, '');
    expect(() => openWebhookStore(empty, { readonly: true })).toThrow(`${empty} is not a tcb webhook store: it is empty (no events table)`);
    const folder = path.join(dir, 'folder.sqlite');
    mkdirSync(folder);
    expect(() => openWebhookStore(folder, { readonly: true })).toThrow(new UsageError(`${folder} is a directory; --store takes a file`, { field: '--store' }));
    expect(() => openWebhookStore(folder)).toThrow(new UsageError(`${folder} is a directory; --store takes a file`, { field: '--store' }));
  });

  it('a store that cannot be created names the path and the reason; an empty file becomes a store', () => {
    writeFileSync(path.join(dir, 'file'), 'x');
    const blocked = path.join(dir, 'file', 'events.sqlite');
    // (mkdir reports the file in the way as EEXIST)
    expect(() => openWebhookStore(blocked)).toThrow(new UsageError(`cannot create the webhook store ${blocked}: EEXIST`, { field: '--store' }));
    const empty = path.join(dir, 'empty.sqlite');
    writeFileSync(empty, '');
    const store = openWebhookStore(empty);
    expect(store.file).toBe(empty);
    expect(store.insertBatch([])).toEqual([]);
    expect(store.lastSeq()).toBe(0);
    expect(store.checkWritable()).toEqual({ ok: true });
    store.close();
    store.close();
  });

  it('time filters round outwards to whole milliseconds; limits stop exactly; counts honour afterSeq', () => {
    const store = openWebhookStore(path.join(dir, 'times.sqlite'));
    try {
      const at = (id: string, ms: number): EventToStore => ({ ...cmb(id, 1), created_at_ms: ms });
      store.insertBatch([at('early', 999_999), at('from', 1_000_000), at('last-in', 1_999_999), at('to', 2_000_000)]);
      const ids = (filter: Parameters<WebhookStore['events']>[0]) => [...store.events(filter)].map((e) => e.event_id);
      expect(ids({ fromMs: 1_000_000.5, toMs: 1_999_999.5 })).toEqual(['from', 'last-in']);
      expect(store.count({ afterSeq: 1 })).toBe(3);
      expect(store.count({ afterSeq: 1, upToSeq: 3 })).toBe(2);
      expect(store.count({ type: 'user_feedback' })).toBe(0);
      expect(ids({ limit: 0 })).toEqual([]);
      const many = Array.from({ length: 620 }, (_, i) => at(`m${i}`, 3_000_000 + i));
      store.insertBatch(many);
      expect(ids({ afterSeq: 4, limit: 600 })).toEqual(many.slice(0, 600).map((e) => e.event_id));
      expect(ids({ afterSeq: 4, limit: 500 })).toHaveLength(500);
      expect(store.lastSeq('cmb')).toBe(624);
    } finally {
      store.close();
    }
  });

  it('the file says which events are unrecognised (a documented column other tools read)', () => {
    const file = path.join(dir, 'flags.sqlite');
    const store = openWebhookStore(file);
    store.insertBatch([record(HAPPY), cmb('odd-type', 1, { event_type: 'call_log' })]);
    store.close();
    const raw = new Database(file, { readonly: true });
    try {
      const rows = raw.prepare('SELECT event_id, unrecognised, unrecognised_reason IS NULL AS documented FROM events ORDER BY seq').all();
      expect(rows).toEqual([
        { event_id: JSON.parse(HAPPY).event_id, unrecognised: 0, documented: 1 },
        { event_id: 'odd-type', unrecognised: 1, documented: 0 },
      ]);
    } finally {
      raw.close();
    }
  });

  it('close() leaves the store as one file: no -wal or -shm beside it', () => {
    const file = path.join(dir, 'closed.sqlite');
    const store = openWebhookStore(file);
    store.insertBatch([record(HAPPY)]);
    expect(existsSync(`${file}-wal`)).toBe(true);
    store.close();
    expect(existsSync(`${file}-wal`)).toBe(false);
    expect(existsSync(`${file}-shm`)).toBe(false);
    const reader = openWebhookStore(file, { readonly: true });
    expect(reader.count()).toBe(1);
    reader.close();
  });

  it('the exports read through an async reader on a read-only connection', async () => {
    const file = path.join(dir, 'reader.sqlite');
    const writer = openWebhookStore(file);
    writer.insertBatch([record(HAPPY), record(FEEDBACK)]);
    writer.close();
    const reader = sqliteEventReader(file);
    expect(reader.location).toBe(file);
    const seen: string[] = [];
    for await (const event of reader.events({ type: 'user_feedback' })) seen.push(event.event_type ?? '');
    expect(seen).toEqual(['user_feedback']);
    expect(await reader.lastSeq('cmb')).toBe(1);
    expect(await reader.count({})).toBe(2);
    await reader.close();
    expect(() => sqliteEventReader(path.join(dir, 'none.sqlite'))).toThrow(/no webhook store at/);
  });
});

describe('SqliteSink and GroupCommitter: group commit on a worker thread', () => {
  let dir: string;
  let cleanup: () => void;
  let file: string;
  let store: WebhookStore;

  beforeEach(() => {
    ({ dir, cleanup } = tempDir('tcb-webhook-writer-'));
    file = path.join(dir, 'events.sqlite');
    store = openWebhookStore(file);
  });
  afterEach(() => {
    store.close();
    cleanup();
  });

  it('concurrent adds are committed in few transactions, each resolving after its commit', async () => {
    const sink = await SqliteSink.open(file);
    const committer = new GroupCommitter(sink);
    try {
      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => committer.add(cmb(`g${i % 40}`, 1_753_945_760))));
      expect(results.filter((r) => r.outcome === 'stored')).toHaveLength(40);
      expect(results.filter((r) => r.outcome === 'duplicate')).toHaveLength(10);
      expect(committer.stats.events).toBe(50);
      expect(committer.stats.commits).toBeLessThan(50);
      // Every resolved add is visible to another connection: it was committed before resolving.
      expect(store.count()).toBe(40);
      expect(await sink.count()).toBe(40);
    } finally {
      await sink.close();
    }
  });

  it('maxBatch 1 commits one event per transaction', async () => {
    const sink = await SqliteSink.open(file);
    const committer = new GroupCommitter(sink, 1);
    try {
      await Promise.all(Array.from({ length: 5 }, (_, i) => committer.add(cmb(`one${i}`, 1_753_945_760))));
      expect(committer.stats).toMatchObject({ commits: 5, events: 5, largestBatch: 1 });
    } finally {
      await sink.close();
    }
  });

  it('a failed transaction rejects every event of its batch and stores none of them; later batches work', async () => {
    // A trigger from another connection makes any batch holding "boom" fail, like a disk error would.
    const raw = (store as unknown as { db: Database.Database }).db;
    raw.exec("CREATE TRIGGER fail_boom BEFORE INSERT ON events WHEN NEW.event_id = 'boom' BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END");
    const sink = await SqliteSink.open(file);
    const committer = new GroupCommitter(sink);
    try {
      const outcomes = await Promise.allSettled([committer.add(cmb('ok-1', 1_753_945_760)), committer.add(cmb('boom', 1)), committer.add(cmb('ok-2', 1))]);
      expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
      expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain('simulated I/O error');
      expect(store.count()).toBe(0);
      await committer.add(cmb('ok-3', 1));
      expect(store.count()).toBe(1);
    } finally {
      await sink.close();
    }
  });

  it('checkWritable writes; a store file moved away fails both the check and the commit until it is back', async () => {
    const sink = await SqliteSink.open(file);
    try {
      expect(await sink.checkWritable()).toEqual({ ok: true });
      renameSync(file, `${file}.away`);
      expect(await sink.checkWritable()).toEqual({ ok: false, reason: expect.stringMatching(/store file was deleted or moved/) });
      await expect(sink.insertBatch([cmb('while-away', 1)], Date.now())).rejects.toThrow(/was deleted or moved/);
      renameSync(`${file}.away`, file);
      expect(await sink.checkWritable()).toEqual({ ok: true });
      // The commit that was refused had gone into the file: a retry is a duplicate, nothing is lost.
      expect((await sink.insertBatch([cmb('while-away', 1)], Date.now()))[0]!.outcome).toBe('duplicate');
    } finally {
      await sink.close();
    }
  });

  it('draining commits what is queued; after close() nothing more is accepted', async () => {
    const sink = await SqliteSink.open(file);
    const committer = new GroupCommitter(sink);
    const pending = Array.from({ length: 20 }, (_, i) => committer.add(cmb(`late${i}`, 1)));
    await committer.drain();
    await sink.close();
    expect((await Promise.all(pending)).every((r) => r.outcome === 'stored')).toBe(true);
    expect(store.count()).toBe(20);
    await expect(committer.add(cmb('after-close', 1))).rejects.toThrow(/closing/);
    expect((await sink.checkWritable()).ok).toBe(false);
  });
});
