import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { InterruptedError, PartialFailureError, UsageError, WaitTimeoutError } from '../../errors.js';
import {
  mergeTargets,
  parseStatusOptions,
  targetsFromUpload,
  runBatchStatus,
  targetsFromArgs,
  totals,
  type BatchResult,
  type BatchTarget,
  type UploadBatches,
} from '../../services/call-reasons/batch-status.js';
import { formatDuration } from '../../util/time.js';

function lines(result: BatchResult): string {
  const { first_line: first, last_line: last } = result.summary;
  if (first === undefined) return '';
  return last === undefined || last === first ? String(first) : `${first}-${last}`;
}

function table(ctx: CommandContext, results: readonly BatchResult[]): string {
  const withLines = results.some((r) => r.summary.first_line !== undefined);
  const head = ['Batch', ...(withLines ? ['Lines'] : []), 'State', 'Status', 'Reason', 'Count'];
  const rows: unknown[][] = [];
  for (const result of results) {
    const { summary } = result;
    const state = summary.state === 'complete' ? ctx.output.color.green('complete') : ctx.output.color.yellow('pending');
    const counts = summary.counts.length > 0 ? summary.counts : [{ status: '(no records yet)', reason: null, count: 0, outcome: 'pending' as const }];
    counts.forEach((row, index) => {
      const status = row.outcome === 'failed' ? ctx.output.color.red(row.status) : row.status;
      rows.push([
        index === 0 ? summary.batch_id : '',
        ...(withLines ? [index === 0 ? lines(result) : ''] : []),
        index === 0 ? state : '',
        status,
        row.reason ?? '',
        row.count,
      ]);
    });
  }
  if (results.length > 1) {
    const t = totals(results);
    const parts = [`${t.success} success`, `${t.failed} failed`];
    if (t.other > 0) parts.push(`${t.other} other`);
    if (t.pending > 0) parts.push(`${t.pending} pending`);
    rows.push([
      ctx.output.color.bold(`Total (${t.batches} batches)`),
      ...(withLines ? [''] : []),
      `${t.complete}/${t.batches} complete`,
      parts.join(', '),
      '',
      t.records,
    ]);
  }
  return ctx.output.renderTable(head, rows);
}

async function print(ctx: CommandContext, results: readonly BatchResult[], api: 'v1' | 'v2'): Promise<void> {
  const format = ctx.output.format;
  if (format === 'table') {
    await ctx.output.writeStdout(`${table(ctx, results)}\n`);
    return;
  }
  if (format === 'csv') {
    const rows = results.flatMap((r) =>
      r.summary.counts.map((c) => ({
        batch_id: r.summary.batch_id,
        state: r.summary.state,
        status: c.status,
        reason: c.reason ?? '',
        count: c.count,
        first_line: r.summary.first_line ?? '',
        last_line: r.summary.last_line ?? '',
      })),
    );
    await ctx.output.list(rows, []);
    return;
  }
  // JSON and NDJSON: the API's own objects. v2: one status object per batch; v1: the records
  // (v1 answers a bare array per batch, and each record carries its batch_id).
  const objects: object[] =
    api === 'v1'
      ? results.flatMap((r) => r.response as object[])
      : results.map((r) => r.response as object);
  await ctx.output.list(objects, []);
}

export default async function batchStatus(ctx: CommandContext, { args, opts, command }: CommandInput): Promise<void> {
  const ids = (args[0] as string[] | undefined) ?? [];
  const options = parseStatusOptions(opts, command.optsWithGlobals().timeout);
  if (opts.journal !== undefined && opts.upload !== undefined) {
    throw new UsageError('--journal and --upload cannot be used together', { hint: 'pass one of them' });
  }
  let fromUpload: BatchTarget[] = [];
  let unchecked: UploadBatches['unchecked'] = [];
  if (opts.journal !== undefined || opts.upload !== undefined) {
    const upload = await targetsFromUpload(ctx, {
      journal: opts.journal as string | undefined,
      upload: opts.upload as string | undefined,
    });
    ctx.output.debug(`  journal ${upload.journalPath}: ${upload.targets.length} accepted batches`);
    if (opts.api === undefined) options.api = upload.api;
    else if (options.api !== upload.api) {
      throw new UsageError(`the upload used the ${upload.api} API; --api ${options.api} cannot check its batches`);
    }
    fromUpload = upload.targets;
    unchecked = upload.unchecked;
    for (const batch of unchecked) {
      ctx.output.warn(`lines ${batch.lines} (${batch.records} records) have no batch id to check: ${batch.state}`);
    }
  }
  const targets = mergeTargets(fromUpload, targetsFromArgs(ids));
  if (targets.length === 0) {
    if (opts.journal !== undefined || opts.upload !== undefined) {
      await print(ctx, [], options.api);
      throw new UsageError('the upload has no accepted batches to check', {
        hint: unchecked.length > 0 ? 'see `tcb call-reason upload --resume` for the batches that were not accepted' : undefined,
        details: { unchecked_batches: unchecked },
      });
    }
    throw new UsageError('give at least one batch id, or --journal FILE / --upload FILE', {
      hint: 'batch ids are printed by `tcb call-reason upload` and `tcb call-reason push --api v1`',
    });
  }

  const started = Date.now();
  const outcome = await runBatchStatus(ctx, targets, options);
  await print(ctx, outcome.results, options.api);

  const t = totals(outcome.results);
  if (outcome.interrupted) throw new InterruptedError(`interrupted: ${t.complete} of ${t.batches} batches complete`);
  if (outcome.timedOut) {
    const pending = outcome.results.filter((r) => r.summary.state === 'pending').map((r) => r.summary.batch_id);
    throw new WaitTimeoutError(
      `gave up waiting after ${formatDuration(Date.now() - started)}: ${pending.length} of ${t.batches} batches still pending`,
      {
        hint: 'run the same command again later, or raise --timeout (seconds) for a longer wait',
        details: { pending_batch_ids: pending, failed_records: t.failed },
      },
    );
  }
  if (t.failed > 0) {
    throw new PartialFailureError(`${t.failed} of ${t.records} records failed`, {
      hint: 'the table (or the JSON on stdout) shows each failure and its reason',
      details: { failed_records: t.failed, records: t.records, batches: t.batches },
    });
  }
  if (t.complete === t.batches) ctx.output.success(`${t.batches} batch${t.batches === 1 ? '' : 'es'} complete: ${t.success} of ${t.records} records succeeded`);
  else ctx.output.info(`${t.batches - t.complete} of ${t.batches} batches still pending; add --wait to poll until they finish`);
}
