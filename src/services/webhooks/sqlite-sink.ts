import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { EventSink, EventToStore, InsertResult, WritableCheck } from './store-types.js';
import { WRITER_PRAGMAS, WRITER_SQL, insertParams, openWebhookStore } from './store.js';

/**
 * The listener's SQLite sink: commits run on a worker thread. better-sqlite3 is synchronous, so a
 * commit (an fsync with synchronous=FULL) blocks whichever thread runs it; here the listener's
 * thread keeps serving requests meanwhile (group-commit.ts batches what arrives during a commit).
 *
 * After each commit the worker checks that the path still names the file it writes to (same device
 * and inode; the reasons leave the path out, as /healthz needs no key; the log names the store): a store deleted or replaced while running would otherwise take acknowledged events
 * into an unlinked file. Then the batch is reported as failed (the sender retries) until the file
 * is back.
 *
 * The worker is a small inline script (so it runs the same from dist/ and under the test runner);
 * it gets the SQL, the pragmas and the driver's path from this module, and already-mapped rows.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { statSync } = require('node:fs');
const Database = require(workerData.driver);
const { file, sql } = workerData;
const db = new Database(file, { fileMustExist: true, timeout: 5000 });
for (const pragma of workerData.pragmas) db.pragma(pragma);
const opened = statSync(file);
const insert = db.prepare(sql.insert);
const find = db.prepare(sql.find);
const redelivered = db.prepare(sql.redelivered);
const conflict = db.prepare(sql.conflict);
const health = db.prepare(sql.health);
const count = db.prepare(sql.count);

function sameFile() {
  let now;
  try {
    now = statSync(file);
  } catch (error) {
    return 'the store file was deleted or moved (' + (error.code || error.message) + ')';
  }
  if (now.ino !== opened.ino || now.dev !== opened.dev) return 'the store file was replaced by another file';
  return undefined;
}

const commit = db.transaction((rows) => rows.map((row) => {
  const inserted = insert.get(row);
  if (inserted) return { seq: inserted.seq, outcome: 'stored', deliveries: 1, conflicts: 0 };
  const existing = find.get(row);
  const differs = existing.same ? 0 : 1;
  if (differs) conflict.run(row);
  const counts = redelivered.get({ seq: existing.seq, now: row.now, conflict: differs });
  return { seq: existing.seq, outcome: differs ? 'conflict' : 'duplicate', deliveries: counts.deliveries, conflicts: counts.conflicts };
}));
const check = db.transaction((now) => health.run({ now }));

function run(message) {
  switch (message.op) {
    case 'insert': {
      const results = commit(message.rows);
      const moved = sameFile();
      if (moved) throw new Error(moved);
      return { results };
    }
    case 'check': {
      const moved = sameFile();
      if (moved) return { check: { ok: false, reason: moved } };
      try {
        check(message.now);
        return { check: { ok: true } };
      } catch (error) {
        return { check: { ok: false, reason: String((error && error.message) || error) } };
      }
    }
    case 'count':
      return { count: count.get().n };
  }
  throw new Error('unknown operation ' + message.op);
}

parentPort.on('message', (message) => {
  if (message.op === 'close') {
    try { db.pragma('wal_checkpoint(TRUNCATE)'); } catch {}
    db.close();
    parentPort.postMessage({ closed: true });
    return;
  }
  try {
    parentPort.postMessage({ id: message.id, ...run(message) });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String((error && error.message) || error) });
  }
});
parentPort.postMessage({ ready: true });
`;

interface Reply {
  id?: number;
  ready?: boolean;
  closed?: boolean;
  error?: string;
  results?: InsertResult[];
  check?: WritableCheck;
  count?: number;
}

export class SqliteSink implements EventSink {
  readonly location: string;
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve: (reply: Reply) => void; reject: (error: Error) => void }>();
  private nextId = 1;
  private failure: Error | undefined;
  private closing: Promise<void> | undefined;

  private constructor(file: string) {
    this.location = file;
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags: --input-type=module would make this CommonJS source fail to load.
      execArgv: [],
      workerData: { file, driver, sql: WRITER_SQL, pragmas: WRITER_PRAGMAS },
    });
    this.worker.on('message', (message: Reply) => this.onMessage(message));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`the store writer stopped (exit ${code})`));
    });
  }

  /** Creates or migrates the file (refusing one that is not a tcb store), then starts the worker. */
  static async open(file: string): Promise<SqliteSink> {
    // The main thread's connection does the identity check, creation and migration, then goes.
    const prepared = openWebhookStore(file);
    const resolved = prepared.file;
    prepared.close();
    const sink = new SqliteSink(resolved);
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: Reply) => {
        if (!message.ready) return;
        sink.worker.off('error', reject);
        sink.worker.off('message', onMessage);
        resolve();
      };
      sink.worker.on('message', onMessage);
      sink.worker.once('error', reject);
    });
    return sink;
  }

  async insertBatch(events: readonly EventToStore[], receivedAtMs: number): Promise<InsertResult[]> {
    if (events.length === 0) return [];
    // A body is usually a view into the socket's much larger read buffer, and postMessage would
    // clone all of that: hand over an exact copy of each body instead (transferred, not cloned).
    const transfer: ArrayBuffer[] = [];
    const rows = events.map((event) => {
      const body = new Uint8Array(event.body);
      transfer.push(body.buffer as ArrayBuffer);
      return insertParams({ ...event, body }, receivedAtMs);
    });
    const reply = await this.call({ op: 'insert', rows }, transfer);
    return reply.results!;
  }

  async checkWritable(): Promise<WritableCheck> {
    try {
      return (await this.call({ op: 'check', now: Date.now() })).check!;
    } catch (error) {
      return { ok: false, reason: (error as Error).message };
    }
  }

  async count(): Promise<number> {
    return (await this.call({ op: 'count' })).count!;
  }

  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure) {
        const closed = new Promise<void>((resolve) => {
          this.worker.on('message', (message: Reply) => {
            if (message.closed) resolve();
          });
          this.worker.once('exit', () => resolve());
        });
        // Queued after any call still in the worker's inbox, so those finish first.
        this.worker.postMessage({ op: 'close' });
        await closed;
      }
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('the store is closing'));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  private onMessage(message: Reply): void {
    if (message.id === undefined) return;
    const waiter = this.waiting.get(message.id);
    if (!waiter) return;
    this.waiting.delete(message.id);
    if (message.error !== undefined) waiter.reject(new Error(message.error));
    else waiter.resolve(message);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.values()) waiter.reject(this.failure);
    this.waiting.clear();
  }
}
