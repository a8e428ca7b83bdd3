import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { UsageError } from '../../errors.js';
import { epochSecondsToMs } from './epoch.js';
import type { WebhookEvent, WebhookEventType } from './types.js';

/**
 * The durable webhook store: one SQLite file (WAL, synchronous=FULL) with `event_id` unique.
 *
 * Read API (stable; `tcb cmb export --source webhook` and `tcb feedback export --source webhook`
 * build on it):
 *
 *   const store = openWebhookStore(file, { readonly: true });
 *   try {
 *     for (const stored of store.events({ type: 'cmb', fromMs, toMs, afterSeq })) { ... }
 *   } finally { store.close(); }
 *
 * - events() yields in insertion order (`seq` ascending). `fromMs` is inclusive and `toMs` exclusive,
 *   both compared with the event's own `created_at` (epoch seconds → ms). `afterSeq` yields only events
 *   stored after that sequence number: remember the largest `seq` you exported for --since-last
 *   (seq only grows and is never reused, and events commit in seq order).
 * - The iterator reads in chunks, so the connection is free between chunks and memory stays flat.
 * - A missing file is a UsageError (exit 2), as is a file that is not a tcb webhook store.
 */

export interface StoredWebhookEvent {
  /** Insertion order, 1, 2, 3 ... never reused. */
  seq: number;
  event_id: string;
  event_type: WebhookEventType;
  /** created_at exactly as it came (epoch seconds, normally a string). */
  created_at: string;
  /** When the listener first stored it, ISO-8601 UTC. */
  received_at: string;
  /** How many times Truecaller delivered it (at-least-once delivery; 1 = no redelivery). */
  deliveries: number;
  /** The event as it came, parsed. */
  event: WebhookEvent;
}

export interface WebhookEventFilter {
  type?: WebhookEventType;
  /** Inclusive lower bound on created_at, epoch ms. */
  fromMs?: number;
  /** Exclusive upper bound on created_at, epoch ms. */
  toMs?: number;
  /** Only events with seq > afterSeq. */
  afterSeq?: number;
  /** Stop after this many events. */
  limit?: number;
}

export interface OpenStoreOptions {
  /** Open for reading only (exports): the file must exist; nothing is ever written. */
  readonly?: boolean;
}

/** One event ready to be stored: already validated; `body` is the JSON text as received. */
export interface EventToStore {
  event_id: string;
  event_type: WebhookEventType;
  created_at: string;
  body: string;
}

export interface InsertResult {
  seq: number;
  /** true when this event_id was already stored (a redelivery): nothing new was stored. */
  duplicate: boolean;
}

