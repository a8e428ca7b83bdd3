import { createHash } from 'node:crypto';
import type { ConnectionOptions } from 'node:tls';
import type pg from 'pg';
import { AuthError, TransientError, UsageError } from '../../errors.js';
import type { PostgresStoreLocation } from './store-location.js';
import {
  KNOWN_EVENT_TYPES,
  STORE_SCHEMA_VERSION,
  type EventReader,
  type EventSink,
  type EventToStore,
  type InsertResult,
  type KnownEventType,
  type StoredWebhookEvent,
  type WebhookEventFilter,
  type WritableCheck,
} from './store-types.js';

/**
 * The webhook store in PostgreSQL, shared by several receivers (`tcb webhook listen --store
 * postgres://…`) and read by the exports. Same columns and guarantees as the SQLite store:
 *
 *   tcb_webhook_events           one row per event_id (the first delivery is THE event; body bytea, byte-exact)
 *   tcb_webhook_event_conflicts  later deliveries of an event_id whose bytes differ
 *   tcb_webhook_health           the row /healthz writes
 *   tcb_webhook_schema           the schema version (one migration at a time, under an advisory lock)
 *
 * PostgreSQL-only columns:
 *   event_key  sha256 of the event_id: the unique key. A btree entry has a size limit and text
 *              cannot hold U+0000; the key has neither problem, so no event_id a sender can make
 *              fails a batch (the event_id column keeps it, U+0000 shown as U+FFFD).
 *   xid        the inserting transaction (xid8): the --since-last cursor. Receivers commit
 *              concurrently, so seq order is not commit order; an export only takes rows of
 *              transactions older than the oldest one still open (see settledRun).
 *
 * Durability: 200 is answered after COMMIT returns, with synchronous_commit on (set per transaction,
 * so a database default of off cannot weaken it). Transactions set their own timeouts with SET LOCAL,
 * which works through PgBouncer-style poolers too.
 *
 * When the database cannot be reached, the sink stops trying for a while (exponential backoff with
 * jitter, probing in the background): insertBatch rejects at once with a StoreUnavailableError that
 * carries the seconds until the next probe (the listener's Retry-After), checkWritable reports why,
 * and everything resumes by itself once a probe succeeds.
 */

export const PG_TABLES = {
  events: 'tcb_webhook_events',
  conflicts: 'tcb_webhook_event_conflicts',
  health: 'tcb_webhook_health',
  schema: 'tcb_webhook_schema',
} as const;

/** The key of the advisory lock the migration runs under ('TCBW', the SQLite store's application_id). */
export const MIGRATION_LOCK_KEY = 0x54434257;
const SCHEMA_COMPONENT = 'webhook-store';
/** First half of the two-key advisory locks taken per event (the second is from its key). */
export const EVENT_LOCK_SPACE = MIGRATION_LOCK_KEY;
/** xid8 and pg_current_xact_id() arrived in PostgreSQL 13. */
const MIN_SERVER_VERSION = 130000;

const SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS ${PG_TABLES.events} (
  seq                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_key           bytea   NOT NULL UNIQUE,
  event_id            text    NOT NULL,
  event_type          text,
  created_at          text,
  created_at_ms       bigint,
  received_at_ms      bigint  NOT NULL,
  last_received_ms    bigint  NOT NULL,
  deliveries          integer NOT NULL DEFAULT 1,
  body                bytea   NOT NULL,
  unrecognised        boolean NOT NULL DEFAULT false,
  unrecognised_reason text,
  conflicts           integer NOT NULL DEFAULT 0,
  xid                 xid8    NOT NULL DEFAULT pg_current_xact_id()
);
CREATE INDEX IF NOT EXISTS ${PG_TABLES.events}_created ON ${PG_TABLES.events} (created_at_ms);
CREATE INDEX IF NOT EXISTS ${PG_TABLES.events}_xid ON ${PG_TABLES.events} (xid);
CREATE TABLE IF NOT EXISTS ${PG_TABLES.conflicts} (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id       text   NOT NULL,
  event_key      bytea  NOT NULL,
  received_at_ms bigint NOT NULL,
  body           bytea  NOT NULL
);
CREATE INDEX IF NOT EXISTS ${PG_TABLES.conflicts}_event ON ${PG_TABLES.conflicts} (event_key);
CREATE TABLE IF NOT EXISTS ${PG_TABLES.health} (
  id            integer PRIMARY KEY CHECK (id = 1),
  checked_at_ms bigint  NOT NULL
);
`;

export interface PgTimeouts {
  /** Opening a connection. */
  connectMs: number;
  /** One statement, server side (SET LOCAL statement_timeout). */
  statementMs: number;
  /** Waiting for a row lock (another receiver holding the same event). */
  lockMs: number;
  /** The client gives up on an answer (a dead network never answers at all). */
  queryMs: number;
}

export const DEFAULT_PG_TIMEOUTS: PgTimeouts = { connectMs: 5_000, statementMs: 15_000, lockMs: 10_000, queryMs: 20_000 };

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 250, maxMs: 10_000 };

export interface PgStoreOptions {
  timeouts?: Partial<PgTimeouts>;
  backoff?: Partial<BackoffPolicy>;
  /** Connections in the pool (the sink needs few: group commit runs one transaction at a time). */
  poolSize?: number;
  /** Told when the database becomes unreachable and when it is back (for the operator's log). */
  onStateChange?: (state: 'down' | 'up', detail: string) => void;
  /** Shown in pg_stat_activity. */
  applicationName?: string;
}

/** The store cannot be written now; try again after `retryAfterSeconds` (the listener's Retry-After). */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message);
    this.name = 'StoreUnavailableError';
  }
}

// --- pure helpers (unit-tested) ---------------------------------------------------------------

/** The unique key of an event_id: its SHA-256, over the exact UTF-8 bytes. */
export function eventKey(eventId: string): Buffer {
  return createHash('sha256').update(eventId, 'utf8').digest();
}

/** The per-event advisory locks a batch takes first, in this order: ascending, no repeats. */
export function eventLockIds(keys: readonly Buffer[]): number[] {
  return [...new Set(keys.map((key) => key.readInt32BE(0)))].sort((a, b) => a - b);
}

export const EVENT_LOCKS_SQL = 'SELECT count(pg_advisory_xact_lock($1::int4, k)) FROM unnest($2::int4[]) AS k';

/** PostgreSQL text cannot hold U+0000; the body keeps the exact bytes, the column shows U+FFFD. */
export function pgText(value: string | null): string | null {
  return value === null ? null : value.includes('\u0000') ? value.replace(/\u0000/g, '\uFFFD') : value;
}

function pgBigint(value: number | null): number | null {
  return value !== null && Number.isSafeInteger(value) ? value : null;
}

/** Full-jitter exponential backoff: the n-th retry (0-based) waits a random time up to initial·2ⁿ, capped. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * 2 ** Math.min(attempt, 30));
  return Math.max(policy.initialMs / 2, Math.round(ceiling * random()));
}

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOENT', // a unix socket that is not there
]);

/**
 * true for failures of the database or the way to it (worth backing off for): connection errors,
 * server shutting down or starting, too many connections, out of disk or memory, read-only
 * (a failover to a standby), timeouts. false for an error about one batch.
 */
export function isUnavailable(error: unknown): boolean {
  const e = error as { code?: unknown; message?: unknown };
  const code = typeof e?.code === 'string' ? e.code : '';
  if (CONNECTION_CODES.has(code)) return true;
  if (/^(08|53|57|58|XX)/.test(code) || code === '25006') return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  return /connection terminated|timeout exceeded when trying to connect|query read timeout|not queryable|connection (?:error|ended)|Connection refused|the database system is/i.test(message);
}

/** Deadlocks and serialization failures: the transaction can simply run again. */
export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown })?.code;
  return code === '40P01' || code === '40001';
}

/** One delivery's result, computed for a group of deliveries of the same event_id in one batch. */
export interface DeliveryCounts {
  outcome: InsertResult['outcome'];
  deliveries: number;
  conflicts: number;
}

/**
 * The outcome of each delivery of one event_id within a batch, in order, as if they were stored one
 * after the other: against the stored body (`existing`) when the event was already there, else the
 * first delivery is stored and the rest compare with it.
 */
export function deliveryOutcomes(
  bodies: readonly Uint8Array[],
  existing: { body: Uint8Array; deliveries: number; conflicts: number } | undefined,
): DeliveryCounts[] {
  const results: DeliveryCounts[] = [];
  let reference = existing?.body;
  let deliveries = existing?.deliveries ?? 0;
  let conflicts = existing?.conflicts ?? 0;
  for (const body of bodies) {
    deliveries += 1;
    if (reference === undefined) {
      reference = body;
      results.push({ outcome: 'stored', deliveries, conflicts });
      continue;
    }
    const same = Buffer.compare(Buffer.from(reference.buffer, reference.byteOffset, reference.byteLength), Buffer.from(body.buffer, body.byteOffset, body.byteLength)) === 0;
    if (!same) conflicts += 1;
    results.push({ outcome: same ? 'duplicate' : 'conflict', deliveries, conflicts });
  }
  return results;
}

/** Rows per statement: bounded by count and by bytes (a batch may hold large bodies). */
export function chunkByBytes<T>(items: readonly T[], size: (item: T) => number, maxRows: number, maxBytes: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = 0;
  for (const item of items) {
    const itemBytes = size(item);
    if (current.length > 0 && (current.length >= maxRows || bytes + itemBytes > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(item);
    bytes += itemBytes;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

const MAX_ROWS_PER_STATEMENT = 500;
const MAX_BYTES_PER_STATEMENT = 8 * 1024 * 1024;
const READ_CHUNK = 500;
const TRANSACTION_ATTEMPTS = 4;

// --- connection -------------------------------------------------------------------------------

let driver: typeof pg | undefined;

/** `pg` is loaded only when a PostgreSQL store is used: no other command pays for it. */
async function loadDriver(): Promise<typeof pg> {
  if (!driver) {
    const module = (await import('pg')) as unknown as { default?: typeof pg } & typeof pg;
    driver = module.default ?? module;
    // bigint and xid8 stay strings: seq is converted where it is read, xid8 compared in SQL.
  }
  return driver;
}

function tlsOptions(location: PostgresStoreLocation): ConnectionOptions | false {
  const tls = location.connection.tls;
  if (tls === false) return false;
  return {
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    ...(tls.checkHostname ? {} : { checkServerIdentity: () => undefined }),
  };
}

function poolConfig(location: PostgresStoreLocation, options: PgStoreOptions, timeouts: PgTimeouts, size: number): pg.PoolConfig {
  const c = location.connection;
  const password = c.password;
  return {
    host: c.host,
    port: c.port,
    user: c.user,
    database: c.database,
    // A function: the password is never a property of a config object that could be printed.
    password: async () => password as string,
    ssl: tlsOptions(location),
    enableChannelBinding: c.channelBinding,
    application_name: c.applicationName ?? options.applicationName ?? 'tcb',
    options: c.options,
    connectionTimeoutMillis: c.connectTimeoutMs ?? timeouts.connectMs,
    query_timeout: timeouts.queryMs,
    keepAlive: true,
    max: size,
    idleTimeoutMillis: 30_000,
  } as pg.PoolConfig;
}

function transactionPrelude(timeouts: PgTimeouts, readOnly = false): string {
  return [
    readOnly ? 'BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY' : 'BEGIN',
    `SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeouts.statementMs))}`,
    `SET LOCAL lock_timeout = ${Math.max(1, Math.round(timeouts.lockMs))}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${Math.max(1, Math.round(timeouts.queryMs * 2))}`,
    ...(readOnly ? [] : ['SET LOCAL synchronous_commit = on']),
  ].join('; ');
}

/** Turns a failure to open the store into the CLI's error classes (exit 2 config, 3 auth, 5 unreachable). */
export function openError(error: unknown, location: PostgresStoreLocation): Error {
  if (error instanceof UsageError || error instanceof AuthError || error instanceof TransientError) return error;
  const e = error as { code?: string; message?: string };
  const where = location.identity;
  const detail = e.message ?? String(error);
  if (e.code === '28P01' || e.code === '28000' || /password must be a string|SASL: SCRAM-SERVER-FIRST-MESSAGE/i.test(detail)) {
    return new AuthError(`PostgreSQL refused ${where}: ${e.code === '28000' ? detail : 'wrong or missing password'}`, {
      code: 'store_auth',
      hint: 'give the password in PGPASSWORD or ~/.pgpass (a password in the URL shows in ps)',
      cause: error,
    });
  }
  if (e.code === '3D000') return new UsageError(`${where}: ${detail}`, { field: '--store', hint: 'create the database first (createdb), or fix its name in the URL', cause: error });
  if (e.code === '42501') {
    return new UsageError(`${where}: ${detail}`, {
      field: '--store',
      hint: `the user needs CREATE on the schema (first start) and SELECT/INSERT/UPDATE on the ${PG_TABLES.events} tables`,
      cause: error,
    });
  }
  if (isUnavailable(error)) {
    return new TransientError(`cannot reach PostgreSQL at ${where}: ${detail}`, { code: 'store_unreachable', hint: 'check the host, the port and that the server is running', cause: error });
  }
  if (/self[- ]signed|certificate|SSL|TLS/i.test(detail)) {
    return new UsageError(`${where}: TLS: ${detail}`, { field: '--store', hint: 'check sslmode and sslrootcert (the server\'s CA certificate)', cause: error });
  }
  return new TransientError(`PostgreSQL store ${where}: ${detail}`, { code: 'store_error', cause: error });
}

/** Checks the server version and, unless reading, creates or checks the schema. */
async function prepareSchema(client: pg.PoolClient, location: PostgresStoreLocation, timeouts: PgTimeouts, create: boolean): Promise<void> {
  const version = Number((await client.query<{ v: string }>("SELECT current_setting('server_version_num') AS v")).rows[0]?.v ?? 0);
  if (version < MIN_SERVER_VERSION) {
    throw new UsageError(`${location.identity}: PostgreSQL 13 or newer is needed (the server is ${Math.floor(version / 10000)})`, { field: '--store' });
  }
  const current = async (): Promise<number | undefined> => {
    const exists = (await client.query<{ t: string | null }>('SELECT to_regclass($1)::text AS t', [PG_TABLES.schema])).rows[0]?.t;
    if (!exists) return undefined;
    const row = (await client.query<{ version: number }>(`SELECT version FROM ${PG_TABLES.schema} WHERE component = $1`, [SCHEMA_COMPONENT])).rows[0];
    return row?.version;
  };
  const check = (found: number | undefined): boolean => {
    if (found === undefined) return false;
    if (found > STORE_SCHEMA_VERSION) {
      throw new UsageError(`${location.identity} holds a webhook store of schema ${found}; this tcb reads ${STORE_SCHEMA_VERSION}`, { hint: 'upgrade tcb' });
    }
    return found === STORE_SCHEMA_VERSION;
  };
  if (check(await current())) return;
  if (!create) {
    throw new UsageError(`${location.identity} has no tcb webhook store (no ${PG_TABLES.schema} table)`, {
      field: '--store',
      hint: 'start `tcb webhook listen --store URL` once to create it, or check the database name and search_path',
    });
  }
  // Several receivers may start at once: one migrates under the lock, the others find it done.
  await client.query(transactionPrelude(timeouts));
  try {
    await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK_KEY]);
    await client.query(`CREATE TABLE IF NOT EXISTS ${PG_TABLES.schema} (
      component   text PRIMARY KEY,
      version     integer NOT NULL,
      migrated_at timestamptz NOT NULL DEFAULT now()
    )`);
    if (!check(await current())) {
      // Version 2 is the first PostgreSQL schema: there is nothing older to migrate from.
      await client.query(SCHEMA_SQL);
      await client.query(
        `INSERT INTO ${PG_TABLES.schema} (component, version) VALUES ($1, $2)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version, migrated_at = now()`,
        [SCHEMA_COMPONENT, STORE_SCHEMA_VERSION],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  }
}

async function openPool(location: PostgresStoreLocation, options: PgStoreOptions, timeouts: PgTimeouts, size: number, create: boolean): Promise<pg.Pool> {
  const { Pool } = await loadDriver();
  const pool = new Pool(poolConfig(location, options, timeouts, size));
  // An idle connection dropped by the server (restart, failover) must not crash the process.
  pool.on('error', () => {});
  try {
    const client = await pool.connect();
    try {
      await prepareSchema(client, location, timeouts, create);
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    throw openError(error, location);
  }
  return pool;
}

// --- the sink (listener side) -----------------------------------------------------------------

interface Group {
  key: Buffer;
  first: EventToStore;
  /** Indexes into the batch of every delivery of this event_id, in order. */
  indexes: number[];
}

export class PostgresSink implements EventSink {
  readonly location: string;
  /** Transactions committed, and transactions run again after a deadlock or serialization failure. */
  readonly stats = { commits: 0, retries: 0 };
  private readonly timeouts: PgTimeouts;
  private readonly backoff: BackoffPolicy;
  private down: { since: number; reason: string; attempt: number; nextProbeAt: number; timer?: NodeJS.Timeout } | undefined;
  private closed: Promise<void> | undefined;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly target: PostgresStoreLocation,
    private readonly options: PgStoreOptions,
  ) {
    this.location = target.display;
    this.timeouts = { ...DEFAULT_PG_TIMEOUTS, ...options.timeouts };
    this.backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
    // The server closed an idle connection (restart, failover): back off before the next attempt.
    pool.removeAllListeners('error');
    pool.on('error', (error) => this.markDown(error));
  }

  /** Connects, creates the schema if needed (exit 2/3/5 on failure). */
  static async open(location: PostgresStoreLocation, options: PgStoreOptions = {}): Promise<PostgresSink> {
    const timeouts = { ...DEFAULT_PG_TIMEOUTS, ...options.timeouts };
    const pool = await openPool(location, { applicationName: 'tcb webhook listen', ...options }, timeouts, options.poolSize ?? 4, true);
    return new PostgresSink(pool, location, options);
  }

  /** Whether the sink is backing off now (for tests and the log). */
  get available(): boolean {
    return this.down === undefined;
  }

  async insertBatch(events: readonly EventToStore[], receivedAtMs: number): Promise<InsertResult[]> {
    if (this.closed) throw new Error('the store is closed');
    if (events.length === 0) return [];
    this.refuseWhileDown();
    for (let attempt = 1; ; attempt += 1) {
      try {
        const results = await this.transaction((client) => this.store(client, events, receivedAtMs));
        this.stats.commits += 1;
        return results;
      } catch (error) {
        if (isRetryable(error) && attempt < TRANSACTION_ATTEMPTS) {
          this.stats.retries += 1;
          continue;
        }
        if (isUnavailable(error)) {
          this.markDown(error);
          throw new StoreUnavailableError(this.down?.reason ?? `PostgreSQL: ${(error as Error).message}`, this.retryAfterSeconds());
        }
        throw error;
      }
    }
  }

  async checkWritable(): Promise<WritableCheck> {
    if (this.closed) return { ok: false, reason: 'the store is closed' };
    if (this.down) return { ok: false, reason: `${this.down.reason}; next try in ${this.retryAfterSeconds()} s` };
    try {
      await this.writeHealth();
      return { ok: true };
    } catch (error) {
      if (isUnavailable(error)) this.markDown(error);
      return { ok: false, reason: `PostgreSQL: ${(error as Error).message}` };
    }
  }

  async count(): Promise<number> {
    const result = await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${PG_TABLES.events}`);
    return Number(result.rows[0]?.n ?? 0);
  }

  close(): Promise<void> {
    this.closed ??= (async () => {
      if (this.down?.timer) clearTimeout(this.down.timer);
      await this.pool.end().catch(() => {});
    })();
    return this.closed;
  }

  private refuseWhileDown(): void {
    if (this.down) throw new StoreUnavailableError(this.down.reason, this.retryAfterSeconds());
  }

  private retryAfterSeconds(): number {
    if (!this.down) return 1;
    return Math.max(1, Math.ceil((this.down.nextProbeAt - Date.now()) / 1000));
  }

  private markDown(error: unknown): void {
    if (this.closed) return;
    const reason = `PostgreSQL is unavailable (${(error as Error)?.message ?? String(error)})`;
    if (this.down) {
      this.down.reason = reason;
      return;
    }
    this.down = { since: Date.now(), reason, attempt: 0, nextProbeAt: 0 };
    this.options.onStateChange?.('down', reason);
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    const down = this.down;
    if (!down || this.closed) return;
    const delay = backoffDelay(down.attempt, this.backoff);
    down.attempt += 1;
    down.nextProbeAt = Date.now() + delay;
    down.timer = setTimeout(() => void this.probe(), delay);
    // A listener that is stopping must not wait for the probe.
    down.timer.unref();
  }

  private async probe(): Promise<void> {
    const down = this.down;
    if (!down || this.closed) return;
    try {
      await this.writeHealth();
    } catch (error) {
      down.reason = `PostgreSQL is unavailable (${(error as Error).message})`;
      this.scheduleProbe();
      return;
    }
    this.down = undefined;
    this.options.onStateChange?.('up', `PostgreSQL answers again after ${Math.round((Date.now() - down.since) / 1000)} s`);
  }

  private async writeHealth(): Promise<void> {
    await this.transaction(async (client) => {
      await client.query(
        `INSERT INTO ${PG_TABLES.health} (id, checked_at_ms) VALUES (1, $1)
         ON CONFLICT (id) DO UPDATE SET checked_at_ms = excluded.checked_at_ms`,
        [Date.now()],
      );
    });
  }

  /** One transaction on one pooled connection; a connection that failed is not reused. */
  private async transaction<T>(work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query(transactionPrelude(this.timeouts));
      let result: T;
      try {
        result = await work(client);
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
        throw error;
      }
      // Only when COMMIT returns is the batch durable; an error here means "maybe not": never a 200.
      await client.query('COMMIT');
      return result;
    } catch (error) {
      if (isUnavailable(error)) broken ??= error as Error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  private async store(client: pg.PoolClient, events: readonly EventToStore[], now: number): Promise<InsertResult[]> {
    // Deliveries of the same event_id in one batch form a group, stored as one row.
    const groups = new Map<string, Group>();
    events.forEach((event, index) => {
      const key = eventKey(event.event_id);
      const id = key.toString('hex');
      const group = groups.get(id);
      if (group) group.indexes.push(index);
      else groups.set(id, { key, first: event, indexes: [index] });
    });
    const ordered = [...groups.values()];
    // Two receivers given the same new events in different orders would wait on each other's
    // inserts (a deadlock, detected only after a second). Every receiver first takes a lock per
    // event in one global order, then inserts in arrival order, so seq follows arrival.
    await client.query(EVENT_LOCKS_SQL, [EVENT_LOCK_SPACE, eventLockIds(ordered.map((g) => g.key))]);

    const inserted = new Map<string, number>();
    for (const chunk of chunkByBytes(ordered, (g) => g.first.body.byteLength, MAX_ROWS_PER_STATEMENT, MAX_BYTES_PER_STATEMENT)) {
      const values: unknown[] = [];
      const rows = chunk.map((group) => {
        const firstBodies = group.indexes.map((i) => events[i]!.body);
        const counts = deliveryOutcomes(firstBodies, undefined).at(-1)!;
        const e = group.first;
        const base = values.length;
        values.push(
          group.key,
          pgText(e.event_id),
          pgText(e.event_type),
          pgText(e.created_at),
          pgBigint(e.created_at_ms),
          now,
          counts.deliveries,
          toBuffer(e.body),
          e.unrecognised_reason !== null,
          pgText(e.unrecognised_reason),
          counts.conflicts,
        );
        const p = (n: number) => `$${base + n}`;
        return `(${p(1)}::bytea, ${p(2)}::text, ${p(3)}::text, ${p(4)}::text, ${p(5)}::bigint, ${p(6)}::bigint, ${p(6)}::bigint, ${p(7)}::integer, ${p(8)}::bytea, ${p(9)}::boolean, ${p(10)}::text, ${p(11)}::integer)`;
      });
      const result = await client.query<{ event_key: Buffer; seq: string }>(
        `INSERT INTO ${PG_TABLES.events}
           (event_key, event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, deliveries, body, unrecognised, unrecognised_reason, conflicts)
         VALUES ${rows.join(', ')}
         ON CONFLICT (event_key) DO NOTHING
         RETURNING event_key, seq`,
        values,
      );
      for (const row of result.rows) inserted.set(row.event_key.toString('hex'), Number(row.seq));
    }

    const results: InsertResult[] = new Array(events.length);
    const conflictRows: Array<{ group: Group; body: Uint8Array }> = [];
    const existing = ordered.filter((g) => !inserted.has(g.key.toString('hex')));
    for (const group of ordered) {
      const seq = inserted.get(group.key.toString('hex'));
      if (seq === undefined) continue;
      const outcomes = deliveryOutcomes(group.indexes.map((i) => events[i]!.body), undefined);
      group.indexes.forEach((index, n) => {
        results[index] = { seq, ...outcomes[n]! };
        if (outcomes[n]!.outcome === 'conflict') conflictRows.push({ group, body: events[index]!.body });
      });
    }

    if (existing.length > 0) {
      // Stored before (by us or another receiver; the event locks above keep others out meanwhile).
      const locked = await client.query<{ seq: string; event_key: Buffer; body: Buffer; deliveries: number; conflicts: number }>(
        `SELECT seq, event_key, body, deliveries, conflicts FROM ${PG_TABLES.events}
         WHERE event_key = ANY($1::bytea[]) FOR UPDATE`,
        [existing.map((g) => g.key)],
      );
      const byKey = new Map(locked.rows.map((row) => [row.event_key.toString('hex'), row]));
      const updates: Array<{ seq: number; deliveries: number; conflicts: number }> = [];
      for (const group of existing) {
        const row = byKey.get(group.key.toString('hex'));
        // Not there although the insert found it: deleted meanwhile. Run the batch again.
        if (!row) throw Object.assign(new Error('an event vanished while it was being stored'), { code: '40001' });
        const outcomes = deliveryOutcomes(
          group.indexes.map((i) => events[i]!.body),
          { body: row.body, deliveries: row.deliveries, conflicts: row.conflicts },
        );
        const seq = Number(row.seq);
        group.indexes.forEach((index, n) => {
          results[index] = { seq, ...outcomes[n]! };
          if (outcomes[n]!.outcome === 'conflict') conflictRows.push({ group, body: events[index]!.body });
        });
        const last = outcomes.at(-1)!;
        updates.push({ seq, deliveries: last.deliveries, conflicts: last.conflicts });
      }
      await client.query(
        `UPDATE ${PG_TABLES.events} AS e
            SET deliveries = u.deliveries, conflicts = u.conflicts, last_received_ms = $4
           FROM unnest($1::bigint[], $2::integer[], $3::integer[]) AS u(seq, deliveries, conflicts)
          WHERE e.seq = u.seq`,
        [updates.map((u) => u.seq), updates.map((u) => u.deliveries), updates.map((u) => u.conflicts), now],
      );
    }

    for (const chunk of chunkByBytes(conflictRows, (c) => c.body.byteLength, MAX_ROWS_PER_STATEMENT, MAX_BYTES_PER_STATEMENT)) {
      const values: unknown[] = [];
      const rows = chunk.map(({ group, body }) => {
        const base = values.length;
        values.push(pgText(group.first.event_id), group.key, now, toBuffer(body));
        return `($${base + 1}::text, $${base + 2}::bytea, $${base + 3}::bigint, $${base + 4}::bytea)`;
      });
      await client.query(`INSERT INTO ${PG_TABLES.conflicts} (event_id, event_key, received_at_ms, body) VALUES ${rows.join(', ')}`, values);
    }
    return results;
  }
}

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

