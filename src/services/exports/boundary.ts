import { createHash } from 'node:crypto';
import type { ExportRow } from './types.js';

/**
 * The --since-last boundary for the log API.
 *
 * Each run asks for [from, to], and the next run starts an overlap before where this one stopped
 * (from = previous to − overlap): records carry whole seconds and may appear in the API late, so
 * a record stamped at or just before the previous run's end can only be seen now. The feedback
 * endpoint has no `to` at all. So the rows of the overlap come again in the next run, and are
 * recognised by fingerprint: a run remembers the fingerprints of every row it sees near its end
 * (time within the window — at least BOUNDARY_WINDOW_MS, at least the overlap — of `to`, or
 * after it), exported or skipped, and the next run drops rows it has already seen. Files without
 * a recognisable time column remember every row's fingerprint (up to MAX_FINGERPRINTS).
 */
export const BOUNDARY_WINDOW_MS = 15 * 60_000;
export const MAX_FINGERPRINTS = 100_000;

/** Column names that hold a record's time, most specific first. */
export const TIME_COLUMN_CANDIDATES = [
  'requested_at',
  'created_at',
  'submitted_at',
  'responded_at',
  'timestamp',
  'requested_time',
  'created_time',
  'date_time',
  'datetime',
  'time',
  'date',
];

function normalise(name: string): string {
  return name.trim().replace(/([a-z])([A-Z])/g, '$1_$2').toLowerCase().replace(/[\s-]+/g, '_');
}

/** The column that holds each record's time, if the header has one we recognise. */
export function detectTimeColumn(columns: readonly string[]): string | undefined {
  const byName = new Map(columns.map((c) => [normalise(c), c]));
  for (const candidate of TIME_COLUMN_CANDIDATES) {
    const found = byName.get(candidate);
    if (found !== undefined) return found;
  }
  return undefined;
}

const ISO = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A cell as epoch ms: 13 digits are ms, 9–10 digits are epoch seconds (what the webhooks use),
 * ISO-8601 without a zone is read as UTC (server logs). Anything else is undefined.
 */
export function parseRowTime(value: unknown): number | undefined {
  if (typeof value === 'number' && Number.isFinite(value)) return value >= 100_000_000_000 ? value : value * 1000;
  if (typeof value !== 'string') return undefined;
  const text = value.trim();
  if (/^\d{13}$/.test(text)) return Number(text);
  if (/^\d{9,10}$/.test(text)) return Number(text) * 1000;
  if (ISO.test(text)) {
    const zoned = /(?:Z|[+-]\d{2}:?\d{2})$/i.test(text) || text.length === 10 ? text : `${text}Z`;
    const ms = Date.parse(zoned.replace(' ', 'T'));
    return Number.isFinite(ms) ? ms : undefined;
  }
  return undefined;
}

/** A short, stable fingerprint of a row's values in column order. */
export function fingerprint(row: ExportRow, columns: readonly string[]): string {
  const values = columns.map((c) => (row[c] === undefined ? null : row[c]));
  return createHash('sha256').update(JSON.stringify(values)).digest('base64url').slice(0, 22);
}

/**
 * Drops rows the previous run exported, and collects the fingerprints the next run needs.
 * Rows are admitted in file order; admit() returns false for a row already exported.
 */
export class BoundaryTracker {
  private readonly keep = new Set<string>();
  private columns: readonly string[] = [];
  private timeColumn: string | undefined;
  private dropped = 0;
  private overflow = false;

  constructor(
    private readonly previous: ReadonlySet<string>,
    /** Where this run stops (the next run's start), epoch ms. */
    private readonly cursor: number,
    private readonly windowMs = BOUNDARY_WINDOW_MS,
    private readonly max = MAX_FINGERPRINTS,
  ) {}

  setColumns(columns: readonly string[]): void {
    if (columns === this.columns) return;
    this.columns = columns;
    this.timeColumn = detectTimeColumn(columns);
  }

  get timeColumnName(): string | undefined {
    return this.timeColumn;
  }

  admit(row: ExportRow): boolean {
    const print = fingerprint(row, this.columns);
    const time = this.timeColumn === undefined ? undefined : parseRowTime(row[this.timeColumn]);
    // A row seen before (identical values) is remembered already: it must not push another out.
    if ((time === undefined || time >= this.cursor - this.windowMs) && !this.keep.has(print)) {
      if (this.keep.size >= this.max) {
        // Forget the oldest: rows arrive roughly in time order, so the newest matter most.
        this.keep.delete(this.keep.values().next().value as string);
        this.overflow = true;
      }
      this.keep.add(print);
    }
    if (this.previous.has(print)) {
      this.dropped += 1;
      return false;
    }
    return true;
  }

  /** Rows dropped as already exported. */
  get skipped(): number {
    return this.dropped;
  }

  /** True when more rows than MAX_FINGERPRINTS needed remembering (the oldest were forgotten). */
  get overflowed(): boolean {
    return this.overflow;
  }

  fingerprints(): string[] {
    return [...this.keep];
  }
}
