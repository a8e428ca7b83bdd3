// tcb batch status: per-record statuses of call-personalisation batches, summarised by status and
// reason, optionally polled (--wait) until every batch reaches a final state.
import {
  getBatchStatusV1,
  getBatchStatusV2,
  type BatchRecordV1,
  type BatchRecordV2,
  type BatchStatusV2,
  type StatusApiVersion,
} from '../../api/call-reasons.js';
import type { CommandContext } from '../../context.js';
import { InterruptedError, UsageError } from '../../errors.js';
import { onInterrupt } from '../../util/interrupt.js';
import { durationFlag, pollIntervalFlag } from '../../util/flags.js';

export type RecordOutcome = 'success' | 'failed' | 'pending' | 'other';

const SUCCESS = new Set(['success', 'succeeded', 'successful', 'delivered', 'processed', 'completed', 'complete', 'done', 'ok', 'sent', 'pushed']);
const FAILED = new Set(['failed', 'failure', 'error', 'errored', 'rejected', 'invalid', 'undelivered']);
const PENDING = new Set(['', 'pending', 'processing', 'queued', 'in_progress', 'in-progress', 'inprogress', 'submitted', 'accepted', 'received', 'created', 'scheduled', 'running', 'new']);

/**
 * The docs only show "success" (api/README.md §6.4: the failure representation is UNCONFIRMED), so
 * this reads generously: failure words are failures, waiting words are pending, anything else is a
 * final state shown by its own name ("other"), never silently counted as success.
 */
export function classifyStatus(status: string | undefined): RecordOutcome {
  const word = (status ?? '').trim().toLowerCase();
  if (SUCCESS.has(word)) return 'success';
  if (FAILED.has(word)) return 'failed';
  if (PENDING.has(word)) return 'pending';
  return 'other';
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

/** Status and reason of one record, v2 (`status_info`, either case) or v1 (flat `status`). */
export function recordStatus(record: BatchRecordV2 | BatchRecordV1): { status: string; reason?: string } {
  const raw = record as Record<string, unknown>;
  const info = asRecord(raw.status_info) ?? asRecord(raw.statusInfo);
  const status = str(info?.status) ?? str(raw.status) ?? 'pending';
  const reason =
    str(info?.message) ?? str(info?.reason) ?? str(info?.error) ?? str(raw.message) ?? str(raw.reason) ?? str(raw.failure_reason) ?? str(raw.error);
  return reason ? { status, reason } : { status };
}

/** A batch to check, with what an upload journal knows about it. */
export interface BatchTarget {
  batchId: string;
  /** Records sent in this batch (from a journal): until that many are visible, it is not final. */
  expectedRecords?: number;
  /** CSV lines of the batch (from a journal), for the table. */
  firstLine?: number;
  lastLine?: number;
}

export interface CountRow {
  status: string;
  outcome: RecordOutcome;
  reason: string | null;
  count: number;
}

export interface BatchSummary {
  batch_id: string;
  /** complete: every record in a final state; pending: not yet. */
  state: 'complete' | 'pending';
  records: number;
  success: number;
  failed: number;
  pending: number;
  other: number;
  counts: CountRow[];
  first_line?: number;
  last_line?: number;
}

export interface BatchResult {
  target: BatchTarget;
  summary: BatchSummary;
  /** The API's own answer: the v2 object, or the v1 bare array. */
  response: BatchStatusV2 | BatchRecordV1[];
}

export function summarise(target: BatchTarget, records: readonly (BatchRecordV2 | BatchRecordV1)[]): BatchSummary {
  const rows = new Map<string, CountRow>();
  const totals = { success: 0, failed: 0, pending: 0, other: 0 };
  for (const record of records) {
    const { status, reason } = recordStatus(record);
    const outcome = classifyStatus(status);
    totals[outcome] += 1;
    const shownReason = outcome === 'failed' || outcome === 'other' ? (reason ?? null) : null;
    const key = `${status.toLowerCase()}\u0000${shownReason ?? ''}`;
    const row = rows.get(key);
    if (row) row.count += 1;
    else rows.set(key, { status, outcome, reason: shownReason, count: 1 });
  }
  const order: Record<RecordOutcome, number> = { success: 0, failed: 1, other: 2, pending: 3 };
  const counts = [...rows.values()].sort(
    (a, b) => order[a.outcome] - order[b.outcome] || b.count - a.count || (a.reason ?? '').localeCompare(b.reason ?? ''),
  );
  const visibleEnough = target.expectedRecords === undefined || records.length >= target.expectedRecords;
  const complete = records.length > 0 && totals.pending === 0 && visibleEnough;
  const summary: BatchSummary = {
    batch_id: target.batchId,
    state: complete ? 'complete' : 'pending',
    records: records.length,
    ...totals,
    counts,
  };
  if (target.firstLine !== undefined) summary.first_line = target.firstLine;
  if (target.lastLine !== undefined) summary.last_line = target.lastLine;
  return summary;
}

export interface StatusOptions {
  api: 'v1' | 'v2';
  apiVersion: StatusApiVersion;
  wait: boolean;
  intervalMs: number;
  /** Overall limit of --wait. */
  waitTimeoutMs: number;
}

export const DEFAULT_INTERVAL_MS = 5000;
export const DEFAULT_WAIT_TIMEOUT_MS = 10 * 60 * 1000;
/** Status requests in flight at once when many batches are checked. */
const CONCURRENCY = 4;


/**
 * Flags → options. `--timeout` is the global per-request timeout (seconds); with --wait it also
 * bounds the whole wait (so `--wait --timeout 120` gives up after two minutes).
 */
export function parseStatusOptions(opts: Record<string, unknown>, globalTimeout: unknown): StatusOptions {
  const api = opts.api === undefined ? 'v2' : String(opts.api).trim().toLowerCase();
  if (api !== 'v1' && api !== 'v2') throw new UsageError(`--api must be v1 or v2 (got "${String(opts.api)}")`);
  const apiVersion = opts.apiVersion === undefined ? 'v2' : String(opts.apiVersion).trim().toLowerCase();
  if (apiVersion !== 'v2' && apiVersion !== 'v3') {
    throw new UsageError(`--api-version must be v2 or v3 (got "${String(opts.apiVersion)}")`);
  }
  if (api === 'v1' && opts.apiVersion !== undefined) {
    throw new UsageError('--api-version chooses the v2 status path (/v2 or /v3); it cannot be used with --api v1');
  }
  const wait = Boolean(opts.wait);
  if (!wait && opts.interval !== undefined) throw new UsageError('--interval only makes sense with --wait');
  if (!wait && opts.waitTimeout !== undefined) throw new UsageError('--wait-timeout only makes sense with --wait');
  return {
    api,
    apiVersion,
    wait,
    intervalMs: opts.interval === undefined ? DEFAULT_INTERVAL_MS : pollIntervalFlag(opts.interval, '--interval'),
    // --wait-timeout matches numbers and upload; --timeout (as the issue names it) also works.
    waitTimeoutMs:
      opts.waitTimeout !== undefined
        ? durationFlag(opts.waitTimeout, '--wait-timeout')
        : globalTimeout === undefined
          ? DEFAULT_WAIT_TIMEOUT_MS
          : durationFlag(globalTimeout, '--timeout'),
  };
}

/** Reads one batch's status through the API. */
export type StatusFetcher = (target: BatchTarget, signal: AbortSignal) => Promise<BatchResult>;

export function apiFetcher(ctx: CommandContext, options: StatusOptions): StatusFetcher {
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  return async (target, signal) => {
    if (options.api === 'v1') {
      const records = await getBatchStatusV1(client, account, target.batchId, { signal });
      return { target, summary: summarise(target, records), response: records };
    }
    const response = await getBatchStatusV2(client, account, target.batchId, { apiVersion: options.apiVersion, signal });
    return { target, summary: summarise(target, response.data), response };
  };
}

async function mapLimited<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  });
  await Promise.all(workers);
  return results;
}