// --- the reader (exports) ---------------------------------------------------------------------

interface EventRow {
  seq: string;
  event_id: string;
  event_type: string | null;
  created_at: string | null;
  created_at_ms: string | null;
  received_at_ms: string;
  last_received_ms: string;
  deliveries: number;
  conflicts: number;
  unrecognised_reason: string | null;
  body: Buffer;
}

const EVENT_COLUMNS = 'seq, event_id, event_type, created_at, created_at_ms, received_at_ms, last_received_ms, deliveries, conflicts, unrecognised_reason, body';

function toStored(row: EventRow): StoredWebhookEvent {
  const receivedAtMs = Number(row.received_at_ms);
  return {
    seq: Number(row.seq),
    event_id: row.event_id,
    event_type: row.event_type,
    created_at: row.created_at,
    created_at_ms: row.created_at_ms === null ? null : Number(row.created_at_ms),
    received_at: new Date(receivedAtMs).toISOString(),
    received_at_ms: receivedAtMs,
    last_received_ms: Number(row.last_received_ms),
    deliveries: row.deliveries,
    conflicts: row.conflicts,
    unrecognised_reason: row.unrecognised_reason,
    body: row.body,
  };
}

/** The WHERE clause of a filter; parameters are appended to `params`. Pure. */
export function filterSql(filter: Omit<WebhookEventFilter, 'limit'>, params: unknown[]): string {
  const where: string[] = [];
  const add = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  if (filter.type !== undefined) {
    // The type asked for, and every event whose type is not a documented one (it shows in both exports).
    where.push(`(event_type = ${add(filter.type)} OR event_type IS NULL OR NOT (event_type = ANY(${add([...KNOWN_EVENT_TYPES])}::text[])))`);
  }
  if (filter.fromMs !== undefined) where.push(`created_at_ms >= ${add(Math.floor(filter.fromMs))}`);
  if (filter.toMs !== undefined) where.push(`created_at_ms < ${add(Math.ceil(filter.toMs))}`);
  if (filter.afterSeq !== undefined) where.push(`seq > ${add(filter.afterSeq)}`);
  if (filter.upToSeq !== undefined) where.push(`seq <= ${add(filter.upToSeq)}`);
  return where.length === 0 ? 'TRUE' : where.join(' AND ');
}

