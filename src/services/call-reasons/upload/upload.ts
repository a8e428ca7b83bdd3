/**
 * `tcb call-reason upload FILE` (design.md §8): validate the whole file, then send its valid rows in
 * batches under the rate limiter, journalling every batch so that a crash, Ctrl-C or --resume never
 * sends a record twice and never loses one.
 *
 * Two streaming passes over the file (stdin is spooled to a temporary file first):
 *  1. validation (and the content hash that keys the journal): invalid rows are counted, the first
 *     ones kept for the message, all of them written to --skip-invalid FILE when asked;
 *  2. sending: valid rows not already covered by the journal are cut into batches of --batch-size
 *     and posted with enough requests in flight to keep the client's rate limiter busy.
 */
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { ApiClient, RequestSpec } from '../../../api/client.js';
import {
  getBatchStatusV1,
  getBatchStatusV2,
  postBatchV2,
  postBulkV1,
  type CallRecordV2,
} from '../../../api/call-reasons.js';
import type { CommandContext } from '../../../context.js';
import {
  ApiError,
  AuthError,
  InterruptedError,
  PartialFailureError,
  TcbError,
  TransientError,
  UsageError,
  WaitTimeoutError,
} from '../../../errors.js';
import { openAtomicFile, type AtomicFile } from '../../../output/atomic-file.js';
import { onInterrupt } from '../../../util/interrupt.js';
import {
  toV1Record,
  validateCallReason,
  type CallReasonDefaults,
  type CallReasonInput,
  type CallReasonRecord,
} from '../record.js';
import { checkRequiredColumns, fillInput, readCsv, type ColumnMap } from './csv-reader.js';
import {
  JOURNAL_VERSION,
  JournalWriter,
  batchLines,
  effectiveState,
  isCovered,
  journalPath,
  journalsForPath,
  lineRange,
  readJournal,
  type BatchEntry,
  type BatchState,
  type Journal,
  type JournalBatch,
  type JournalHeader,
} from './journal.js';

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

// ---------------------------------------------------------------------------------------------

class Abandoned extends Error {
  constructor() {
    super('abandoned before sending');
    this.name = 'Abandoned';
  }
}

interface PendingBatch {
  seq: number;
  firstLine: number;
  lastLine: number;
  gaps: number[];
  records: CallReasonRecord[];
}