export interface WaitHooks {
  now(): number;
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  progress?(done: number, total: number): void;
}

export const REAL_WAIT_HOOKS: WaitHooks = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};

export interface CheckOutcome {
  results: BatchResult[];
  /** --wait ran out of time with batches still pending. */
  timedOut: boolean;
  interrupted: boolean;
}

/**
 * Fetches every batch once; with `wait`, polls the pending ones every interval until all are
 * complete, the deadline passes, or `signal` aborts (Ctrl-C).
 */
export async function checkBatches(
  targets: readonly BatchTarget[],
  fetcher: StatusFetcher,
  options: Pick<StatusOptions, 'wait' | 'intervalMs' | 'waitTimeoutMs'>,
  signal: AbortSignal,
  hooks: WaitHooks = REAL_WAIT_HOOKS,
): Promise<CheckOutcome> {
  const deadline = hooks.now() + options.waitTimeoutMs;
  const results = new Map<string, BatchResult>();
  let pending = [...targets];
  for (;;) {
    const round = await mapLimited(pending, CONCURRENCY, (target) => fetcher(target, signal));
    for (const result of round) results.set(result.target.batchId, result);
    pending = round.filter((r) => r.summary.state === 'pending').map((r) => r.target);
    const ordered = targets.map((t) => results.get(t.batchId)!);
    hooks.progress?.(targets.length - pending.length, targets.length);
    if (!options.wait || pending.length === 0) return { results: ordered, timedOut: false, interrupted: false };
    if (signal.aborted) return { results: ordered, timedOut: false, interrupted: true };
    const remaining = deadline - hooks.now();
    if (remaining <= 0) return { results: ordered, timedOut: true, interrupted: false };
    await hooks.sleep(Math.min(options.intervalMs, remaining), signal);
    if (signal.aborted) return { results: ordered, timedOut: false, interrupted: true };
  }
}