/** One --since-last run over a shared store (see PostgresReader.settledRun). */
export interface SettledRun {
  /** The events to export, in seq order, all read from one snapshot. */
  events: AsyncIterable<StoredWebhookEvent>;
  /** The cursor for the next run: every transaction older than this had ended. */
  next: string;
  /** Events already visible that wait for the next run because an older transaction is still open. */
  heldBack: number;
  /** Ends the snapshot (also done when `events` is exhausted or abandoned). */
  close(): Promise<void>;
}

export class PostgresReader implements EventReader {
  readonly location: string;
  private readonly timeouts: PgTimeouts;
  private closed = false;

  private constructor(
    private readonly pool: pg.Pool,
    target: PostgresStoreLocation,
    options: PgStoreOptions,
  ) {
    this.location = target.display;
    this.timeouts = { ...DEFAULT_PG_TIMEOUTS, ...options.timeouts };
  }

  /** Connects read-only: the store must exist (exit 2 when the database has none). */
  static async open(location: PostgresStoreLocation, options: PgStoreOptions = {}): Promise<PostgresReader> {
    const timeouts = { ...DEFAULT_PG_TIMEOUTS, ...options.timeouts };
    const pool = await openPool(location, { applicationName: 'tcb export', ...options }, timeouts, 2, false);
    return new PostgresReader(pool, location, options);
  }