/** Rows → batches of at most `size`, contiguous: a covered line (already sent) closes the batch. */
class Batcher {
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
class BatchCounter {
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
class Coverage {
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

function csvCell(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\n`;
}

function describeErrors(row: InvalidRow): string {
  return row.errors.map((e) => e.message).join('; ');
}

/** Spools stdin to a private temporary file (it must be read twice), hashing it on the way. */
async function spoolStdin(stdin: NodeJS.ReadableStream): Promise<{ file: string; cleanup: () => void }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcb-upload-'));
  const file = path.join(dir, 'stdin.csv');
  await pipeline(stdin, createWriteStream(file, { mode: 0o600 }));
  return { file, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error instanceof Abandoned);
}

/** Statuses that mean a record has not reached its final state yet. */
const NOT_FINAL = new Set(['pending', 'processing', 'queued', 'in_progress', 'in-progress', 'scheduled', 'submitted', 'received']);
const SUCCESS = new Set(['success', 'succeeded', 'delivered', 'ok', 'processed']);

interface StatusRecord {
  status: string;
  reason: string | undefined;
}

function statusOfV2(record: Record<string, unknown>): StatusRecord {
  const info = (record.status_info ?? record.statusInfo) as Record<string, unknown> | undefined;
  const status = String(info?.status ?? record.status ?? 'unknown').toLowerCase();
  const reason = info?.message ?? info?.reason ?? record.message ?? record.reason ?? record.error;
  return { status, reason: typeof reason === 'string' ? reason : undefined };
}

// ---------------------------------------------------------------------------------------------

export async function runUpload(ctx: CommandContext, options: UploadOptions, events: UploadEvents = {}): Promise<UploadResult> {
  const started = Date.now();
  let interrupted = false;
  const unsubscribe = onInterrupt(() => {
    interrupted = true;
  });
  let spool: { file: string; cleanup: () => void } | undefined;
  try {
    let file = options.file;
    let displayName = options.file;
    if (file === '-') {
      spool = await spoolStdin(options.stdin ?? process.stdin);
      file = spool.file;
      displayName = '-';
    } else {
      try {
        const stat = statSync(file);
        if (stat.isDirectory()) throw new UsageError(`${file} is a directory, not a CSV file`);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`${file} does not exist`);
        throw error;
      }
    }
    const initial = statSync(file);
    const size = initial.size;
    const absolute = displayName === '-' ? '-' : path.resolve(file);

    // Where would the journal be? With --resume it is needed before validating (rows an earlier run
    // sent are not validated again: their ends_at may have passed since).
    let target: { baseUrl: string; clientAccountId: string } | undefined;
    let journal: Journal | undefined;
    let sha256: string | undefined;
    if (!options.dryRun) {
      target = { baseUrl: ctx.settings.baseUrl, clientAccountId: ctx.credentials().clientAccountId };
    }
    if (options.resume && target) {
      const { hashFile } = await import('./csv-reader.js');
      sha256 = await hashFile(file);
      journal = loadJournal(ctx.settings.configDir, sha256, target);
      if (!journal && absolute !== '-') {
        const earlier = journalsForPath(ctx.settings.configDir, absolute).filter(
          (j) => j.header.base_url === target!.baseUrl.replace(/\/+$/, '') || j.header.base_url === target!.baseUrl,
        );
        const unfinished = earlier.find((j) => j.batches.some((b) => isCovered(b.state)));
        if (unfinished) {
          throw new UsageError(
            `${displayName} changed since the upload that started ${unfinished.header.created_at} (its content hash differs); refusing to resume`,
            {
              hint: 'restore the original file to resume, or upload the new content without --resume (rows already accepted would be sent again)',
              details: { journal: unfinished.path },
            },
          );
        }
      }
      if (!journal) events.note?.('nothing to resume for this file: starting a new upload');
    }
    const coverage = new Coverage(journal?.batches ?? [], options.resendUncertain);

    // ---- pass 1: validation ----
    const validation = await validationPass(file, displayName, size, options, coverage, events, () => interrupted);
    if (validation.stopped) throw new InterruptedError('interrupted while validating: nothing was sent');
    sha256 ??= validation.sha256;
    events.phaseEnd?.('validating');

    if (validation.invalid > 0 && !options.skipInvalid) {
      const shown = validation.firstInvalid.map((row) => `  line ${row.line}: ${describeErrors(row)}`).join('\n');
      const more = validation.invalid > validation.firstInvalid.length ? `\n  … and ${validation.invalid - validation.firstInvalid.length} more` : '';
      throw new UsageError(
        `${validation.invalid} of ${validation.rows} rows in ${displayName} are invalid; nothing was sent:\n${shown}${more}`,
        {
          field: validation.firstInvalid[0]?.errors[0]?.field,
          hint: 'fix these rows, or pass --skip-invalid FILE to set them aside and send the rest',
          details: { invalid_rows: validation.invalid, rows: validation.rows, first_invalid: validation.firstInvalid },
        },
      );
    }
    if (validation.invalid > 0) {
      events.note?.(`${validation.invalid} invalid row(s) set aside in ${options.skipInvalid}`);
    }

    const base: UploadSummary = {
      file: displayName,
      sha256: sha256 ?? null,
      journal: null,
      dry_run: options.dryRun,
      api: options.api,
      rows: validation.rows,
      valid: validation.valid,
      invalid: validation.invalid,
      skipped_invalid_file: options.skipInvalid ?? null,
      already_sent: validation.covered,
      records_sent: 0,
      batches_sent: 0,
      batch_size: options.batchSize,
      batches_planned: validation.batches,
      records_accepted: 0,
      records_uncertain: 0,
      records_unsent: validation.toSend,
      duration_ms: 0,
      requests_per_minute: null,
      records_per_second: null,
      batches: [],
      uncertain: [],
      outcome: 'dry-run',
    };
    if (options.dryRun) {
      base.duration_ms = Date.now() - started;
      return { summary: base };
    }

    // ---- the journal ----
    const journalFile = journalPath(ctx.settings.configDir, sha256!, target!.baseUrl, target!.clientAccountId);
    journal ??= loadJournal(ctx.settings.configDir, sha256!, target!);
    if (journal && !options.resume && journal.batches.some((b) => isCovered(b.state))) {
      const accepted = journal.batches.filter((b) => b.state === 'accepted').reduce((n, b) => n + b.records, 0);
      throw new UsageError(
        `${displayName} was already uploaded to this account (${accepted} records accepted, upload started ${journal.header.created_at})`,
        {
          hint: 'pass --resume to send only what was never accepted',
          details: { journal: journalFile },
        },
      );
    }
    const header: JournalHeader = journal?.header ?? {
      type: 'upload',
      version: JOURNAL_VERSION,
      sha256: sha256!,
      file: absolute,
      size,
      api: options.api,
      base_url: target!.baseUrl.replace(/\/+$/, ''),
      client_account_id: target!.clientAccountId,
      created_at: new Date().toISOString(),
    };
    const writer = await JournalWriter.open(journalFile, header);
    base.journal = journalFile;
    let runOutcome: 'complete' | 'interrupted' | 'stopped' = 'stopped';
    const run = (journal?.runs ?? 0) + 1;
    let sending: SendResult;
    try {
      writer.append({ type: 'run', run, pid: process.pid, at: new Date().toISOString(), resume: options.resume });
      // Deliberate resend of uncertain batches: record that they are superseded before sending.
      if (options.resendUncertain && journal) {
        for (const batch of journal.batches) {
          if (effectiveState(batch.state) === 'uncertain') {
            const { first_at: _firstAt, ...entry } = batch;
            writer.append({ ...entry, state: 'abandoned', error: 'resent deliberately (--resend-uncertain)', at: new Date().toISOString() });
          }
        }
      }
      const current = statSync(file);
      if (current.size !== size || current.mtimeMs !== initial.mtimeMs) {
        throw new UsageError(`${displayName} changed while it was being validated; nothing was sent`, {
          hint: 'upload a file that is no longer being written',
        });
      }
      const nextSeq = (journal?.batches.reduce((max, b) => Math.max(max, b.seq), 0) ?? 0) + 1;
      coverage.reset();
      sending = await sendingPass(ctx, file, options, coverage, writer, nextSeq, validation, events, () => interrupted);
      runOutcome = sending.interrupted ? 'interrupted' : sending.fatal ? 'stopped' : 'complete';
    } finally {
      try {
        writer.append({ type: 'end', run, at: new Date().toISOString(), outcome: runOutcome });
      } finally {
        writer.close();
      }
    }
    events.phaseEnd?.('sending');

    // ---- summary from the journal (every run of this upload) ----
    const replay = readJournal(journalFile);
    const summary = summarise(base, replay, sending, started);
    let error: TcbError | undefined;
    if (sending.interrupted) {
      error = new InterruptedError(
        `interrupted: ${summary.records_accepted} of ${summary.valid} records accepted so far; the journal is up to date`,
        { hint: `run the same command with --resume to send the rest`, details: { journal: journalFile } },
      );
    } else if (sending.fatal) {
      error = withResumeHint(sending.fatal, journalFile);
    }

    if (!error && options.wait) {
      const wait = await waitForBatches(ctx, file, replay, options, events, () => interrupted);
      summary.wait = wait.summary;
      if (wait.error) error = wait.error;
    }
    if (!error && summary.uncertain.length > 0) {
      const ranges = summary.uncertain.map((u) => u.lines).join(', ');
      error = new TransientError(
        `${summary.records_uncertain} records in ${summary.uncertain.length} batch(es) may or may not have been accepted (lines ${ranges}); they were not resent`,
        {
          code: 'uncertain_batches',
          hint: `check whether they arrived; to send them again deliberately (they may then arrive twice): tcb call-reason upload ${displayName === '-' ? '- (the same input)' : displayName} --resume --resend-uncertain`,
          details: { uncertain: summary.uncertain, journal: journalFile },
        },
      );
      summary.outcome = 'uncertain';
    }
    if (!error && summary.wait && summary.wait.failed > 0) {
      error = new PartialFailureError(
        `${summary.wait.failed} of ${summary.wait.records} records failed${summary.wait.report ? `; see ${summary.wait.report}` : ''}`,
        { details: { failures_by_reason: summary.wait.failures_by_reason } },
      );
    }
    return { summary, error };
  } finally {
    unsubscribe();
    spool?.cleanup();
  }
}

function loadJournal(configDir: string, sha256: string, target: { baseUrl: string; clientAccountId: string }): Journal | undefined {
  try {
    return readJournal(journalPath(configDir, sha256, target.baseUrl, target.clientAccountId));
  } catch (error) {
    if (error instanceof UsageError && /no upload journal/.test(error.message)) return undefined;
    throw error;
  }
}

function withResumeHint(error: TcbError, journalFile: string): TcbError {
  const hint = `${error.hint ? `${error.hint}; ` : ''}batches the API accepted are in the journal: fix the cause and run again with --resume`;
  const Ctor = error.constructor as new (message: string, extra: Record<string, unknown>) => TcbError;
  try {
    return new Ctor(error.message, {
      hint,
      httpStatus: error.httpStatus,
      slug: error.slug,
      field: error.field,
      details: { ...error.details, journal: journalFile },
      code: (error as { code?: string }).code,
    });
  } catch {
    return error;
  }
}

// ---------------------------------------------------------------------------------------------

interface ValidationResult {
  rows: number;
  valid: number;
  invalid: number;
  covered: number;
  toSend: number;
  batches: number;
  firstInvalid: InvalidRow[];
  sha256?: string;
  stopped: boolean;
}

async function validationPass(
  file: string,
  displayName: string,
  size: number,
  options: UploadOptions,
  coverage: Coverage,
  events: UploadEvents,
  isInterrupted: () => boolean,
): Promise<ValidationResult> {
  const result: ValidationResult = { rows: 0, valid: 0, invalid: 0, covered: 0, toSend: 0, batches: 0, firstInvalid: [], stopped: false };
  const counter = new BatchCounter(options.batchSize);
  const input: CallReasonInput = {};
  const { now, defaults } = options;
  let columns: ColumnMap | undefined;
  let skipFile: AtomicFile | undefined;
  let skipBuffer = '';
  const coverageEmpty = coverage.empty;
  let bytesSeen = 0;
  const chunkBytes = 64 * 1024;

  const noteInvalid = (line: number, fields: string[], errors: InvalidRow['errors']) => {
    result.invalid += 1;
    if (result.firstInvalid.length < SHOWN_INVALID_ROWS) result.firstInvalid.push({ line, errors });
    if (skipFile) skipBuffer += csvRow([...fields, line, errors.map((e) => e.message).join('; ')]);
  };

  try {
    if (options.skipInvalid) skipFile = await openAtomicFile(options.skipInvalid);
    const read = await readCsv(file, {
      hash: !options.dryRun && !options.resume,
      onHeader(map) {
        columns = map;
        checkRequiredColumns(map, defaults);
        if (skipFile) skipBuffer += csvRow([...map.header, 'line', 'error']);
        if (map.ignored.length > 0) events.note?.(`ignoring column(s) ${map.ignored.map((c) => JSON.stringify(c)).join(', ')}`);
      },
      onRow(line, fields) {
        result.rows += 1;
        if (!coverageEmpty && coverage.covers(line)) {
          result.covered += 1;
          counter.boundary();
          return;
        }
        if (fields.length !== columns!.header.length) {
          noteInvalid(line, fields, [
            { field: 'row', message: `the row has ${fields.length} field(s); the header has ${columns!.header.length}` },
          ]);
          return;
        }
        fillInput(fields, columns!, input);
        const validated = validateCallReason(input, { now, defaults });
        if (validated.ok) {
          result.valid += 1;
          result.toSend += 1;
          counter.add();
        } else noteInvalid(line, fields, validated.errors);
      },
      async afterChunk() {
        bytesSeen += chunkBytes;
        if (skipFile && skipBuffer.length > 0) {
          await skipFile.write(skipBuffer);
          skipBuffer = '';
        }
        events.progress?.({ phase: 'validating', done: Math.min(bytesSeen, size), total: size, batchesDone: 0, batchesTotal: 0 });
      },
      shouldStop: isInterrupted,
    });
    result.stopped = read.stopped;
    result.sha256 = read.sha256;
    result.batches = counter.batches;
    if (skipFile) {
      if (skipBuffer) await skipFile.write(skipBuffer);
      if (read.stopped) await skipFile.abort();
      else await skipFile.commit();
    }
    void displayName;
    return result;
  } catch (error) {
    await skipFile?.abort();
    throw error;
  }
}

// ---------------------------------------------------------------------------------------------

interface SendResult {
  interrupted: boolean;
  fatal?: TcbError;
  recordsSent: number;
  batchesSent: number;
  firstSendAt?: number;
  lastSendAt?: number;
  lastAnswerAt?: number;
  /** Requests (POST attempts) made, retries included. */
  attempts: number;
}

async function sendingPass(
  ctx: CommandContext,
  file: string,
  options: UploadOptions,
  coverage: Coverage,
  writer: JournalWriter,
  nextSeq: number,
  validation: ValidationResult,
  events: UploadEvents,
  isInterrupted: () => boolean,
): Promise<SendResult> {
  const result: SendResult = { interrupted: false, recordsSent: 0, batchesSent: 0, attempts: 0 };
  if (validation.toSend === 0) return result;
  const client = ctx.api();
  const accountId = ctx.credentials().clientAccountId;
  const input: CallReasonInput = {};
  const { now, defaults } = options;
  let columns: ColumnMap | undefined;
  const ready: PendingBatch[] = [];
  const inFlight = new Set<Promise<void>>();
  const unsent = new Set<{ abandoned: boolean; sent: boolean }>();
  let stopping = false;
  let consecutiveUncertain = 0;
  let settledRecords = 0;
  let settledBatches = 0;
  const coverageEmpty = coverage.empty;

  const stop = () => {
    stopping = true;
    for (const state of unsent) if (!state.sent) state.abandoned = true;
  };
  const checkInterrupt = () => {
    if (isInterrupted() && !result.interrupted) {
      result.interrupted = true;
      stop();
    }
  };

  const batcher = new Batcher(options.batchSize, nextSeq, (batch) => ready.push(batch));

  const entry = (batch: PendingBatch, state: BatchState, extra: Partial<BatchEntry> = {}): BatchEntry => ({
    type: 'batch',
    seq: batch.seq,
    state,
    first_line: batch.firstLine,
    last_line: batch.lastLine,
    records: batch.records.length,
    ...(batch.gaps.length > 0 ? { gaps: batch.gaps } : {}),
    ...extra,
    at: new Date().toISOString(),
  });

  const send = async (batch: PendingBatch): Promise<void> => {
    const state = { abandoned: false, sent: false };
    unsent.add(state);
    const onSend = () => {
      checkInterrupt();
      if (state.abandoned || (stopping && !state.sent)) throw new Abandoned();
      if (stopping && state.sent) {
        // a retry after a 429/503 (never processed): do not send it again while stopping
        throw new Abandoned();
      }
      result.attempts += 1;
      result.lastSendAt = Date.now();
      if (!state.sent) {
        state.sent = true;
        writer.append(entry(batch, 'sending'));
        result.firstSendAt ??= Date.now();
      }
    };
    const wrapped = Object.create(client) as ApiClient;
    wrapped.request = <T>(spec: RequestSpec) => client.request<T>({ ...spec, onSend });
    try {
      let batchId: string | undefined;
      if (options.api === 'v2') {
        batchId = (await postBatchV2(wrapped, accountId, batch.records as CallRecordV2[])).batch_id;
      } else {
        batchId = (await postBulkV1(wrapped, accountId, batch.records.map(toV1Record))).batch_id;
      }
      writer.append(entry(batch, 'accepted', batchId ? { batch_id: batchId } : { error: 'accepted without a batch id' }));
      consecutiveUncertain = 0;
      result.recordsSent += batch.records.length;
      result.batchesSent += 1;
    } catch (error) {
      if (isAbort(error)) {
        if (state.sent) writer.append(entry(batch, 'abandoned', { error: 'stopped before the API processed it' }));
      } else if (error instanceof TcbError && error.details?.outcome === 'accepted-without-id') {
        writer.append(entry(batch, 'accepted', { error: 'accepted without a batch id' }));
        result.recordsSent += batch.records.length;
        result.batchesSent += 1;
      } else if (error instanceof TcbError && error.details?.outcome === 'unknown') {
        writer.append(entry(batch, 'uncertain', { error: error.message, http_status: error.httpStatus }));
        result.batchesSent += 1;
        result.recordsSent += batch.records.length;
        consecutiveUncertain += 1;
        if (consecutiveUncertain >= MAX_CONSECUTIVE_UNCERTAIN && !result.fatal) {
          result.fatal = new TransientError(
            `${consecutiveUncertain} batches in a row had an unknown outcome; stopped sending`,
            { code: 'uncertain_batches', hint: 'the API seems unwell: try again later' },
          );
          stop();
        }
      } else if (error instanceof ApiError || error instanceof AuthError || error instanceof TransientError) {
        writer.append(
          entry(batch, error instanceof ApiError ? 'rejected' : 'failed', { error: error.message, http_status: error.httpStatus }),
        );
        if (!result.fatal) {
          result.fatal =
            error instanceof ApiError
              ? new ApiError(`the API rejected the batch of lines ${batch.firstLine}-${batch.lastLine}: ${error.message}`, {
                  httpStatus: error.httpStatus,
                  field: error.field,
                  slug: error.slug,
                  details: { ...error.details, lines: `${batch.firstLine}-${batch.lastLine}` },
                })
              : error;
        }
        stop();
      } else {
        // Not an API answer (a bug or a local failure): if it went out, its fate is unknown.
        writer.append(entry(batch, state.sent ? 'uncertain' : 'failed', { error: errorMessage(error) }));
        if (!result.fatal) result.fatal = error instanceof TcbError ? error : new TransientError(errorMessage(error), { cause: error });
        stop();
      }
    } finally {
      unsent.delete(state);
      result.lastAnswerAt = Date.now();
      settledRecords += batch.records.length;
      settledBatches += 1;
      events.progress?.({
        phase: 'sending',
        done: settledRecords,
        total: validation.toSend,
        batchesDone: settledBatches,
        batchesTotal: validation.batches,
      });
    }
  };

  const launch = (batch: PendingBatch) => {
    const promise: Promise<void> = send(batch).finally(() => inFlight.delete(promise));
    inFlight.add(promise);
  };

  const drainReady = async () => {
    while (ready.length > 0) {
      checkInterrupt();
      if (stopping) {
        ready.length = 0;
        return;
      }
      while (inFlight.size >= options.concurrency) await Promise.race(inFlight);
      checkInterrupt();
      if (stopping) continue;
      launch(ready.shift()!);
    }
  };

  events.progress?.({ phase: 'sending', done: 0, total: validation.toSend, batchesDone: 0, batchesTotal: validation.batches });
  await readCsv(file, {
    onHeader(map) {
      columns = map;
    },
    onRow(line, fields) {
      if (!coverageEmpty && coverage.covers(line)) {
        batcher.boundary();
        return;
      }
      if (fields.length !== columns!.header.length) return;
      fillInput(fields, columns!, input);
      const validated = validateCallReason(input, { now, defaults });
      if (validated.ok) batcher.add(line, validated.record);
    },
    afterChunk: drainReady,
    shouldStop: () => {
      checkInterrupt();
      return stopping;
    },
  });
  if (!stopping) {
    batcher.flush();
    await drainReady();
  }
  while (inFlight.size > 0) await Promise.race(inFlight);
  checkInterrupt();
  return result;
}

// ---------------------------------------------------------------------------------------------

function summarise(base: UploadSummary, journal: Journal, sending: SendResult, started: number): UploadSummary {
  const summary = { ...base };
  summary.records_sent = sending.recordsSent;
  summary.batches_sent = sending.batchesSent;
  summary.batches = journal.batches.map((batch) => ({
    seq: batch.seq,
    lines: lineRange(batch),
    records: batch.records,
    state: effectiveState(batch.state),
    batch_id: batch.batch_id ?? null,
    ...(batch.error ? { error: batch.error } : {}),
  }));
  summary.records_accepted = journal.batches.filter((b) => b.state === 'accepted').reduce((n, b) => n + b.records, 0);
  const uncertain = journal.batches.filter((b) => effectiveState(b.state) === 'uncertain');
  summary.uncertain = uncertain.map((b) => ({ seq: b.seq, lines: lineRange(b), records: b.records }));
  summary.records_uncertain = uncertain.reduce((n, b) => n + b.records, 0);
  summary.records_unsent = Math.max(0, summary.valid + summary.already_sent - summary.records_accepted - summary.records_uncertain);
  summary.duration_ms = Date.now() - started;
  if (sending.firstSendAt !== undefined && sending.lastAnswerAt !== undefined && sending.attempts > 0) {
    // Request rate as the server sees it: intervals between the first and the last request sent.
    const spanMs = (sending.lastSendAt ?? sending.firstSendAt) - sending.firstSendAt;
    summary.requests_per_minute = sending.attempts > 1 && spanMs > 0 ? Math.round(((sending.attempts - 1) / spanMs) * 60_000 * 10) / 10 : null;
    const seconds = Math.max(0.001, (sending.lastAnswerAt - sending.firstSendAt) / 1000);
    summary.records_per_second = Math.round((sending.recordsSent / seconds) * 10) / 10;
  }
  summary.outcome = sending.interrupted ? 'interrupted' : sending.fatal ? 'stopped' : 'complete';
  return summary;
}

// ---------------------------------------------------------------------------------------------

interface WaitOutcome {
  summary: WaitSummary;
  error?: TcbError;
}

/** Polls every accepted batch of the upload until all its records are final; writes --report. */
async function waitForBatches(
  ctx: CommandContext,
  file: string,
  journal: Journal,
  options: UploadOptions,
  events: UploadEvents,
  isInterrupted: () => boolean,
): Promise<WaitOutcome> {
  const client = ctx.api();
  const accountId = ctx.credentials().clientAccountId;
  const batches = journal.batches.filter((b) => b.state === 'accepted' && b.batch_id);
  const summary: WaitSummary = { batches: batches.length, records: 0, by_status: {}, failed: 0, failures_by_reason: {}, report: null };
  const failedBatches: FailedBatch[] = [];
  const deadline = Date.now() + options.waitTimeoutMs;
  let done = 0;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  for (const batch of batches) {
    let statuses: ReturnedRecord[] | undefined;
    for (;;) {
      if (isInterrupted()) throw new InterruptedError('interrupted while waiting for the batches; every batch was sent', {
        hint: `check them later with: tcb batch status --journal ${journal.path}`,
      });
      const returned = (
        options.api === 'v2'
          ? (await getBatchStatusV2(client, accountId, batch.batch_id!)).data
          : await getBatchStatusV1(client, accountId, batch.batch_id!)
      ) as Record<string, unknown>[];
      const records = returned.map((raw) => ({ ...statusOfV2(raw), raw }));
      const final = records.length >= batch.records && records.every((r) => !NOT_FINAL.has(r.status));
      if (final) {
        statuses = records;
        break;
      }
      if (Date.now() + options.waitIntervalMs > deadline) {
        return {
          summary,
          error: new WaitTimeoutError(`batches were still being processed when --wait-timeout ran out (${done} of ${batches.length} final)`, {
            hint: `check them later with: tcb batch status --journal ${journal.path}`,
          }),
        };
      }
      await sleep(options.waitIntervalMs);
    }
    let failedHere = 0;
    for (const status of statuses) {
      summary.records += 1;
      summary.by_status[status.status] = (summary.by_status[status.status] ?? 0) + 1;
      if (SUCCESS.has(status.status)) continue;
      failedHere += 1;
      const reason = status.reason ?? status.status;
      summary.failures_by_reason[reason] = (summary.failures_by_reason[reason] ?? 0) + 1;
    }
    summary.failed += failedHere;
    if (failedHere > 0) failedBatches.push({ batchId: batch.batch_id!, lines: batchLines(batch), returned: statuses });
    done += 1;
    events.progress?.({ phase: 'waiting', done, total: batches.length, batchesDone: done, batchesTotal: batches.length });
  }
  events.phaseEnd?.('waiting');
  if (options.report) {
    await writeReport(file, options.report, failedBatches, options);
    summary.report = options.report;
  }
  return { summary };
}

/** A status record as the API returned it, with its status read. */
interface ReturnedRecord extends StatusRecord {
  raw: Record<string, unknown>;
}

interface FailedBatch {
  batchId: string;
  /** The CSV lines the batch carried, in the order they were sent. */
  lines: number[];
  returned: ReturnedRecord[];
}

interface SentRow {
  line: number;
  fields: string[];
  /** The record as it was sent (re-validated); undefined if that can no longer be rebuilt. */
  record?: CallRecordV2;
}

function text(value: unknown): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : String(value);
}

/**
 * Could this returned status record be this sent record? The API masks the numbers and documents
 * no order, so records are matched on the fields it returns in clear; a field only one side
 * has is not compared.
 */
function couldBe(raw: Record<string, unknown>, record: CallRecordV2 | undefined): boolean {
  if (!record) return false;
  const pairs: Array<[unknown, unknown]> = [
    [raw.starts_at, record.starts_at],
    [raw.ends_at, record.ends_at],
    [raw.label_id, record.label_id],
    [raw.dynamic_call_reason ?? raw.call_reason, record.dynamic_call_reason],
    [raw.dynamic_label_name ?? raw.label_name, record.dynamic_label_name],
  ];
  for (const [returned, sent] of [
    [raw.caller_number ?? raw.caller, record.caller_number],
    [raw.receiver_number ?? raw.receiver, record.receiver_number],
  ] as Array<[unknown, string]>) {
    const clear = text(returned)?.replace(/^\+/, '');
    if (clear && /^\d+$/.test(clear)) pairs.push([clear, sent]);
  }
  return pairs.every(([returned, sent]) => text(returned) === undefined || text(sent) === undefined || text(returned) === text(sent));
}

/**
 * Which sent row each failed status belongs to. In order when the answer lines up with what was
 * sent; otherwise by content, and a failure that fits several different rows stays unplaced
 * rather than blaming the wrong line.
 */
function placeFailures(returned: ReturnedRecord[], rows: SentRow[]): Array<{ status: ReturnedRecord; row?: SentRow }> {
  const inOrder = returned.length === rows.length && returned.every((status, i) => couldBe(status.raw, rows[i]!.record));
  const taken = new Set<SentRow>();
  const placed: Array<{ status: ReturnedRecord; row?: SentRow }> = [];
  returned.forEach((status, i) => {
    if (SUCCESS.has(status.status)) return;
    if (inOrder) {
      placed.push({ status, row: rows[i] });
      return;
    }
    const candidates = rows.filter((row) => !taken.has(row) && couldBe(status.raw, row.record));
    const first = candidates[0];
    const identical = first && candidates.every((row) => JSON.stringify(row.record) === JSON.stringify(first.record));
    if (first && identical) {
      taken.add(first);
      placed.push({ status, row: first });
    } else {
      placed.push({ status });
    }
  });
  return placed;
}

/**
 * The failed records with their CSV line, the reason and the row as it was in the file. The file
 * is read once more; only one batch's rows are held at a time.
 */
async function writeReport(file: string, target: string, failedBatches: FailedBatch[], options: UploadOptions): Promise<void> {
  const batchOfLine = new Map<number, FailedBatch>();
  for (const batch of failedBatches) for (const line of batch.lines) batchOfLine.set(line, batch);
  const rowsOf = new Map<FailedBatch, SentRow[]>();
  const unplaced: string[] = [];
  const input: CallReasonInput = {};
  const out = await openAtomicFile(target);
  try {
    let buffer = '';
    let columns: ColumnMap | undefined;
    const emit = (batch: FailedBatch, rows: SentRow[]) => {
      const placed = placeFailures(batch.returned, rows);
      const byLine = placed.filter((p) => p.row).sort((a, b) => a.row!.line - b.row!.line);
      for (const { status, row } of byLine) {
        buffer += csvRow([row!.line, batch.batchId, status.status, status.reason ?? status.status, ...row!.fields]);
      }
      for (const { status, row } of placed) {
        if (!row) unplaced.push(csvRow(['', batch.batchId, status.status, status.reason ?? status.status, ...columns!.header.map(() => '')]));
      }
    };
    await readCsv(file, {
      onHeader(map) {
        columns = map;
        buffer += csvRow(['line', 'batch_id', 'status', 'reason', ...map.header]);
      },
      onRow(line, fields) {
        const batch = batchOfLine.get(line);
        if (!batch) return;
        let record: CallRecordV2 | undefined;
        if (fields.length === columns!.header.length) {
          fillInput(fields, columns!, input);
          const validated = validateCallReason(input, { now: options.now, defaults: options.defaults });
          if (validated.ok) record = validated.record as CallRecordV2;
        }
        const rows = rowsOf.get(batch) ?? [];
        rows.push({ line, fields: [...fields], record });
        rowsOf.set(batch, rows);
        if (line === batch.lines[batch.lines.length - 1]) {
          emit(batch, rows);
          rowsOf.delete(batch);
        }
      },
      async afterChunk() {
        if (buffer) await out.write(buffer);
        buffer = '';
      },
    });
    // Batches whose last line is gone from the file (it should not happen: the hash is checked).
    for (const [batch, rows] of rowsOf) emit(batch, rows);
    buffer += unplaced.join('');
    if (buffer) await out.write(buffer);
    await out.commit();
  } catch (error) {
    await out.abort();
    throw error;
  }
}

// exported for unit tests
export const internals = { Batcher, BatchCounter, Coverage, statusOfV2, csvRow, placeFailures, couldBe };