/** Unique, non-empty batch ids from the arguments. */
export function targetsFromArgs(ids: readonly string[]): BatchTarget[] {
  const seen = new Set<string>();
  const targets: BatchTarget[] = [];
  for (const raw of ids) {
    const id = raw.trim();
    if (id === '') throw new UsageError('a batch id is empty');
    if (!seen.has(id)) {
      seen.add(id);
      targets.push({ batchId: id });
    }
  }
  return targets;
}

export function mergeTargets(...lists: BatchTarget[][]): BatchTarget[] {
  const byId = new Map<string, BatchTarget>();
  for (const list of lists) for (const t of list) byId.set(t.batchId, { ...byId.get(t.batchId), ...t });
  return [...byId.values()];
}

export interface Totals {
  batches: number;
  complete: number;
  records: number;
  success: number;
  failed: number;
  pending: number;
  other: number;
}

export function totals(results: readonly BatchResult[]): Totals {
  const t: Totals = { batches: results.length, complete: 0, records: 0, success: 0, failed: 0, pending: 0, other: 0 };
  for (const { summary } of results) {
    if (summary.state === 'complete') t.complete += 1;
    t.records += summary.records;
    t.success += summary.success;
    t.failed += summary.failed;
    t.pending += summary.pending;
    t.other += summary.other;
  }
  return t;
}

/** Runs the check with Ctrl-C handling; the command prints and decides the exit code. */
export async function runBatchStatus(
  ctx: CommandContext,
  targets: readonly BatchTarget[],
  options: StatusOptions,
): Promise<CheckOutcome> {
  const controller = new AbortController();
  const unsubscribe = onInterrupt(() => controller.abort());
  try {
    const fetcher = apiFetcher(ctx, options);
    const hooks: WaitHooks = {
      ...REAL_WAIT_HOOKS,
      progress: options.wait
        ? (done, total) => {
            if (ctx.output.showsProgress && done < total) ctx.output.info(`waiting: ${done} of ${total} batches complete`);
          }
        : undefined,
    };
    let outcome: CheckOutcome;
    try {
      outcome = await checkBatches(targets, fetcher, options, controller.signal, hooks);
    } catch (error) {
      if (controller.signal.aborted) throw new InterruptedError('interrupted while checking batch status');
      throw error;
    }
    return outcome;
  } finally {
    unsubscribe();
  }
}

export interface UploadBatches {
  /** Accepted batches with their ids, line ranges and record counts. */
  targets: BatchTarget[];
  /** The API the upload used (v1 journals are checked with the v1 status endpoint). */
  api: 'v1' | 'v2';
  /** Batches that cannot be checked: no batch id (uncertain, rejected, failed, abandoned, or accepted without id). */
  unchecked: { lines: string; state: string; records: number }[];
  journalPath: string;
}

/** The batches of an upload, from its journal (--journal FILE) or from the uploaded CSV (--upload FILE). */
export async function targetsFromUpload(
  ctx: CommandContext,
  source: { journal?: string; upload?: string },
): Promise<UploadBatches> {
  const { readJournal, journalForFile, lineRange, effectiveState } = await import('./upload/journal.js');
  let journal;
  if (source.journal !== undefined) {
    journal = readJournal(source.journal);
  } else {
    const file = source.upload!;
    try {
      journal = await journalForFile(ctx.settings.configDir, file, {
        baseUrl: ctx.settings.baseUrl,
        clientAccountId: ctx.credentials().clientAccountId,
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new UsageError(`no such file: ${file}`);
      throw error;
    }
    if (!journal) {
      throw new UsageError(`no upload journal for ${file} (its current content) with this account and base URL`, {
        hint: 'upload it first with `tcb call-reason upload FILE`, or pass --journal with the journal file',
      });
    }
  }
  const { header } = journal;
  const sameTarget =
    header.base_url.replace(/\/+$/, '') === ctx.settings.baseUrl.replace(/\/+$/, '') &&
    header.client_account_id === ctx.credentials().clientAccountId;
  if (!sameTarget) {
    throw new UsageError(
      `${journal.path} records an upload to account ${header.client_account_id} at ${header.base_url}, not the active profile's`,
      { hint: 'use the profile (or --base-url and credentials) the upload used' },
    );
  }
  const targets: BatchTarget[] = [];
  const unchecked: UploadBatches['unchecked'] = [];
  for (const batch of journal.batches) {
    if (batch.state === 'accepted' && batch.batch_id) {
      targets.push({ batchId: batch.batch_id, expectedRecords: batch.records, firstLine: batch.first_line, lastLine: batch.last_line });
    } else {
      unchecked.push({ lines: lineRange(batch), state: batch.state === 'accepted' ? 'accepted without batch id' : effectiveState(batch.state), records: batch.records });
    }
  }
  return { targets, api: header.api, unchecked, journalPath: journal.path };
}
