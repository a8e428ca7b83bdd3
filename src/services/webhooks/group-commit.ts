import type { EventSink, EventToStore, InsertResult } from './store-types.js';

/**
 * Group commit over any EventSink: while one transaction commits, the events that arrive form the
 * next one, so the batch grows with the load and each sync covers many events. add() resolves only
 * after the transaction holding its event has committed: the listener answers 200 for durable
 * events only. A failed transaction fails every event in it (nothing of it was stored).
 */
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

export class GroupCommitter {
  readonly stats: CommitStats = { commits: 0, events: 0, largestBatch: 0 };
  private queue: Pending[] = [];
  private committing = false;
  private scheduled = false;
  private idle: Array<() => void> = [];

  constructor(
    private readonly sink: EventSink,
    /** Most events per transaction; 1 turns group commit off (the benchmark's baseline). */
    private readonly maxBatch = 1000,
  ) {}

  add(item: EventToStore): Promise<InsertResult> {
    return new Promise((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.committing || this.scheduled) return; // joins the next transaction
      this.scheduled = true;
      // After this turn's I/O callbacks: requests that arrived together share the first commit.
      setImmediate(() => {
        this.scheduled = false;
        void this.commitNext();
      });
    });
  }

  /** Resolves once nothing is queued or being committed. */
  drain(): Promise<void> {
    if (!this.committing && !this.scheduled && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private async commitNext(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, Math.max(1, this.maxBatch));
      try {
        const results = await this.sink.insertBatch(
          batch.map((p) => p.item),
          Date.now(),
        );
        this.stats.commits += 1;
        this.stats.events += batch.length;
        this.stats.largestBatch = Math.max(this.stats.largestBatch, batch.length);
        batch.forEach((p, i) => p.resolve(results[i]!));
      } catch (error) {
        for (const p of batch) p.reject(error);
      }
    }
    this.committing = false;
    for (const resolve of this.idle.splice(0)) resolve();
  }
}
