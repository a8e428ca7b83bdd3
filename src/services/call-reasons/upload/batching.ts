// Cutting valid rows into batches, and the journal's coverage of lines an earlier run sent.
import type { CallReasonRecord } from '../record.js';
import { isCovered, type JournalBatch } from './journal.js';

export interface PendingBatch {
  seq: number;
  firstLine: number;
  lastLine: number;
  gaps: number[];
  records: CallReasonRecord[];
}

/** Rows → batches of at most `size`, contiguous: a covered line (already sent) closes the batch. */
export class Batcher {
  private current: PendingBatch | undefined;
  private lastLine = 0;

  constructor(
    private readonly size: number,
    private nextSeq: number,
    private readonly emit: (batch: PendingBatch) => void,
  ) {}

  add(line: number, record: CallReasonRecord): void {
    let batch = this.current;
    if (batch) for (let gap = this.lastLine + 1; gap < line; gap += 1) batch.gaps.push(gap);
    if (!batch) {
      batch = { seq: this.nextSeq, firstLine: line, lastLine: line, gaps: [], records: [] };
      this.nextSeq += 1;
      this.current = batch;
    }
    batch.records.push(record);
    batch.lastLine = line;
    this.lastLine = line;
    if (batch.records.length >= this.size) this.flush();
  }

  /** A line that must not be inside a new batch (covered by the journal). */
  boundary(): void {
    this.flush();
  }

  flush(): void {
    if (this.current) {
      const batch = this.current;
      this.current = undefined;
      this.emit(batch);
    }
  }
}

/** Counts what Batcher would produce, without building records (the validation pass). */
export class BatchCounter {
  batches = 0;
  private fill = 0;
  constructor(private readonly size: number) {}
  add(): void {
    if (this.fill === 0) this.batches += 1;
    this.fill += 1;
    if (this.fill >= this.size) this.fill = 0;
  }
  boundary(): void {
    this.fill = 0;
  }
}

/** Sorted, disjoint line ranges of batches the journal says must not be sent again. */
export class Coverage {
  private readonly starts: number[];
  private readonly ends: number[];
  private index = 0;

  constructor(batches: readonly JournalBatch[], resendUncertain: boolean) {
    const ranges = batches
      .filter((batch) => isCovered(batch.state, resendUncertain))
      .map((batch) => [batch.first_line, batch.last_line] as const)
      .sort((a, b) => a[0] - b[0]);
    this.starts = ranges.map((r) => r[0]);
    this.ends = ranges.map((r) => r[1]);
  }

  get empty(): boolean {
    return this.starts.length === 0;
  }

  /** Lines must be asked in ascending order (one pass over the file). */
  covers(line: number): boolean {
    while (this.index < this.ends.length && this.ends[this.index]! < line) this.index += 1;
    return this.index < this.starts.length && this.starts[this.index]! <= line;
  }

  reset(): void {
    this.index = 0;
  }
}
