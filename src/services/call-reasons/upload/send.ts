// Pass 2: valid rows not covered by the journal are cut into batches and posted under the rate
// limiter, a `sending` journal entry written before the first byte of each batch goes out.
import type { ApiClient, RequestSpec } from '../../../api/client.js';
import { postBatchV2, postBulkV1, type CallRecordV2 } from '../../../api/call-reasons.js';
import type { CommandContext } from '../../../context.js';
import { ApiError, AuthError, TcbError, TransientError } from '../../../errors.js';
import { toV1Record, validateCallReason, type CallReasonInput } from '../record.js';
import { Batcher, type Coverage, type PendingBatch } from './batching.js';
import { fillInput, readCsv, type ColumnMap } from './csv-reader.js';
import { effectiveState, lineRange, type BatchEntry, type BatchState, type Journal, type JournalWriter } from './journal.js';
import { MAX_CONSECUTIVE_UNCERTAIN, type UploadEvents, type UploadOptions, type UploadSummary } from './types.js';
import type { ValidationResult } from './validate.js';

class Abandoned extends Error {
  constructor() {
    super('abandoned before sending');
    this.name = 'Abandoned';
  }
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function isAbort(error: unknown): boolean {
  return error instanceof Error && (error.name === 'AbortError' || error instanceof Abandoned);
}


export interface SendResult {
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

export async function sendingPass(
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

/** The summary of every run of this upload, read back from its journal. */
export function summariseRun(base: UploadSummary, journal: Journal, sending: SendResult, started: number): UploadSummary {
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