  async *events(filter: WebhookEventFilter = {}): AsyncIterable<StoredWebhookEvent> {
    // One snapshot for the whole read: a long export sees one consistent store.
    const client = await this.pool.connect();
    let failure: Error | undefined;
    let finished = false;
    try {
      await client.query(transactionPrelude(this.timeouts, true));
      yield* this.chunks(client, filter, []);
      finished = true;
    } catch (error) {
      failure = error as Error;
      throw error;
    } finally {
      // Read-only: ending it either way is the same; an abandoned read ends here too.
      if (!failure) await client.query(finished ? 'COMMIT' : 'ROLLBACK').catch((error: Error) => (failure = error));
      client.release(failure);
    }
  }

  private async *chunks(client: pg.PoolClient, filter: WebhookEventFilter, extraWhere: Array<(params: unknown[]) => string>): AsyncGenerator<StoredWebhookEvent> {
    let after = filter.afterSeq ?? 0;
    let remaining = filter.limit ?? Number.POSITIVE_INFINITY;
    while (remaining > 0) {
      const params: unknown[] = [];
      const where = [filterSql({ ...filter, afterSeq: after }, params), ...extraWhere.map((clause) => clause(params))].join(' AND ');
      const rows = (await client.query<EventRow>(`SELECT ${EVENT_COLUMNS} FROM ${PG_TABLES.events} WHERE ${where} ORDER BY seq LIMIT ${READ_CHUNK}`, params)).rows;
      for (const row of rows) {
        if (remaining <= 0) return;
        remaining -= 1;
        yield toStored(row);
      }
      if (rows.length < READ_CHUNK) return;
      after = Number(rows[rows.length - 1]!.seq);
    }
  }

