import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { UPSERT_SQL, WRITER_PRAGMAS, upsertParams, type EventToStore, type InsertResult } from './store.js';

/**
 * Group commit on a worker thread. better-sqlite3 is synchronous, so a commit (an fsync with
 * synchronous=FULL) blocks whichever thread runs it. Here the listener's thread keeps parsing and
 * validating requests while the worker commits: events that arrive during a commit form the next
 * transaction, so the batch grows with the load and every fsync covers many events. Each add()
 * resolves only after the transaction holding its event has committed: the listener answers 200
 * for durable events only.
 *
 * The worker is a small inline script (so it runs the same from dist/ and under the test runner);
 * it gets the SQL, the pragmas and the driver's path from this module, and already-mapped rows.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file, { fileMustExist: true, timeout: 5000 });
for (const pragma of workerData.pragmas) db.pragma(pragma);
const upsert = db.prepare(workerData.sql);
const commit = db.transaction((rows) => rows.map((row) => {
  const stored = upsert.get(row);
  return { seq: stored.seq, duplicate: stored.deliveries > 1 };
}));
parentPort.on('message', (message) => {
  if (message.close) {
    try { db.pragma('wal_checkpoint(TRUNCATE)'); } catch {}
    db.close();
    parentPort.postMessage({ closed: true });
    return;
  }
  try {
    parentPort.postMessage({ id: message.id, results: commit(message.rows) });
  } catch (error) {
    parentPort.postMessage({ id: message.id, error: String((error && error.message) || error) });
  }
});
parentPort.postMessage({ ready: true });
`;

interface Pending {
  item: EventToStore;
  resolve: (result: InsertResult) => void;
  reject: (error: unknown) => void;
}

export interface CommitStats {
  commits: number;
  events: number;
  largestBatch: number;
}

export class StoreWriter {
  readonly stats: CommitStats = { commits: 0, events: 0, largestBatch: 0 };
  private readonly worker: Worker;
  private queue: Pending[] = [];
  private inFlight: Pending[] | undefined;
  private nextId = 1;
  private scheduled = false;
  private failure: Error | undefined;
  private idle: Array<() => void> = [];
  private closing: Promise<void> | undefined;

  private constructor(
    file: string,
    private readonly maxBatch: number,
  ) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3');
    this.worker = new Worker(WORKER_SOURCE, {
      eval: true,
      // Not the parent's flags: --input-type=module would make this CommonJS source fail to load.
      execArgv: [],
      workerData: { file, driver, sql: UPSERT_SQL, pragmas: WRITER_PRAGMAS },
    });
    this.worker.on('message', (message) => this.onMessage(message));
    this.worker.on('error', (error) => this.fail(error));
    this.worker.on('exit', (code) => {
      if (!this.closing) this.fail(new Error(`the store writer stopped (exit ${code})`));
    });
  }

  /** Starts the worker and waits until its connection is open. */
  static async open(file: string, maxBatch = 1000): Promise<StoreWriter> {
    const writer = new StoreWriter(file, Math.max(1, maxBatch));
    await new Promise<void>((resolve, reject) => {
      const onMessage = (message: { ready?: boolean }) => {
        if (!message.ready) return;
        writer.worker.off('error', reject);
        writer.worker.off('message', onMessage);
        resolve();
      };
      writer.worker.on('message', onMessage);
      writer.worker.once('error', reject);
    });
    return writer;
  }

  /** false once the worker has died: every add() is then refused (the listener answers 503). */
  get healthy(): boolean {
    return this.failure === undefined && this.closing === undefined;
  }

  add(item: EventToStore): Promise<InsertResult> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closing) return Promise.reject(new Error('the store writer is closing'));
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inFlight) return; // joins the next transaction when this one commits
      if (this.scheduled) return;
      this.scheduled = true;
      // After this turn's I/O callbacks: requests that arrived together share the first commit.
      setImmediate(() => {
        this.scheduled = false;
        this.send();
      });
    });
  }

  /** Resolves once nothing is queued or being committed. */
  drain(): Promise<void> {
    if (!this.inFlight && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /** Commits what is queued, then closes the worker's connection (with a WAL checkpoint). */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (!this.failure) {
        await this.drain();
        const closed = new Promise<void>((resolve) => {
          const onMessage = (message: { closed?: boolean }) => {
            if (message.closed) resolve();
          };
          this.worker.on('message', onMessage);
          this.worker.once('exit', () => resolve());
        });
        this.worker.postMessage({ close: true });
        await closed;
      }
      await this.worker.terminate();
    })();
    return this.closing;
  }

  private send(): void {
    if (this.inFlight || this.queue.length === 0 || this.failure) return;
    const batch = this.queue.splice(0, this.maxBatch);
    this.inFlight = batch;
    const now = Date.now();
    this.worker.postMessage({ id: this.nextId++, rows: batch.map((p) => upsertParams(p.item, now)) });
  }

  private onMessage(message: { id?: number; results?: InsertResult[]; error?: string }): void {
    if (message.id === undefined) return;
    const batch = this.inFlight ?? [];
    this.inFlight = undefined;
    if (message.results) {
      this.stats.commits += 1;
      this.stats.events += batch.length;
      this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
      batch.forEach((p, i) => p.resolve(message.results![i]!));
    } else {
      // Nothing of this batch was committed: every sender gets an error and Truecaller retries.
      const error = new Error(message.error ?? 'the commit failed');
      for (const p of batch) p.reject(error);
    }
    this.send();
    this.settleIdle();
  }

  private fail(error: Error): void {
    this.failure ??= error;
    const waiting = [...(this.inFlight ?? []), ...this.queue];
    this.inFlight = undefined;
    this.queue = [];
    for (const p of waiting) p.reject(this.failure);
    this.settleIdle();
  }

  private settleIdle(): void {
    if (this.inFlight || this.queue.length > 0) return;
    for (const resolve of this.idle.splice(0)) resolve();
  }
}
