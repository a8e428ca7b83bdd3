import { closeSync, existsSync, mkdirSync, openSync, statSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { UsageError } from '../../errors.js';
import {
  KNOWN_EVENT_TYPES,
  STORE_SCHEMA_VERSION,
  type EventReader,
  type EventToStore,
  type InsertResult,
  type KnownEventType,
  type StoredConflict,
  type StoredWebhookEvent,
  type WebhookEventFilter,
  type WritableCheck,
} from './store-types.js';

export { STORE_SCHEMA_VERSION };
export type { EventToStore, InsertResult, StoredWebhookEvent, WebhookEventFilter };

/**
 * The SQLite webhook store (schema and contract in store-types.ts): one file in WAL mode with
 * synchronous=FULL. The listener writes through a worker thread (sqlite-sink.ts) that runs the
 * statements defined here; this module opens, identifies, creates and migrates the file, and gives
 * the synchronous connection that exports (and tests) read with.
 *
 * A file is only ever changed once it is known to be a tcb store: an empty file or database, a
 * version-1 store, or one carrying STORE_APPLICATION_ID. Anything else is refused untouched.
 */

/** 'TCBW': marks the file as a tcb webhook store (PRAGMA application_id). */
export const STORE_APPLICATION_ID = 0x54434257;

const CHUNK = 500;

const EVENTS_TABLE = `
CREATE TABLE events (
  seq                 INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id            TEXT    NOT NULL UNIQUE,
  event_type          TEXT,
  created_at          TEXT,
  created_at_ms       INTEGER,
  received_at_ms      INTEGER NOT NULL,
  last_received_ms    INTEGER NOT NULL,
  deliveries          INTEGER NOT NULL DEFAULT 1,
  body                BLOB    NOT NULL,
  unrecognised        INTEGER NOT NULL DEFAULT 0,
  unrecognised_reason TEXT,
  conflicts           INTEGER NOT NULL DEFAULT 0
)`;

/**
 * No index on event_type or created_at: exports read in seq order (the primary key) and filter as
 * they go, so such an index would cost every insert and serve no query.
 */
const SIDE_TABLES = `
CREATE TABLE event_conflicts (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id       TEXT    NOT NULL,
  received_at_ms INTEGER NOT NULL,
  body           BLOB    NOT NULL
);
CREATE INDEX event_conflicts_event ON event_conflicts (event_id);
CREATE TABLE health (id INTEGER PRIMARY KEY CHECK (id = 1), checked_at_ms INTEGER NOT NULL);
`;

const MARK_CURRENT = `PRAGMA application_id = ${STORE_APPLICATION_ID}; PRAGMA user_version = ${STORE_SCHEMA_VERSION};`;

/** Version 1 kept the body as TEXT (decoded, BOM dropped) and knew only documented events. */
const MIGRATE_FROM_1 = `
ALTER TABLE events RENAME TO events_v1;
${EVENTS_TABLE};
INSERT INTO events (seq, event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, deliveries, body)
  SELECT seq, event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, deliveries, CAST(body AS BLOB)
  FROM events_v1 ORDER BY seq;
DROP TABLE events_v1;
${SIDE_TABLES}
`;

/**
 * The statements the writer runs, per event, inside one transaction per group:
 * a new event_id is inserted; a redelivery is compared byte for byte with the stored body.
 */
export const WRITER_SQL = {
  insert: `INSERT INTO events (event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, body, unrecognised, unrecognised_reason)
VALUES (@event_id, @event_type, @created_at, @created_at_ms, @now, @now, @body, @unrecognised, @unrecognised_reason)
ON CONFLICT (event_id) DO NOTHING RETURNING seq`,
  find: 'SELECT seq, body = @body AS same FROM events WHERE event_id = @event_id',
  redelivered: `UPDATE events SET deliveries = deliveries + 1, conflicts = conflicts + @conflict, last_received_ms = @now
WHERE seq = @seq RETURNING deliveries, conflicts`,
  conflict: 'INSERT INTO event_conflicts (event_id, received_at_ms, body) VALUES (@event_id, @now, @body)',
  health: 'INSERT INTO health (id, checked_at_ms) VALUES (1, @now) ON CONFLICT (id) DO UPDATE SET checked_at_ms = excluded.checked_at_ms',
  count: 'SELECT COUNT(*) AS n FROM events',
} as const;

/** Per-connection settings of every writer: FULL fsyncs the WAL at each commit. */
export const WRITER_PRAGMAS = ['journal_mode = WAL', 'synchronous = FULL'];

export function insertParams(item: EventToStore, now: number): Record<string, unknown> {
  return {
    event_id: item.event_id,
    event_type: item.event_type,
    created_at: item.created_at,
    created_at_ms: item.created_at_ms,
    now,
    body: item.body,
    unrecognised: item.unrecognised_reason === null ? 0 : 1,
    unrecognised_reason: item.unrecognised_reason,
  };
}

export interface OpenStoreOptions {
  /** Open for reading only (exports): the file must exist; nothing is ever written. */
  readonly?: boolean;
}

/** What a file holds, found without changing it. */
type StoreKind = { kind: 'empty' } | { kind: 'tcb'; version: number };

function notAStore(file: string, detail: string): UsageError {
  return new UsageError(`${file} is not a tcb webhook store: ${detail}`, {
    hint: 'pass a new file, or the --store file that `tcb webhook listen` created; tcb never changes another application\'s database',
    field: '--store',
  });
}

/** Reads the header pragmas and the table list only: nothing is written. */
function identify(db: Database.Database, file: string): StoreKind {
  let applicationId: number;
  let version: number;
  let tables: string[];
  try {
    applicationId = db.pragma('application_id', { simple: true }) as number;
    version = db.pragma('user_version', { simple: true }) as number;
    tables = (db.prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name").all() as Array<{ name: string }>).map(
      (row) => row.name,
    );
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') throw notAStore(file, `it is not an SQLite database (${(error as Error).message})`);
    throw new UsageError(`cannot read the webhook store ${file}: ${(error as Error).message}`, {
      field: '--store',
      hint: 'the listener needs to read and write the file and its folder (SQLite adds -wal and -shm files next to it)',
    });
  }
  if (applicationId === STORE_APPLICATION_ID) {
    if (version > STORE_SCHEMA_VERSION) {
      throw new UsageError(`${file} was written by a newer tcb (store schema ${version}; this tcb knows up to ${STORE_SCHEMA_VERSION})`, {
        hint: 'upgrade tcb',
      });
    }
    return { kind: 'tcb', version };
  }
  if (applicationId !== 0) throw notAStore(file, `it belongs to another application (application_id ${applicationId})`);
  if (tables.length === 0 && version === 0) return { kind: 'empty' };
  if (version === 1 && tables.includes('events')) {
    const columns = new Set((db.prepare('PRAGMA table_info(events)').all() as Array<{ name: string }>).map((c) => c.name));
    const v1 = ['seq', 'event_id', 'event_type', 'created_at', 'created_at_ms', 'received_at_ms', 'last_received_ms', 'deliveries', 'body'];
    if (v1.every((name) => columns.has(name))) return { kind: 'tcb', version: 1 };
  }
  const shown = tables.slice(0, 5).join(', ') + (tables.length > 5 ? ', …' : '');
  throw notAStore(
    file,
    tables.length > 0 ? `it is an SQLite database with other tables (${shown})` : `it is an SQLite database of another application (user_version ${version})`,
  );
}

interface EventRow {
  seq: number;
  event_id: string;
  event_type: string | null;
  created_at: string | null;
  created_at_ms: number | null;
  received_at_ms: number;
  last_received_ms: number;
  deliveries: number;
  conflicts: number;
  unrecognised_reason: string | null;
  body: Buffer;
}

export class WebhookStore {
  readonly file: string;
  readonly readonly: boolean;
  /** The schema version of the file as opened (a read-only open never migrates). */
  readonly version: number;
  private readonly db: Database.Database;
  private insertMany?: (items: readonly EventToStore[], now: number) => InsertResult[];
  private closed = false;

  constructor(file: string, options: OpenStoreOptions = {}) {
    this.file = path.resolve(file);
    this.readonly = Boolean(options.readonly);
    if (this.readonly) {
      if (!existsSync(this.file)) {
        throw new UsageError(`no webhook store at ${this.file}`, {
          hint: 'pass the --store file that `tcb webhook listen` writes',
          field: '--store',
        });
      }
    } else {
      try {
        mkdirSync(path.dirname(this.file), { recursive: true });
        // The store holds phone numbers: create it private. SQLite gives -wal/-shm the same mode.
        if (!existsSync(this.file)) closeSync(openSync(this.file, 'a', 0o600));
      } catch (error) {
        throw new UsageError(`cannot create the webhook store ${this.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, {
          field: '--store',
          cause: error,
        });
      }
    }
    if (existsSync(this.file) && statSync(this.file).isDirectory()) {
      throw new UsageError(`${this.file} is a directory; --store takes a file`, { field: '--store' });
    }
    try {
      this.db = new Database(this.file, { readonly: this.readonly, fileMustExist: true, timeout: 5000 });
    } catch (error) {
      throw new UsageError(`cannot open the webhook store ${this.file}: ${(error as Error).message}`, { field: '--store', cause: error });
    }
    try {
      this.version = this.prepare();
    } catch (error) {
      this.db.close();
      if (error instanceof UsageError) throw error;
      throw new UsageError(`cannot use the webhook store ${this.file}: ${(error as Error).message}`, { field: '--store', cause: error });
    }
  }

  private prepare(): number {
    const found = identify(this.db, this.file);
    if (this.readonly) {
      if (found.kind === 'empty') throw notAStore(this.file, 'it is empty (no events table)');
      return found.version;
    }
    // Only now, with the file known to be ours (or empty), is anything changed.
    // FULL: every commit fsyncs the WAL, so an acknowledged event survives a crash *and* a power cut.
    for (const pragma of WRITER_PRAGMAS) this.db.pragma(pragma);
    if (found.kind === 'empty') {
      this.db.transaction(() => this.db.exec(`${EVENTS_TABLE};${SIDE_TABLES}${MARK_CURRENT}`)).immediate();
    } else if (found.version === 1) {
      const migrate = this.db.transaction(() => {
        const sequence = this.db.prepare("SELECT seq FROM sqlite_sequence WHERE name = 'events'").get() as { seq: number } | undefined;
        this.db.exec(MIGRATE_FROM_1);
        // Keep the sequence where it was, so a --since-last cursor stays valid across the upgrade.
        if (sequence) this.db.prepare("UPDATE sqlite_sequence SET seq = MAX(seq, ?) WHERE name = 'events'").run(sequence.seq);
        this.db.exec(MARK_CURRENT);
      });
      migrate.immediate();
    }

    const insert = this.db.prepare(WRITER_SQL.insert);
    const find = this.db.prepare(WRITER_SQL.find);
    const redelivered = this.db.prepare(WRITER_SQL.redelivered);
    const conflict = this.db.prepare(WRITER_SQL.conflict);
    this.insertMany = this.db.transaction((items: readonly EventToStore[], now: number) =>
      items.map((item): InsertResult => {
        const params = insertParams(item, now);
        const inserted = insert.get(params) as { seq: number } | undefined;
        if (inserted) return { seq: inserted.seq, outcome: 'stored', deliveries: 1, conflicts: 0 };
        const existing = find.get(params) as { seq: number; same: number };
        const differs = existing.same ? 0 : 1;
        if (differs) conflict.run(params);
        const counts = redelivered.get({ seq: existing.seq, now, conflict: differs }) as { deliveries: number; conflicts: number };
        return { seq: existing.seq, outcome: differs ? 'conflict' : 'duplicate', ...counts };
      }),
    );
    return STORE_SCHEMA_VERSION;
  }

  /**
   * Stores events in ONE transaction (one fsync): either all are durable when this returns, or it
   * throws and none is. The listener uses the worker (sqlite-sink.ts); this is for tests and tools.
   */
  insertBatch(items: readonly EventToStore[], receivedAtMs: number = Date.now()): InsertResult[] {
    if (!this.insertMany) throw new Error('the webhook store was opened read-only');
    if (items.length === 0) return [];
    return this.insertMany(items, receivedAtMs);
  }

  /** Events in insertion order, read in chunks (see EventReader). */
  *events(filter: WebhookEventFilter = {}): IterableIterator<StoredWebhookEvent> {
    const { where, params } = whereOf(filter);
    const statement = this.db.prepare(
      `SELECT ${this.columns()} FROM events WHERE ${where} AND seq > @after ORDER BY seq LIMIT ${CHUNK}`,
    );
    let after = filter.afterSeq ?? 0;
    let remaining = filter.limit ?? Number.POSITIVE_INFINITY;
    while (remaining > 0) {
      const rows = statement.all({ ...params, after }) as EventRow[];
      for (const row of rows) {
        if (remaining <= 0) return;
        remaining -= 1;
        yield toStored(row);
      }
      if (rows.length < CHUNK) return;
      after = rows[rows.length - 1]!.seq;
    }
  }

  /** The conflicting deliveries of one event, oldest first. */
  conflicts(eventId: string): StoredConflict[] {
    if (this.version < 2) return [];
    return this.db
      .prepare('SELECT event_id, received_at_ms, body FROM event_conflicts WHERE event_id = ? ORDER BY id')
      .all(eventId) as StoredConflict[];
  }

  /** The largest seq stored (0 when empty) among the events `type` selects (see WebhookEventFilter). */
  lastSeq(type?: KnownEventType): number {
    const { where, params } = whereOf({ type });
    const row = this.db.prepare(`SELECT MAX(seq) AS seq FROM events WHERE ${where}`).get(params) as { seq: number | null };
    return row.seq ?? 0;
  }

  /** How many events match (same filter as events(), limit ignored). */
  count(filter: Omit<WebhookEventFilter, 'limit'> = {}): number {
    const { where, params } = whereOf(filter);
    const row = this.db.prepare(`SELECT COUNT(*) AS n FROM events WHERE ${where} AND seq > @after`).get({
      ...params,
      after: filter.afterSeq ?? 0,
    }) as { n: number };
    return row.n;
  }

  /** A real write: one tiny synced transaction, and the file at the path is still this one. */
  checkWritable(): WritableCheck {
    if (this.readonly) return { ok: false, reason: 'opened read-only' };
    try {
      this.db.prepare(WRITER_SQL.health).run({ now: Date.now() });
      return { ok: true };
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (!this.readonly) {
      try {
        this.db.pragma('wal_checkpoint(TRUNCATE)');
      } catch {
        // A reader holding the WAL only delays the checkpoint; nothing is lost.
      }
    }
    this.db.close();
  }

  /** Version 1 files (read-only opens do not migrate) lack the newer columns. */
  private columns(): string {
    const base = 'seq, event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, deliveries';
    return this.version >= 2
      ? `${base}, conflicts, unrecognised_reason, body`
      : `${base}, 0 AS conflicts, NULL AS unrecognised_reason, CAST(body AS BLOB) AS body`;
  }
}

const KNOWN_LIST = KNOWN_EVENT_TYPES.map((type) => `'${type}'`).join(', ');

function whereOf(filter: Omit<WebhookEventFilter, 'limit'>): { where: string; params: Record<string, unknown> } {
  const where: string[] = ['1 = 1'];
  const params: Record<string, unknown> = {};
  if (filter.type !== undefined) {
    // An event of an unknown (or no) type goes to every export rather than to none.
    where.push(`(event_type = @type OR event_type IS NULL OR event_type NOT IN (${KNOWN_LIST}))`);
    params.type = filter.type;
  }
  if (filter.fromMs !== undefined) {
    where.push('created_at_ms >= @fromMs');
    params.fromMs = Math.floor(filter.fromMs);
  }
  if (filter.toMs !== undefined) {
    where.push('created_at_ms < @toMs');
    params.toMs = Math.ceil(filter.toMs);
  }
  if (filter.upToSeq !== undefined) {
    where.push('seq <= @upTo');
    params.upTo = filter.upToSeq;
  }
  return { where: where.join(' AND '), params };
}

function toStored(row: EventRow): StoredWebhookEvent {
  return {
    seq: row.seq,
    event_id: row.event_id,
    event_type: row.event_type,
    created_at: row.created_at,
    created_at_ms: row.created_at_ms,
    received_at: new Date(row.received_at_ms).toISOString(),
    received_at_ms: row.received_at_ms,
    last_received_ms: row.last_received_ms,
    deliveries: row.deliveries,
    conflicts: row.conflicts,
    unrecognised_reason: row.unrecognised_reason,
    body: row.body,
  };
}

/** Opens (and, unless readonly, creates or migrates) the store at `file`. Always close() it. */
export function openWebhookStore(file: string, options: OpenStoreOptions = {}): WebhookStore {
  return new WebhookStore(file, options);
}

/** The async reader the exports use, over a read-only connection. */
export function sqliteEventReader(file: string): EventReader {
  const store = openWebhookStore(file, { readonly: true });
  return {
    location: store.file,
    async *events(filter) {
      yield* store.events(filter);
    },
    lastSeq: async (type) => store.lastSeq(type),
    count: async (filter) => store.count(filter),
    close: async () => store.close(),
  };
}
