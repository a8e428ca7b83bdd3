// --wait: every accepted batch of the upload polled through the batch-status service (the same path
// as `tcb batch status`) until its records are final; then the --report file.
import type { CommandContext } from '../../../context.js';
import { InterruptedError, WaitTimeoutError, type TcbError } from '../../../errors.js';
import { REAL_WAIT_HOOKS, apiFetcher, checkBatches, type BatchResult, type BatchTarget } from '../batch-status.js';
import type { Journal } from './journal.js';
import { batchLines } from './journal.js';
import { isSuccess, statusOf, writeReport, type FailedBatch } from './report.js';
import type { UploadEvents, UploadOptions, WaitSummary } from './types.js';

export interface WaitOutcome {
  summary: WaitSummary;
  error?: TcbError;
}

function recordsOf(result: BatchResult): Record<string, unknown>[] {
  const response = result.response;
  return (Array.isArray(response) ? response : response.data) as Record<string, unknown>[];
}

export async function waitForBatches(
  ctx: CommandContext,
  file: string,
  journal: Journal,
  options: UploadOptions,
  events: UploadEvents,
  signal: AbortSignal,
): Promise<WaitOutcome> {
  const accepted = journal.batches.filter((b) => b.state === 'accepted' && b.batch_id);
  const summary: WaitSummary = { batches: accepted.length, records: 0, by_status: {}, failed: 0, failures_by_reason: {}, report: null };
  const later = { hint: `check them later with: tcb batch status --journal ${journal.path}` };
  const targets: BatchTarget[] = accepted.map((b) => ({
    batchId: b.batch_id!,
    expectedRecords: b.records,
    firstLine: b.first_line,
    lastLine: b.last_line,
  }));
  const fetcher = apiFetcher(ctx, {
    api: options.api,
    apiVersion: 'v2',
    wait: true,
    intervalMs: options.waitIntervalMs,
    waitTimeoutMs: options.waitTimeoutMs,
  });
  const outcome = await checkBatches(
    targets,
    fetcher,
    { wait: true, intervalMs: options.waitIntervalMs, waitTimeoutMs: options.waitTimeoutMs },
    signal,
    {
      ...REAL_WAIT_HOOKS,
      progress: (done, total) => events.progress?.({ phase: 'waiting', done, total, batchesDone: done, batchesTotal: total }),
    },
  ).catch((error: unknown) => {
    if (signal.aborted) throw new InterruptedError('interrupted while waiting for the batches; every batch was sent', later);
    throw error;
  });
  if (outcome.interrupted) throw new InterruptedError('interrupted while waiting for the batches; every batch was sent', later);
  if (outcome.timedOut) {
    const done = outcome.results.filter((r) => r.summary.state === 'complete').length;
    return {
      summary,
      error: new WaitTimeoutError(`batches were still being processed when --wait-timeout ran out (${done} of ${accepted.length} final)`, later),
    };
  }

  const failedBatches: FailedBatch[] = [];
  outcome.results.forEach((result, index) => {
    const statuses = recordsOf(result).map((raw) => ({ ...statusOf(raw), raw }));
    let failedHere = 0;
    for (const status of statuses) {
      summary.records += 1;
      summary.by_status[status.status] = (summary.by_status[status.status] ?? 0) + 1;
      if (isSuccess(status.status)) continue;
      failedHere += 1;
      const reason = status.reason ?? status.status;
      summary.failures_by_reason[reason] = (summary.failures_by_reason[reason] ?? 0) + 1;
    }
    summary.failed += failedHere;
    if (failedHere > 0) failedBatches.push({ batchId: result.target.batchId, lines: batchLines(accepted[index]!), returned: statuses });
  });
  events.phaseEnd?.('waiting');
  if (options.report) {
    await writeReport(file, options.destinations?.report ?? options.report, failedBatches, options);
    summary.report = options.report;
  }
  return { summary };
}
