/**
 * `tcb call-reason upload FILE` (design.md §8): validate the whole file, then send its valid rows in
 * batches under the rate limiter, journalling every batch so that a crash, Ctrl-C or --resume never
 * sends a record twice and never loses one.
 *
 * The phases, each in its own file:
 *  1. validate.ts — every row validated and the file hashed (the journal's key); invalid rows are
 *     counted, the first ones kept for the message, all of them written to --skip-invalid FILE;
 *  2. send.ts — valid rows not already covered by the journal are cut into batches (batching.ts) and
 *     posted with enough requests in flight to keep the client's rate limiter busy;
 *  3. wait.ts — with --wait, the accepted batches are polled through the batch-status service;
 *  4. report.ts — with --report, the failed records are written with their CSV lines.
 * stdin is spooled to a temporary file first, because it is read twice.
 */
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import type { CommandContext } from '../../../context.js';
import { InterruptedError, PartialFailureError, TcbError, TransientError, UsageError } from '../../../errors.js';
import { checkDestinations } from '../../../output/destination.js';
import { onInterrupt } from '../../../util/interrupt.js';
import { limitYoungGeneration } from '../../../util/young-generation.js';
import { inputFileError } from '../../../util/input-file.js';
import { BatchCounter, Batcher, Coverage } from './batching.js';
import { csvRow } from './csv-writer.js';
import {
  JOURNAL_VERSION,
  JournalWriter,
  effectiveState,
  isCovered,
  journalPath,
  journalsForPath,
  readJournal,
  type Journal,
  type JournalHeader,
} from './journal.js';
import { couldBe, placeFailures, statusOf } from './report.js';
import { sendingPass, summariseRun, type SendResult } from './send.js';
import { spoolInput, type Spool } from './spool.js';
import type { InvalidRow, UploadEvents, UploadOptions, UploadResult, UploadSummary } from './types.js';
import { validationPass } from './validate.js';
import { waitForBatches } from './wait.js';

export * from './types.js';

function describeErrors(row: InvalidRow): string {
  return row.errors.map((e) => e.message).join('; ');
}

export async function runUpload(ctx: CommandContext, options: UploadOptions, events: UploadEvents = {}): Promise<UploadResult> {
  const started = Date.now();
  let interrupted = false;
  const interruption = new AbortController();
  const unsubscribe = onInterrupt(() => {
    interrupted = true;
    interruption.abort();
  });
  const releaseYoungGeneration = limitYoungGeneration();
  let spool: Spool | undefined;
  try {
    // Before anything is read or sent: --skip-invalid and --report must not destroy the input,
    // a journal, tcb's own files, or each other.
    const [skipInvalid, report] = await checkDestinations(
      [
        options.skipInvalid !== undefined ? { flag: '--skip-invalid', given: options.skipInvalid, force: options.force } : undefined,
        options.report !== undefined ? { flag: '--report', given: options.report, force: options.force } : undefined,
      ],
      {
        protect: options.file === '-' ? [] : [{ path: options.file, what: 'the file being uploaded' }],
        configDir: ctx.settings.configDir,
      },
    );
    options = { ...options, destinations: { skipInvalid, report } };
    let file = options.file;
    const displayName = options.file;
    /** How messages name the input. */
    const label = options.file === '-' ? 'stdin' : options.file;
    if (file === '-') {
      spool = await spoolInput(options.stdin ?? process.stdin, label, interruption.signal, events.note);
      file = spool.file;
    } else {
      let stat;
      try {
        stat = statSync(file);
      } catch (error) {
        throw inputFileError(error, file);
      }
      if (stat.isDirectory()) throw new UsageError(`cannot read ${file}: it is a directory, not a CSV file`);
      // A pipe or a device (`<(command)`, /dev/stdin) can be read only once: copy it like stdin.
      if (!stat.isFile()) {
        spool = await spoolInput(createReadStream(file), label, interruption.signal, events.note);
        file = spool.file;
      }
    }
    const initial = statSync(file);
    const size = initial.size;
    const absolute = displayName === '-' ? '-' : path.resolve(displayName);

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
    const validation = await validationPass(file, size, options, coverage, events, () => interrupted);
    if (validation.stopped) throw new InterruptedError('interrupted while validating: nothing was sent');
    sha256 ??= validation.sha256;
    events.phaseEnd?.('validating');

    if (validation.invalid > 0 && !options.skipInvalid) {
      const shown = validation.firstInvalid.map((row) => `  line ${row.line}: ${describeErrors(row)}`).join('\n');
      const more = validation.invalid > validation.firstInvalid.length ? `\n  … and ${validation.invalid - validation.firstInvalid.length} more` : '';
      throw new UsageError(
        `${validation.invalid} of ${validation.rows} rows in ${label} are invalid; nothing was sent:\n${shown}${more}`,
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
    const summary = summariseRun(base, replay, sending, started);
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
      const wait = await waitForBatches(ctx, file, replay, options, events, interruption.signal);
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
    releaseYoungGeneration();
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

// exported for unit tests
export const internals = { Batcher, BatchCounter, Coverage, statusOfV2: statusOf, csvRow, placeFailures, couldBe };