  async lastSeq(type?: KnownEventType): Promise<number> {
    const params: unknown[] = [];
    const where = filterSql({ type }, params);
    const row = (await this.pool.query<{ seq: string | null }>(`SELECT max(seq) AS seq FROM ${PG_TABLES.events} WHERE ${where}`, params)).rows[0];
    return Number(row?.seq ?? 0);
  }

  async count(filter: Omit<WebhookEventFilter, 'limit'> = {}): Promise<number> {
    const params: unknown[] = [];
    const where = filterSql(filter, params);
    const row = (await this.pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${PG_TABLES.events} WHERE ${where}`, params)).rows[0];
    return Number(row?.n ?? 0);
  }

  /**
   * --since-last on a shared store. Receivers commit concurrently, so a row with a smaller seq can
   * become visible after a larger one: a seq cursor would skip it. Instead, one snapshot is taken
   * and only rows of transactions older than its xmin (the oldest transaction still open) are
   * exported: all of those have ended, so no row of them can still appear. The next run starts at
   * that xmin. Rows of younger transactions that are already visible wait for the next run
   * (`heldBack`), so no row is ever skipped or exported twice.
   *
   * `previous` is the cursor of the last run (undefined on the first: then fromMs/toMs apply).
   */
  async settledRun(previous: string | undefined, filter: Pick<WebhookEventFilter, 'type' | 'fromMs' | 'toMs'>): Promise<SettledRun> {
    if (previous !== undefined && !/^\d+$/.test(previous)) throw new UsageError(`the --since-last state holds an unreadable cursor "${previous}"`);
    const client = await this.pool.connect();
    let released = false;
    const release = async (error?: Error) => {
      if (released) return;
      released = true;
      if (!error) await client.query('COMMIT').catch(() => {});
      client.release(error);
    };
    try {
      await client.query(transactionPrelude(this.timeouts, true));
      const next = (await client.query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin')).rows[0]!.xmin;
      if (previous !== undefined && BigInt(next) < BigInt(previous)) {
        throw new UsageError(`the --since-last state of this export is ahead of the database (transaction ${previous}, the database is at ${next}): was it restored from a backup, or is it another server?`, {
          hint: 'remove this export\'s entry from export-state.json in the config directory, then export again with --from',
        });
      }
      const settled = (params: unknown[]) => {
        params.push(next);
        const upper = `xid < $${params.length}::xid8`;
        if (previous === undefined) return upper;
        params.push(previous);
        return `${upper} AND xid >= $${params.length}::xid8`;
      };
      const heldParams: unknown[] = [next];
      const heldWhere = [`xid >= $1::xid8`, filterSql(previous === undefined ? filter : { type: filter.type }, heldParams)].join(' AND ');
      const heldBack = Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${PG_TABLES.events} WHERE ${heldWhere}`, heldParams)).rows[0]?.n ?? 0);
      const rangeFilter: WebhookEventFilter = previous === undefined ? { ...filter } : { type: filter.type };
      const chunks = (reader: PostgresReader) => reader.chunks(client, rangeFilter, [settled]);
      const self = this;
      async function* events(): AsyncGenerator<StoredWebhookEvent> {
        let failure: Error | undefined;
        try {
          yield* chunks(self);
        } catch (error) {
          failure = error as Error;
          throw error;
        } finally {
          await release(failure);
        }
      }
      return { events: events(), next, heldBack, close: () => release() };
    } catch (error) {
      await release(error as Error);
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end().catch(() => {});
  }
}