export const STORE_SCHEMA_VERSION = 1;
const CHUNK = 500;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (
  seq              INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id         TEXT    NOT NULL UNIQUE,
  event_type       TEXT    NOT NULL,
  created_at       TEXT    NOT NULL,
  created_at_ms    INTEGER,
  received_at_ms   INTEGER NOT NULL,
  last_received_ms INTEGER NOT NULL,
  deliveries       INTEGER NOT NULL DEFAULT 1,
  body             TEXT    NOT NULL
);
CREATE INDEX IF NOT EXISTS events_type_created ON events (event_type, created_at_ms);
`;

/** The one statement that stores an event; a redelivery only bumps its delivery count. */
export const UPSERT_SQL = `INSERT INTO events (event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, body)
VALUES (@event_id, @event_type, @created_at, @created_at_ms, @now, @now, @body)
ON CONFLICT (event_id) DO UPDATE SET deliveries = deliveries + 1, last_received_ms = excluded.last_received_ms
RETURNING seq, deliveries`;

/** Per-connection settings of every writer: FULL fsyncs the WAL at each commit. */
export const WRITER_PRAGMAS = ['journal_mode = WAL', 'synchronous = FULL'];

export function upsertParams(item: EventToStore, now: number): Record<string, unknown> {
  return {
    event_id: item.event_id,
    event_type: item.event_type,
    created_at: item.created_at,
    created_at_ms: epochSecondsToMs(item.created_at),
    now,
    body: item.body,
  };
}

interface EventRow {
  seq: number;
  event_id: string;
  event_type: WebhookEventType;
  created_at: string;
  received_at_ms: number;
  deliveries: number;
  body: string;
}

export class WebhookStore {
  readonly file: string;
  readonly readonly: boolean;
  private readonly db: Database.Database;
  private insertMany?: (items: readonly EventToStore[], receivedAtMs: number) => InsertResult[];
  private closed = false;

  constructor(file: string, options: OpenStoreOptions = {}) {
    this.file = path.resolve(file);
    this.readonly = Boolean(options.readonly);
    if (this.readonly) {
      if (!existsSync(this.file)) {
        throw new UsageError(`no webhook store at ${this.file}`, {
          hint: 'pass the --store file that `tcb webhook listen` writes',
          field: 'store',
        });
      }
    } else {
      mkdirSync(path.dirname(this.file), { recursive: true });
      // The store holds phone numbers: create it private. SQLite gives -wal/-shm the same mode.
      if (!existsSync(this.file)) closeSync(openSync(this.file, 'a', 0o600));
    }
    try {
      this.db = new Database(this.file, { readonly: this.readonly, fileMustExist: true, timeout: 5000 });
    } catch (error) {
      throw new UsageError(`cannot open the webhook store ${this.file}: ${(error as Error).message}`, { cause: error });
    }
    try {
      this.prepare();
    } catch (error) {
      this.db.close();
      if (error instanceof UsageError) throw error;
      throw new UsageError(`${this.file} is not a tcb webhook store: ${(error as Error).message}`, { cause: error });
    }
  }

  private prepare(): void {
    if (this.readonly) {
      const version = this.db.pragma('user_version', { simple: true }) as number;
      if (version === 0) throw new UsageError(`${this.file} is not a tcb webhook store (no events table)`);
      this.checkVersion(version);
      return;
    }
    // FULL: every commit fsyncs the WAL, so an acknowledged event survives a crash *and* a power cut.
    for (const pragma of WRITER_PRAGMAS) this.db.pragma(pragma);
    const version = this.db.pragma('user_version', { simple: true }) as number;
    this.checkVersion(version);
    this.db.exec(SCHEMA);
    if (version === 0) this.db.pragma(`user_version = ${STORE_SCHEMA_VERSION}`);

    const upsert = this.db.prepare(UPSERT_SQL);
    this.insertMany = this.db.transaction((items: readonly EventToStore[], now: number) =>
      items.map((item) => {
        const row = upsert.get(upsertParams(item, now)) as { seq: number; deliveries: number };
        return { seq: row.seq, duplicate: row.deliveries > 1 };
      }),
    );
  }

  private checkVersion(version: number): void {
    if (version > STORE_SCHEMA_VERSION) {
      throw new UsageError(
        `${this.file} was written by a newer tcb (store schema ${version}; this tcb reads ${STORE_SCHEMA_VERSION})`,
        { hint: 'upgrade tcb' },
      );
    }
  }

  /**
   * Stores events in ONE transaction (one fsync): either all are durable when this returns, or it
   * throws and none is. A redelivered event_id is not stored again; its delivery count goes up.
   */
  insertBatch(items: readonly EventToStore[], receivedAtMs: number = Date.now()): InsertResult[] {
    if (!this.insertMany) throw new Error('the webhook store was opened read-only');
    if (items.length === 0) return [];
    return this.insertMany(items, receivedAtMs);
  }

  /** Events in insertion order, read in chunks (see the module comment). */
  *events(filter: WebhookEventFilter = {}): IterableIterator<StoredWebhookEvent> {
    const { where, params } = whereOf(filter);
    const statement = this.db.prepare(
      `SELECT seq, event_id, event_type, created_at, received_at_ms, deliveries, body
       FROM events WHERE ${where} AND seq > @after ORDER BY seq LIMIT ${CHUNK}`,
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

  /** The largest seq stored (0 when empty), optionally for one type. */
  lastSeq(type?: WebhookEventType): number {
    const row = (
      type === undefined
        ? this.db.prepare('SELECT MAX(seq) AS seq FROM events').get()
        : this.db.prepare('SELECT MAX(seq) AS seq FROM events WHERE event_type = ?').get(type)
    ) as { seq: number | null };
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

  /** Cheap liveness check for the health endpoint. */
  ping(): boolean {
    this.db.prepare('SELECT 1').get();
    return true;
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
}

function whereOf(filter: Omit<WebhookEventFilter, 'limit'>): { where: string; params: Record<string, unknown> } {
  const where: string[] = ['1 = 1'];
  const params: Record<string, unknown> = {};
  if (filter.type !== undefined) {
    where.push('event_type = @type');
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
  return { where: where.join(' AND '), params };
}

function toStored(row: EventRow): StoredWebhookEvent {
  return {
    seq: row.seq,
    event_id: row.event_id,
    event_type: row.event_type,
    created_at: row.created_at,
    received_at: new Date(row.received_at_ms).toISOString(),
    deliveries: row.deliveries,
    event: JSON.parse(row.body) as WebhookEvent,
  };
}

/** Opens (and, unless readonly, creates) the store at `file`. Always close() it. */
export function openWebhookStore(file: string, options: OpenStoreOptions = {}): WebhookStore {
  return new WebhookStore(file, options);
}
