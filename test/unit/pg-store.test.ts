/**
 * The PostgreSQL webhook store against a real, throwaway PostgreSQL (one server for this file).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthError, UsageError } from '../../src/errors.js';
import {
  EVENT_LOCKS_SQL,
  EVENT_LOCK_SPACE,
  PG_TABLES,
  PostgresReader,
  PostgresSink,
  StoreUnavailableError,
  backoffDelay,
  chunkByBytes,
  deliveryOutcomes,
  eventKey,
  eventLockIds,
  filterSql,
  isUnavailable,
  pgText,
} from '../../src/services/webhooks/pg-store.js';
import { parseStoreLocation, type PostgresStoreLocation } from '../../src/services/webhooks/store-location.js';
import { retryAfter } from '../../src/services/webhooks/listener.js';
import type { EventToStore, StoredWebhookEvent } from '../../src/services/webhooks/store-types.js';
import { startPostgres, type PostgresServer } from '../helpers/postgres.js';

const fixture = (name: string) => readFileSync(path.join(__dirname, '..', 'fixtures', 'api', name));
const HAPPY = fixture('webhook.cmb.slot-picker-happy-flow.json');
const FEEDBACK = fixture('webhook.user-feedback.json');

function event(id: string, type: string | null = 'cmb', createdAtSeconds: number | null = 1753945760, body?: Buffer): EventToStore {
  const bytes = body ?? Buffer.from(JSON.stringify({ ...JSON.parse(HAPPY.toString('utf8')), event_id: id, event_type: type, created_at: createdAtSeconds === null ? undefined : String(createdAtSeconds) }));
  return {
    event_id: id,
    event_type: type,
    created_at: createdAtSeconds === null ? null : String(createdAtSeconds),
    created_at_ms: createdAtSeconds === null ? null : createdAtSeconds * 1000,
    body: bytes,
    unrecognised_reason: type === 'cmb' || type === 'user_feedback' ? null : `event_type ${JSON.stringify(type)} is not "cmb" or "user_feedback"`,
  };
}

async function collect(iterable: AsyncIterable<StoredWebhookEvent>): Promise<StoredWebhookEvent[]> {
  const all: StoredWebhookEvent[] = [];
  for await (const e of iterable) all.push(e);
  return all;
}

describe('PostgreSQL store: pure parts', () => {
  it('backoff grows exponentially with full jitter, capped', () => {
    const policy = { initialMs: 100, maxMs: 1000 };
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
    expect(backoffDelay(10, policy, () => 0)).toBe(50);
    expect(backoffDelay(2, policy, () => 0.5)).toBe(200);
  });

  it("the listener's Retry-After is the store's own delay when it gives one", () => {
    expect(retryAfter(new StoreUnavailableError('down', 3))).toBe('3');
    expect(retryAfter(new StoreUnavailableError('down', 2.2))).toBe('3');
    expect(retryAfter(new Error('disk I/O error'))).toBe('30');
    expect(retryAfter(Object.assign(new Error('odd'), { retryAfterSeconds: Number.NaN }))).toBe('30');
  });

  it('outcomes of several deliveries of one event_id, new or already stored', () => {
    const a = Buffer.from('a');
    const b = Buffer.from('b');
    expect(deliveryOutcomes([a, a, b, a, b], undefined)).toEqual([
      { outcome: 'stored', deliveries: 1, conflicts: 0 },
      { outcome: 'duplicate', deliveries: 2, conflicts: 0 },
      { outcome: 'conflict', deliveries: 3, conflicts: 1 },
      { outcome: 'duplicate', deliveries: 4, conflicts: 1 },
      { outcome: 'conflict', deliveries: 5, conflicts: 2 },
    ]);
    expect(deliveryOutcomes([b, a], { body: a, deliveries: 4, conflicts: 1 })).toEqual([
      { outcome: 'conflict', deliveries: 5, conflicts: 2 },
      { outcome: 'duplicate', deliveries: 6, conflicts: 2 },
    ]);
  });

  it('chunks statements by rows and by bytes, never leaving an item out', () => {
    const sizes = [5, 5, 5, 20, 1, 1, 1];
    const chunks = chunkByBytes(sizes, (n) => n, 3, 12);
    expect(chunks).toEqual([[5, 5], [5], [20], [1, 1, 1]]);
    expect(chunks.flat()).toEqual(sizes);
    expect(chunkByBytes([], (n: number) => n, 3, 12)).toEqual([]);
  });

  it('tells an unreachable database from an error about one batch', () => {
    for (const error of [
      Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }),
      Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
      Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
      Object.assign(new Error('cannot execute INSERT in a read-only transaction'), { code: '25006' }),
      Object.assign(new Error('could not extend file: No space left on device'), { code: '53100' }),
      new Error('Connection terminated unexpectedly'),
      new Error('timeout exceeded when trying to connect'),
      new Error('Query read timeout'),
    ]) {
      expect(isUnavailable(error), error.message).toBe(true);
    }
    for (const error of [
      Object.assign(new Error('invalid byte sequence'), { code: '22021' }),
      Object.assign(new Error('duplicate key'), { code: '23505' }),
      new Error('something else'),
    ]) {
      expect(isUnavailable(error), error.message).toBe(false);
    }
  });

  it('filters: the type asked for plus every undocumented type; ranges; seq window', () => {
    const params: unknown[] = [];
    expect(filterSql({ type: 'cmb', fromMs: 1.5, toMs: 2.5, afterSeq: 3, upToSeq: 9 }, params)).toBe(
      '(event_type = $1 OR event_type IS NULL OR NOT (event_type = ANY($2::text[]))) AND created_at_ms >= $3 AND created_at_ms < $4 AND seq > $5 AND seq <= $6',
    );
    expect(params).toEqual(['cmb', ['cmb', 'user_feedback'], 1, 3, 3, 9]);
    expect(filterSql({}, [])).toBe('TRUE');
  });

  it('keys are the SHA-256 of the exact event_id; text columns cannot hold U+0000', () => {
    expect(eventKey('a').toString('hex')).toBe('ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb');
    expect(eventKey('a\u0000')).not.toEqual(eventKey('a\uFFFD'));
    expect(pgText('a\u0000b')).toBe('a\uFFFDb');
    expect(pgText(null)).toBeNull();
  });
});

describe('PostgreSQL store against a real server', () => {
  let server: PostgresServer;
  // Each test has its own schema (the tables go where search_path points): quicker than a database each.
  const location = (schema: string, env: Record<string, string> = {}): PostgresStoreLocation => {
    const url = `${server.url('postgres')}?options=${encodeURIComponent(`-c search_path=${schema}`)}`;
    const parsed = parseStoreLocation(url, { env: { PGPASSWORD: server.password, ...env } });
    if (parsed.kind !== 'postgres') throw new Error('not postgres');
    return parsed;
  };
  const fast = { backoff: { initialMs: 20, maxMs: 100 }, timeouts: { connectMs: 2000 } };

  beforeAll(async () => {
    server = await startPostgres();
  });
  afterAll(async () => {
    await server?.destroy();
  });

  it('several receivers starting at once on an empty database: one schema, version 2', async () => {
    const db = await server.createSchema('schema');
    const sinks = await Promise.all(Array.from({ length: 6 }, () => PostgresSink.open(location(db))));
    const versions = await server.query<{ component: string; version: number }>(`SELECT component, version FROM ${db}.${PG_TABLES.schema}`, [], 'postgres');
    expect(versions).toEqual([{ component: 'webhook-store', version: 2 }]);
    const tables = await server.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = $1 ORDER BY 1`, [db], 'postgres');
    expect(tables.map((r) => r.t)).toEqual(['tcb_webhook_event_conflicts', 'tcb_webhook_events', 'tcb_webhook_health', 'tcb_webhook_schema']);
    expect((await sinks[0]!.checkWritable()).ok).toBe(true);
    await Promise.all(sinks.map((s) => s.close()));
  });

  it('readers never create anything: no store → exit 2; a newer schema → exit 2; bad password → exit 3', async () => {
    const db = await server.createSchema('reader');
    const error = await PostgresReader.open(location(db)).catch((e) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toMatch(/has no tcb webhook store/);
    expect(await server.query(`SELECT to_regclass('${db}.${PG_TABLES.schema}') AS t`, [], 'postgres')).toEqual([{ t: null }]);

    await (await PostgresSink.open(location(db))).close();
    await server.query(`UPDATE ${db}.${PG_TABLES.schema} SET version = 99`, [], 'postgres');
    const newer = await PostgresReader.open(location(db)).catch((e) => e);
    expect(newer).toBeInstanceOf(UsageError);
    expect(newer.message).toMatch(/schema 99; this tcb reads 2/);
    const sinkNewer = await PostgresSink.open(location(db)).catch((e) => e);
    expect(sinkNewer.message).toMatch(/schema 99/);

    const wrong = await PostgresSink.open(location(db, { PGPASSWORD: 'not-the-password' })).catch((e) => e);
    expect(wrong).toBeInstanceOf(AuthError);
    expect(wrong.message).toMatch(/wrong or missing password/);
    expect(wrong.message).not.toContain('not-the-password');
    const elsewhere = parseStoreLocation(server.url('no_such_database'), { env: { PGPASSWORD: server.password } }) as PostgresStoreLocation;
    const missing = await PostgresSink.open(elsewhere).catch((e) => e);
    expect(missing).toBeInstanceOf(UsageError);
    expect(missing.message).toMatch(/no_such_database/);
  });

  it('stores each event once; redeliveries count, conflicting bytes are kept aside; bytes are exact', async () => {
    const db = await server.createSchema('store');
    const sink = await PostgresSink.open(location(db));
    const odd = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"event_id":"odd","x":"'), Buffer.from([0xff, 0x00, 0xc3]), Buffer.from('"}')]);
    const first = await sink.insertBatch([event('e1'), event('e2', 'user_feedback'), event('odd', null, null, odd)], Date.UTC(2026, 0, 2));
    expect(first.map((r) => r.outcome)).toEqual(['stored', 'stored', 'stored']);
    const other = Buffer.from('{"event_id":"e1","changed":true}');
    const again = await sink.insertBatch([event('e1'), event('e1', 'cmb', 1753945760, other), event('e3'), event('e3'), event('e1')], Date.UTC(2026, 0, 3));
    expect(again).toEqual([
      { seq: first[0]!.seq, outcome: 'duplicate', deliveries: 2, conflicts: 0 },
      { seq: first[0]!.seq, outcome: 'conflict', deliveries: 3, conflicts: 1 },
      { seq: expect.any(Number), outcome: 'stored', deliveries: 1, conflicts: 0 },
      { seq: again[2]!.seq, outcome: 'duplicate', deliveries: 2, conflicts: 0 },
      { seq: first[0]!.seq, outcome: 'duplicate', deliveries: 4, conflicts: 1 },
    ]);
    const reader = await PostgresReader.open(location(db));
    const stored = await collect(reader.events());
    expect(stored.map((e) => [e.event_id, e.deliveries, e.conflicts])).toEqual([
      ['e1', 4, 1],
      ['e2', 1, 0],
      ['odd', 1, 0],
      ['e3', 2, 0],
    ]);
    expect(Buffer.from(stored[2]!.body).equals(odd)).toBe(true);
    expect(stored[2]).toMatchObject({ event_type: null, created_at: null, created_at_ms: null });
    expect(stored[0]).toMatchObject({ received_at: '2026-01-02T00:00:00.000Z', last_received_ms: Date.UTC(2026, 0, 3), created_at_ms: 1753945760000 });
    const conflicts = await server.query<{ event_id: string; body: Buffer }>(`SELECT event_id, body FROM ${db}.${PG_TABLES.conflicts}`, [], 'postgres');
    expect(conflicts.map((c) => [c.event_id, c.body.toString()])).toEqual([['e1', other.toString()]]);
    expect(await sink.count()).toBe(4);
    await reader.close();
    await sink.close();
  });

  it('an event_id no index or text column could hold (U+0000, 100 000 characters) is stored like any other', async () => {
    const db = await server.createSchema('odd_ids');
    const sink = await PostgresSink.open(location(db));
    const long = 'x'.repeat(100_000);
    const ids = ['nul\u0000id', 'nul\uFFFDid', long, `${long}y`];
    const results = await sink.insertBatch(ids.map((id) => event(id, 'mystery\u0000type')), Date.now());
    expect(results.map((r) => r.outcome)).toEqual(['stored', 'stored', 'stored', 'stored']);
    expect((await sink.insertBatch([event('nul\u0000id', 'mystery\u0000type'), event(long, 'mystery\u0000type')], Date.now())).map((r) => r.outcome)).toEqual(['duplicate', 'duplicate']);
    const reader = await PostgresReader.open(location(db));
    const stored = await collect(reader.events());
    expect(stored.map((e) => e.event_id.length)).toEqual([6, 6, 100_000, 100_001]);
    expect(stored[0]!.event_id).toBe('nul\uFFFDid');
    expect(stored[0]!.event_type).toBe('mystery\uFFFDtype');
    await reader.close();
    await sink.close();
  });

  it('two receivers storing the same events in opposite orders at once: no deadlock, each stored once, every delivery counted', async () => {
    const db = await server.createSchema('race');
    const [a, b] = await Promise.all([PostgresSink.open(location(db)), PostgresSink.open(location(db))]);
    const ids = Array.from({ length: 300 }, (_, i) => `race-${i}`);
    const rounds = 8;
    const outcomes: string[] = [];
    for (let round = 0; round < rounds; round += 1) {
      const forward = ids.slice(round * 30, round * 30 + 120).map((id) => event(id));
      const backward = [...forward].reverse();
      const [ra, rb] = await Promise.all([a!.insertBatch(forward, Date.now()), b!.insertBatch(backward, Date.now())]);
      outcomes.push(...ra.map((r) => r.outcome), ...rb.map((r) => r.outcome));
    }
    const rows = await server.query<{ event_id: string; deliveries: number }>(`SELECT event_id, deliveries FROM ${db}.${PG_TABLES.events}`, [], 'postgres');
    const expected = new Map<string, number>();
    for (let round = 0; round < rounds; round += 1) for (const id of ids.slice(round * 30, round * 30 + 120)) expected.set(id, (expected.get(id) ?? 0) + 2);
    expect(rows.length).toBe(expected.size);
    for (const row of rows) expect(row.deliveries, row.event_id).toBe(expected.get(row.event_id));
    expect(outcomes.filter((o) => o === 'stored').length).toBe(expected.size);
    expect(a!.stats.commits + b!.stats.commits).toBe(2 * rounds);
    await Promise.all([a!.close(), b!.close()]);
  });

  it('a receiver meeting another mid-batch with the same events in the other order waits for it: no deadlock', async () => {
    const db = await server.createSchema('deadlock');
    const sink = await PostgresSink.open(location(db));
    // Receiver A, halfway through its batch [x, y]: its event locks taken, x inserted, y not yet.
    const { default: pg } = await import('pg');
    const a = new pg.Client({ host: server.socketDir, port: server.port, user: 'postgres', database: 'postgres', options: `-c search_path=${db}` });
    await a.connect();
    await a.query('BEGIN');
    await a.query(EVENT_LOCKS_SQL, [EVENT_LOCK_SPACE, eventLockIds([eventKey('x'), eventKey('y')])]);
    const insert = (id: string) =>
      a.query(
        `INSERT INTO ${PG_TABLES.events} (event_key, event_id, event_type, received_at_ms, last_received_ms, body) VALUES ($1, $2, 'cmb', 0, 0, $3) ON CONFLICT (event_key) DO NOTHING`,
        [eventKey(id), id, event(id).body],
      );
    await insert('x');
    // Receiver B gets [y, x]; it must wait for A rather than take y first.
    const b = sink.insertBatch([event('y'), event('x')], Date.now());
    for (;;) {
      const waiting = await server.query(`SELECT 1 FROM pg_stat_activity WHERE application_name = 'tcb webhook listen' AND wait_event_type = 'Lock'`);
      if (waiting.length > 0) break;
      await new Promise((resolve) => setImmediate(resolve));
    }
    await insert('y');
    await a.query('COMMIT');
    await a.end();
    expect((await b).map((r) => r.outcome)).toEqual(['duplicate', 'duplicate']);
    expect(sink.stats.retries).toBe(0);
    await sink.close();
  });

  it('reads by type (undocumented types in both), range, seq window and limit, in chunks', async () => {
    const db = await server.createSchema('read');
    const sink = await PostgresSink.open(location(db));
    const batch: EventToStore[] = [];
    for (let i = 0; i < 1200; i += 1) batch.push(event(`r${i}`, i % 3 === 0 ? 'cmb' : i % 3 === 1 ? 'user_feedback' : 'survey_v2', 1_700_000_000 + i));
    await sink.insertBatch(batch, Date.now());
    const reader = await PostgresReader.open(location(db));
    const cmb = await collect(reader.events({ type: 'cmb' }));
    expect(cmb.length).toBe(800);
    expect(cmb.every((e) => e.event_type !== 'user_feedback')).toBe(true);
    expect(cmb.map((e) => e.seq)).toEqual([...cmb.map((e) => e.seq)].sort((x, y) => x - y));
    expect(await reader.count({ type: 'user_feedback' })).toBe(800);
    const range = await collect(reader.events({ fromMs: (1_700_000_000 + 10) * 1000, toMs: (1_700_000_000 + 20) * 1000 }));
    expect(range.map((e) => e.event_id)).toEqual(Array.from({ length: 10 }, (_, i) => `r${10 + i}`));
    const window = await collect(reader.events({ afterSeq: cmb[0]!.seq, upToSeq: cmb[0]!.seq + 5, limit: 3 }));
    expect(window.map((e) => e.seq)).toEqual([cmb[0]!.seq + 1, cmb[0]!.seq + 2, cmb[0]!.seq + 3]);
    expect(await reader.lastSeq('cmb')).toBe(Math.max(...cmb.map((e) => e.seq)));
    // Leaving a read early ends its snapshot and gives the connection back.
    for await (const first of reader.events()) {
      expect(first.event_id).toBe('r0');
      break;
    }
    expect((await collect(reader.events({ limit: 2 }))).length).toBe(2);
    await reader.close();
    await sink.close();
  });

  describe('--since-last cursor on a shared store', () => {
    it('a row committed late (a smaller seq than rows already exported) is neither skipped nor exported twice', async () => {
      const db = await server.createSchema('cursor');
      const sink = await PostgresSink.open(location(db));
      const reader = await PostgresReader.open(location(db));
      await sink.insertBatch([event('before')], Date.now());

      // A receiver whose transaction is slow: it took its seq first and commits last.
      const { default: pg } = await import('pg');
      const slow = new pg.Client({ host: server.socketDir, port: server.port, user: 'postgres', database: 'postgres', options: `-c search_path=${db}` });
      await slow.connect();
      await slow.query('BEGIN');
      const late = await slow.query(
        `INSERT INTO ${PG_TABLES.events} (event_key, event_id, event_type, received_at_ms, last_received_ms, body) VALUES ($1, 'late', 'cmb', 0, 0, $2) RETURNING seq`,
        [eventKey('late'), Buffer.from('{}')],
      );
      await sink.insertBatch([event('after-1'), event('after-2')], Date.now());
      const lateSeq = Number(late.rows[0].seq);

      const run1 = await reader.settledRun(undefined, { type: 'cmb' });
      const first = (await collect(run1.events)).map((e) => e.event_id);
      expect(first).toEqual(['before']);
      expect(run1.heldBack).toBe(2);

      await slow.query('COMMIT');
      await slow.end();
      const run2 = await reader.settledRun(run1.next, { type: 'cmb' });
      const second = (await collect(run2.events)).map((e) => e.event_id);
      expect(second).toEqual(['late', 'after-1', 'after-2']);
      expect(run2.heldBack).toBe(0);
      // A cursor on seq alone would have lost it: it is smaller than rows a first run could export.
      const stored = await collect(reader.events());
      expect(lateSeq).toBeLessThan(stored.find((e) => e.event_id === 'after-2')!.seq);

      const run3 = await reader.settledRun(run2.next, { type: 'cmb' });
      expect(await collect(run3.events)).toEqual([]);
      await reader.close();
      await sink.close();
    });

    it('two receivers writing while runs follow each other: every row exactly once', async () => {
      const db = await server.createSchema('cursor_race');
      const [a, b] = await Promise.all([PostgresSink.open(location(db)), PostgresSink.open(location(db))]);
      const reader = await PostgresReader.open(location(db));
      const exported: string[] = [];
      let cursor: string | undefined;
      const run = async () => {
        const settled = await reader.settledRun(cursor, {});
        for await (const e of settled.events) exported.push(e.event_id);
        cursor = settled.next;
      };
      const writer = async (sink: PostgresSink, name: string) => {
        for (let i = 0; i < 40; i += 1) {
          await sink.insertBatch(Array.from({ length: 1 + (i % 5) }, (_, j) => event(`${name}-${i}-${j}`)), Date.now());
        }
      };
      const runs = (async () => {
        for (let i = 0; i < 25; i += 1) await run();
      })();
      await Promise.all([writer(a!, 'a'), writer(b!, 'b'), runs]);
      await run();
      const all = (await collect(reader.events())).map((e) => e.event_id);
      expect(exported.length).toBe(all.length);
      expect(new Set(exported).size).toBe(exported.length);
      expect([...exported].sort()).toEqual([...all].sort());
      await reader.close();
      await Promise.all([a!.close(), b!.close()]);
    });
  });

  it('database down: refuses at once with a Retry-After, reports why, keeps probing, resumes when it is back', async () => {
    const db = await server.createSchema('down');
    const changes: Array<{ state: string; detail: string }> = [];
    let up: () => void = () => {};
    const cameBack = new Promise<void>((resolve) => (up = resolve));
    const sink = await PostgresSink.open(location(db), {
      ...fast,
      onStateChange: (state, detail) => {
        changes.push({ state, detail });
        if (state === 'up') up();
      },
    });
    expect((await sink.insertBatch([event('d1')], Date.now()))[0]!.outcome).toBe('stored');

    await server.stop();
    const failure = await sink.insertBatch([event('d2')], Date.now()).catch((e) => e);
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    expect(failure.retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect(sink.available).toBe(false);
    // While down, nothing is attempted: the answer is immediate.
    const again = await sink.insertBatch([event('d2')], Date.now()).catch((e) => e);
    expect(again).toBeInstanceOf(StoreUnavailableError);
    const health = await sink.checkWritable();
    expect(health.ok).toBe(false);
    expect(health.reason).toMatch(/PostgreSQL is unavailable \(/);
    expect(changes[0]!.state).toBe('down');

    await server.start();
    await cameBack;
    expect(changes.at(-1)!.state).toBe('up');
    expect((await sink.checkWritable()).ok).toBe(true);
    expect((await sink.insertBatch([event('d2')], Date.now()))[0]!.outcome).toBe('stored');
    const reader = await PostgresReader.open(location(db));
    expect((await collect(reader.events())).map((e) => e.event_id)).toEqual(['d1', 'd2']);
    await reader.close();
    await sink.close();
  });
});
