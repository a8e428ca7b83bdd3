import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { uploadProgressBar } from '../../ui/upload-progress.js';
import { UsageError } from '../../errors.js';
import { parseRateLimit } from '../../api/rate-limiter.js';
import { parsePositiveInt } from '../../services/catalog/listing.js';
import { DefaultFlagError, defaultsFromFlags } from '../../services/call-reasons/record.js';
import {
  MAX_BATCH_SIZE,
  runUpload,
  type UploadOptions,
  type UploadSummary,
} from '../../services/call-reasons/upload/upload.js';
import { durationFlag, pollIntervalFlag } from '../../util/flags.js';
import { formatDuration } from '../../util/time.js';

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}


/** Requests in flight (most of them waiting for their rate-limiter slot): enough to cover ~0.5 s of latency. */
export function concurrencyFor(rate: { limit: number; windowMs: number }): number {
  const perSecond = rate.limit / (rate.windowMs / 1000);
  return Math.max(3, Math.min(8, Math.ceil(perSecond / 2) + 2));
}

function human(ctx: CommandContext, s: UploadSummary): string {
  const c = ctx.output.color;
  const lines: string[] = [];
  if (s.dry_run) {
    lines.push(
      `${c.bold('Dry run')} of ${s.file}: ${s.rows} rows, ${s.valid} valid, ${s.invalid} invalid` +
        `${s.already_sent ? `, ${s.already_sent} already sent` : ''}; would send ${s.batches_planned} batch(es) of up to ${s.batch_size}. Nothing was sent.`,
    );
    if (s.skipped_invalid_file && s.invalid) lines.push(`Invalid rows written to ${s.skipped_invalid_file}`);
    return lines.join('\n');
  }
  const rate = s.requests_per_minute !== null ? `, ${s.requests_per_minute} requests/min, ${s.records_per_second} records/s` : '';
  lines.push(
    `${c.bold(s.outcome === 'complete' ? 'Uploaded' : 'Upload ' + s.outcome)} ${s.file}: ${s.records_sent} records in ${s.batches_sent} batch(es) this run` +
      ` in ${formatDuration(s.duration_ms)}${rate}`,
  );
  lines.push(
    `Accepted ${s.records_accepted} of ${s.valid + s.already_sent} valid records` +
      `${s.records_uncertain ? `, ${c.yellow(`${s.records_uncertain} uncertain`)}` : ''}` +
      `${s.records_unsent ? `, ${s.records_unsent} not sent` : ''}` +
      `${s.invalid ? `, ${s.invalid} invalid set aside in ${s.skipped_invalid_file}` : ''}`,
  );
  if (s.batches.length > 0 && s.batches.length <= 20) {
    lines.push(
      ctx.output.renderTable(
        ['Batch', 'Lines', 'Records', 'State', 'Batch id'],
        s.batches.map((b) => [b.seq, b.lines, b.records, b.state, b.batch_id ?? '']),
      ),
    );
  } else if (s.batches.length > 20) {
    lines.push(`${s.batches.length} batches; list them with --format json or tcb batch status --journal ${s.journal}`);
  }
  if (s.wait) {
    const statuses = Object.entries(s.wait.by_status).map(([k, v]) => `${v} ${k}`).join(', ');
    lines.push(`Final: ${statuses || 'no records'}`);
    for (const [reason, count] of Object.entries(s.wait.failures_by_reason)) lines.push(`  ${count} × ${reason}`);
    if (s.wait.report) lines.push(`Failed records written to ${s.wait.report}`);
  }
  if (s.journal) lines.push(c.dim(`Journal: ${s.journal}`));
  return lines.join('\n');
}

export default async function upload(ctx: CommandContext, { args, opts }: CommandInput): Promise<void> {
  const file = String(args[0]);
  const now = Date.now();
  let defaults;
  try {
    defaults = defaultsFromFlags(
      {
        labelId: str(opts.labelId),
        labelName: str(opts.labelName),
        reason: str(opts.reason),
        startsAt: str(opts.startsAt),
        endsAt: str(opts.endsAt),
        duration: str(opts.duration),
      },
      now,
    );
  } catch (error) {
    if (error instanceof DefaultFlagError) throw new UsageError(error.message, { field: error.flag });
    throw error;
  }
  const batchSize = parsePositiveInt(opts.batchSize, '--batch-size', MAX_BATCH_SIZE) ?? MAX_BATCH_SIZE;
  const api = str(opts.api) ?? 'v2';
  if (api !== 'v2' && api !== 'v1') throw new UsageError(`--api must be v2 or v1 (got "${api}")`);
  const endpoint = api === 'v2' ? 'cp-batch-v2' : 'cp-bulk-v1';
  let rate = api === 'v2' ? { limit: 60, windowMs: 60_000 } : { limit: 10, windowMs: 1000 };
  if (opts.rateLimit !== undefined) {
    try {
      rate = parseRateLimit(String(opts.rateLimit));
    } catch (error) {
      throw new UsageError(`--rate-limit: ${(error as Error).message}`);
    }
  }
  const resendUncertain = Boolean(opts.resendUncertain);
  const report = str(opts.report);
  const wait = Boolean(opts.wait) || report !== undefined;
  const dryRun = Boolean(opts.dryRun);
  if (dryRun && (wait || resendUncertain)) {
    throw new UsageError('--dry-run sends nothing: it cannot be combined with --wait, --report or --resend-uncertain');
  }
  const options: UploadOptions = {
    file,
    defaults,
    now,
    batchSize,
    api,
    dryRun,
    skipInvalid: str(opts.skipInvalid),
    resume: Boolean(opts.resume) || resendUncertain,
    resendUncertain,
    concurrency: concurrencyFor(rate),
    wait,
    waitIntervalMs: opts.interval !== undefined ? pollIntervalFlag(String(opts.interval), '--interval') : 2000,
    waitTimeoutMs: opts.waitTimeout !== undefined ? durationFlag(String(opts.waitTimeout), '--wait-timeout') : 30 * 60_000,
    report,
    force: Boolean(opts.force),
  };
  if (!dryRun) ctx.setRateLimit(endpoint, rate);

  const bar = await uploadProgressBar(ctx.output);
  let result;
  try {
    result = await runUpload(ctx, options, {
      progress: bar ? (p) => bar.update(p) : undefined,
      phaseEnd: bar ? (phase) => bar.end(phase) : undefined,
      note: (message) => ctx.output.info(message),
    });
  } finally {
    bar?.stop();
  }
  const { summary, error } = result;
  if (ctx.output.format === 'csv' && !summary.dry_run) {
    await ctx.output.list(
      summary.batches.map((b) => ({ ...b, error: b.error ?? '' })),
      [],
    );
  } else {
    await ctx.output.object(summary, (s) => human(ctx, s));
  }
  if (error) throw error;
}
