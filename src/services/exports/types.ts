import type { Format } from '../../config/settings.js';
import type { StoreLocation } from '../webhooks/store-location.js';

/** The two log exports. */
export type ExportType = 'cmb' | 'feedback';

/** Where records come from: the log-download API, or the webhook store of `tcb webhook listen`. */
export type ExportSourceName = 'api' | 'webhook';

export type TimeUnit = 'ms' | 's';

/** One exported record, columns named as in the downloaded file (or the webhook flattening). */
export type ExportRow = Record<string, unknown>;

/** Everything a run needs, validated before anything is sent (see parseExportOptions). */
export interface ExportOptions {
  type: ExportType;
  source: ExportSourceName;
  /** --store FILE or URL (webhook source), as given. */
  store?: string;
  /** --store read: an SQLite file or a PostgreSQL database (its password registered with the redactor). */
  storeLocation?: StoreLocation;
  /** --survey-id (feedback, API source). */
  surveyId?: string;
  /** Epoch ms. */
  from?: number;
  /** Epoch ms; undefined means "now" for the API and "no upper bound" for the webhook store. */
  to?: number;
  sinceLast: boolean;
  /** --overlap: a --since-last run of the log API starts this long before the previous run's end (ms). */
  overlapMs?: number;
  /** --output FILE; undefined writes to stdout. */
  output?: string;
  /** --force: replace a read-only --output file. */
  force: boolean;
  format: Format;
  /** Unit of the times sent to the log API. */
  timeUnit: TimeUnit;
  /** The clock of this run (epoch ms), fixed once so every part agrees. */
  now: number;
}

/** One run of a source: rows in batches, then the cursor to remember for --since-last. */
export interface SourceRun {
  /** Batches in order; memory holds one batch at a time. */
  batches: AsyncIterable<ExportRow[]>;
  /** The columns, known once the first batch is out (or the source ended). Empty if unknown. */
  columns(): readonly string[];
  /** Where the next --since-last run starts; read only after the batches are exhausted. */
  nextCursor(): unknown;
  /** Why nothing came, for a note on stderr (TTY only). */
  emptyNote?: string;
  /** Human summary of what was asked ("2026-05-01T00:00:00Z → 2026-05-02T00:00:00Z"). */
  describe: string;
  /** Rows dropped because the previous --since-last run already exported them. */
  skipped(): number;
  /** Releases what open() holds (connections, a snapshot) if the batches were not read to the end; idempotent. */
  close?(): Promise<void>;
}

/**
 * A pluggable record source. The log API (api-source.ts) and the webhook store
 * (webhook-source.ts) implement it; the pipeline (exports.ts) does output, atomic files and state.
 */
export interface RecordSource {
  readonly name: ExportSourceName;
  /** Extra parts of the --since-last state key (account, survey, store file…). */
  readonly stateKeyParts: Record<string, string>;
  /** Columns for a header-only CSV when nothing was found and no file told us its header. */
  readonly defaultColumns: readonly string[];
  /** The columns a table shows when present (tables show the useful columns, not every field). */
  readonly tableColumns: readonly string[];
  /** `previous` is the cursor stored by the last successful --since-last run (undefined: none). */
  open(previous: unknown, signal: AbortSignal): Promise<SourceRun>;
}
