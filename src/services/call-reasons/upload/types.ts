// Options, progress events and the summary of `tcb call-reason upload`, shared by its phases.
import type { TcbError } from '../../../errors.js';
import type { Destination } from '../../../output/destination.js';
import type { CallReasonDefaults } from '../record.js';
import type { BatchState } from './journal.js';

export const MAX_BATCH_SIZE = 500;
/** Invalid rows quoted in the error message; the rest are counted. */
export const SHOWN_INVALID_ROWS = 10;
/** Consecutive uncertain batches after which the upload stops: the API is not well. */
export const MAX_CONSECUTIVE_UNCERTAIN = 3;

export interface UploadOptions {
  /** A path, or "-" for stdin. */
  file: string;
  defaults: CallReasonDefaults;
  /** "Now" for validation; the same value in both passes so they agree. */
  now: number;
  batchSize: number;
  api: 'v1' | 'v2';
  dryRun: boolean;
  skipInvalid?: string;
  resume: boolean;
  resendUncertain: boolean;
  /** Requests in flight (including those waiting for the rate limiter). */
  concurrency: number;
  wait: boolean;
  waitIntervalMs: number;
  waitTimeoutMs: number;
  report?: string;
  /** --force: replace a read-only --skip-invalid or --report file. */
  force?: boolean;
  /** --skip-invalid and --report as checked before anything was sent (set by runUpload). */
  destinations?: { skipInvalid?: Destination; report?: Destination };
  /** stdin, for "-" (tests pass their own). */
  stdin?: NodeJS.ReadableStream;
}

export type UploadPhase = 'validating' | 'sending' | 'waiting';

export interface UploadProgress {
  phase: UploadPhase;
  /** validating: bytes; sending: records accepted or settled; waiting: batches final. */
  done: number;
  total: number;
  batchesDone: number;
  batchesTotal: number;
}

export interface UploadEvents {
  progress?(progress: UploadProgress): void;
  /** Human notes for stderr (the command decides whether to show them). */
  note?(message: string): void;
  phaseEnd?(phase: UploadPhase): void;
}

export interface InvalidRow {
  line: number;
  errors: { field: string; message: string }[];
}

export interface SummaryBatch {
  seq: number;
  lines: string;
  records: number;
  state: BatchState;
  batch_id: string | null;
  error?: string;
}

export interface WaitSummary {
  batches: number;
  records: number;
  by_status: Record<string, number>;
  failed: number;
  failures_by_reason: Record<string, number>;
  report: string | null;
}

export interface UploadSummary {
  file: string;
  sha256: string | null;
  journal: string | null;
  dry_run: boolean;
  api: 'v1' | 'v2';
  rows: number;
  valid: number;
  invalid: number;
  skipped_invalid_file: string | null;
  /** Rows left alone because an earlier run's batch covers them (--resume). */
  already_sent: number;
  records_sent: number;
  batches_sent: number;
  batch_size: number;
  /** dry run: batches that would be sent. */
  batches_planned: number;
  records_accepted: number;
  records_uncertain: number;
  records_unsent: number;
  duration_ms: number;
  /** Requests per minute over the sending phase, and the limit they ran under. */
  requests_per_minute: number | null;
  records_per_second: number | null;
  batches: SummaryBatch[];
  uncertain: { seq: number; lines: string; records: number }[];
  outcome: 'complete' | 'dry-run' | 'interrupted' | 'stopped' | 'uncertain';
  wait?: WaitSummary;
}

export interface UploadResult {
  summary: UploadSummary;
  /** Thrown by the command after the summary is printed (exit code ≠ 0). */
  error?: TcbError;
}

