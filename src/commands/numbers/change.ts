// The flow shared by `tcb numbers publish` and `tcb numbers delist`:
// options → numbers → feature set → (dry run | confirm → send → buckets → wait) → output → exit code.
import type { NumbersAction, NumbersChangeResponse } from '../../api/numbers.js';
import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { PartialFailureError, UsageError, WaitTimeoutError } from '../../errors.js';
import { csvLines } from '../../output/csv.js';
import { allFeatureSets } from '../../services/listing.js';
import { collectNumbers, type CollectedNumbers } from '../../services/numbers-input.js';
import {
  assessOutcome,
  dryRunRequests,
  mergeResponses,
  planChange,
  resolveFeatureSet,
  sendChange,
  waitForSettle,
  type ChangePlan,
  type FeatureSetRef,
  type Outcome,
  type WaitResult,
} from '../../services/numbers.js';
import { durationFlag } from '../../util/flags.js';
import { formatDuration } from '../../util/time.js';

const VERB: Record<NumbersAction, { done: string; doing: string; title: string }> = {
  publish: { done: 'published', doing: 'publish', title: 'Publish' },
  delist: { done: 'delisted', doing: 'delist', title: 'Delist' },
};

const DEFAULT_INTERVAL = '5s';
const DEFAULT_WAIT_TIMEOUT = '10m';
const SHOWN_PER_BUCKET = 5;


interface ChangeOptions {
  featureSet: string;
  file?: string;
  dryRun: boolean;
  wait: boolean;
  intervalMs: number;
  waitTimeoutMs: number;
}

function parseOptions(opts: Record<string, unknown>): ChangeOptions {
  const featureSet = typeof opts.featureSet === 'string' ? opts.featureSet : '';
  if (featureSet.trim() === '') throw new UsageError('--feature-set is required: a feature set id or name');
  return {
    featureSet,
    file: typeof opts.file === 'string' ? opts.file : undefined,
    dryRun: Boolean(opts.dryRun),
    wait: Boolean(opts.wait),
    intervalMs: durationFlag(opts.interval ?? DEFAULT_INTERVAL, '--interval'),
    waitTimeoutMs: durationFlag(opts.waitTimeout ?? DEFAULT_WAIT_TIMEOUT, '--wait-timeout'),
  };
}

/** formatDuration rounds to seconds; polling intervals are often shorter. */
function shortDuration(ms: number): string {
  return ms < 1000 ? `${ms}ms` : formatDuration(ms);
}

function featureSetLabel(ref: FeatureSetRef): string {
  return ref.name ? `"${ref.name}" (${ref.id})` : ref.id;
}

function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

function shortList(numbers: readonly string[], shown = SHOWN_PER_BUCKET): string {
  if (numbers.length <= shown) return numbers.join(', ');
  return `${numbers.slice(0, shown).join(', ')} … +${numbers.length - shown} more`;
}

// ---------------------------------------------------------------------------------------------
// --dry-run

function accountIdOrPlaceholder(ctx: CommandContext): string {
  try {
    return ctx.credentials().clientAccountId;
  } catch {
    return '{clientAccountId}';
  }
}

async function printDryRun(ctx: CommandContext, plan: ChangePlan, collected: CollectedNumbers): Promise<void> {
  const requests = dryRunRequests(plan, accountIdOrPlaceholder(ctx));
  const out = ctx.output;
  switch (out.format) {
    case 'json':
      return out.writeStdout(
        `${JSON.stringify(
          {
            dry_run: true,
            action: plan.action,
            feature_set: { id: plan.featureSet.id, name: plan.featureSet.name ?? null },
            number_count: plan.numbers.length,
            duplicates_removed: collected.duplicates,
            requests,
          },
          null,
          2,
        )}\n`,
      );
    case 'ndjson':
      return out.writeStdout(requests.map((request) => `${JSON.stringify(request)}\n`).join(''));
    case 'csv':
      return out.writeStdout(
        csvLines(
          plan.chunks.flatMap((numbers, index) => numbers.map((phone_number) => ({ request: index + 1, phone_number }))),
          ['request', 'phone_number'],
          true,
        ),
      );
    case 'table': {
      const lines = [
        `Dry run: would ${VERB[plan.action].doing} ${plural(plan.numbers.length, 'number')} ${plan.action === 'publish' ? 'to' : 'from'} feature set ${featureSetLabel(plan.featureSet)} in ${plural(requests.length, 'request')}. Nothing was sent.`,
      ];
      if (collected.duplicates > 0) lines.push(`(${plural(collected.duplicates, 'duplicate')} removed)`);
      for (const [index, request] of requests.entries()) {
        lines.push(`  ${request.method} ${request.path}  [request ${index + 1}: ${plural(request.body.phone_numbers.length, 'number')}]`);
        lines.push(`    ${shortList(request.body.phone_numbers, 20)}`);
      }
      return out.writeStdout(`${lines.join('\n')}\n`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Result output

function waitJson(wait: WaitResult): Record<string, unknown> {
  return {
    target_status: wait.target,
    settled: wait.settled.map((entry) => entry.phone_number),
    failed: wait.failed,
    pending: wait.pending,
    timed_out: wait.timedOut,
    polls: wait.polls,
    elapsed_ms: wait.elapsed_ms,
  };
}

function finalStatus(wait: WaitResult | undefined): Map<string, string> {
  const result = new Map<string, string>();
  if (!wait) return result;
  for (const entry of wait.settled) result.set(entry.phone_number, entry.status ?? `not listed (${wait.target})`);
  for (const entry of wait.failed) result.set(entry.phone_number, entry.status ?? '');
  for (const entry of wait.pending) result.set(entry.phone_number, `still ${entry.status ?? 'not visible'}`);
  return result;
}

function renderHuman(
  ctx: CommandContext,
  plan: ChangePlan,
  merged: NumbersChangeResponse,
  outcome: Outcome,
  requestCount: number,
  wait: WaitResult | undefined,
): string {
  const c = ctx.output.color;
  const lines: string[] = [];
  lines.push(
    `${VERB[plan.action].title} ${plan.action === 'publish' ? 'to' : 'from'} feature set ${featureSetLabel(plan.featureSet)}: ${plural(plan.numbers.length, 'number')} sent in ${plural(requestCount, 'request')}, status ${outcome.status ?? 'unknown'}`,
  );
  const rows = outcome.buckets
    .filter((bucket) => bucket.numbers.length > 0)
    .map((bucket) => [
      bucket.ok ? c.green(`✓ ${bucket.bucket}`) : c.red(`✗ ${bucket.bucket}`),
      bucket.meaning,
      bucket.numbers.length,
      shortList(bucket.numbers),
    ]);
  if (rows.length > 0) lines.push(ctx.output.renderTable(['Bucket', 'What it means', 'Count', 'Numbers'], rows));
  else lines.push('The API put no number in any bucket.');
  const accepted = outcome.accepted.length;
  let summary = `${plural(accepted, 'number')} accepted`;
  if (outcome.failedCount > 0) summary += `, ${c.red(`${outcome.failedCount} not ${VERB[plan.action].done}`)}`;
  if (outcome.statusFailed) summary += `, ${c.red(`the API answered status "failed"`)}`;
  lines.push(summary);
  if (wait) {
    const parts = [`${plural(wait.settled.length, 'number')} ${wait.target}`];
    if (wait.failed.length > 0) parts.push(c.red(`${wait.failed.length} failed`));
    if (wait.pending.length > 0) parts.push(c.yellow(`${wait.pending.length} still pending`));
    lines.push(`Waited ${shortDuration(wait.elapsed_ms)}: ${parts.join(', ')}`);
    for (const entry of [...wait.failed, ...wait.pending].slice(0, 20)) {
      lines.push(`  ${entry.phone_number}: ${entry.status ?? 'not visible in numbers-details'}`);
    }
  }
  if (merged.request_count !== undefined && Array.isArray(merged.statuses)) {
    lines.push(`(${requestCount} requests of at most 10 000 numbers; statuses: ${(merged.statuses as string[]).join(', ')})`);
  }
  return `${lines.join('\n')}\n`;
}

async function printResult(
  ctx: CommandContext,
  plan: ChangePlan,
  responses: NumbersChangeResponse[],
  merged: NumbersChangeResponse,
  outcome: Outcome,
  wait: WaitResult | undefined,
): Promise<void> {
  const out = ctx.output;
  switch (out.format) {
    case 'json': {
      const value = wait ? { ...merged, wait: waitJson(wait) } : merged;
      return out.writeStdout(`${JSON.stringify(value, null, 2)}\n`);
    }
    case 'ndjson': {
      let text = responses.map((response) => `${JSON.stringify(response)}\n`).join('');
      if (wait) text += `${JSON.stringify({ wait: waitJson(wait) })}\n`;
      return out.writeStdout(text);
    }
    case 'csv': {
      const statuses = finalStatus(wait);
      const rows = outcome.buckets.flatMap((bucket) =>
        bucket.numbers.map((phone_number) => ({
          phone_number,
          bucket: bucket.bucket,
          accepted: bucket.ok,
          ...(wait ? { final_status: statuses.get(phone_number) ?? '' } : {}),
        })),
      );
      const columns = ['phone_number', 'bucket', 'accepted', ...(wait ? ['final_status'] : [])];
      return out.writeStdout(csvLines(rows, columns, true));
    }
    case 'table':
      return out.writeStdout(renderHuman(ctx, plan, merged, outcome, responses.length, wait));
  }
}

// ---------------------------------------------------------------------------------------------

async function confirmDelist(ctx: CommandContext, plan: ChangePlan): Promise<void> {
  if (ctx.settings.yes) return;
  let ref = plan.featureSet;
  if (!ref.name) {
    // Name the feature set in the question when it was given by id (best effort).
    try {
      const found = (await allFeatureSets(ctx)).find((set) => set.id === ref.id);
      if (found) ref = { id: ref.id, name: found.name };
    } catch {
      // the id alone names it well enough
    }
  }
  const ok = await ctx.prompts.confirm(
    `Delist ${plural(plan.numbers.length, 'number')} from feature set ${featureSetLabel(ref)}?`,
    false,
  );
  if (!ok) throw new UsageError('delist cancelled; nothing was sent');
}

function partialFailure(action: NumbersAction, total: number, outcome: Outcome, wait: WaitResult | undefined): PartialFailureError | undefined {
  const parts = outcome.failed.map((bucket) => `${bucket.numbers.length} ${bucket.bucket}`);
  if (outcome.statusFailed) parts.push('status "failed"');
  if (wait && wait.failed.length > 0) parts.push(`${wait.failed.length} ended in a failed state`);
  if (parts.length === 0) return undefined;
  const notDone = outcome.failedCount + (wait?.failed.length ?? 0);
  return new PartialFailureError(
    `${notDone} of ${total} numbers were not ${VERB[action].done} (${parts.join(', ')}); the result is on stdout`,
    {
      hint: 'see the buckets in the output; `tcb numbers list` shows the current state',
      details: {
        failed: Object.fromEntries(outcome.failed.map((bucket) => [bucket.bucket, bucket.numbers.length])),
        ...(outcome.statusFailed ? { status: 'failed' } : {}),
        ...(wait && wait.failed.length > 0 ? { failed_after_wait: wait.failed } : {}),
      },
    },
  );
}

export async function runChange(ctx: CommandContext, action: NumbersAction, { args, opts }: CommandInput): Promise<void> {
  const options = parseOptions(opts);
  const positional = Array.isArray(args[0]) ? (args[0] as unknown[]).map(String) : [];
  const collected = await collectNumbers({ args: positional, file: options.file });

  // Destructive work without a TTY needs --yes: fail before any request (token, lookups) is made.
  if (action === 'delist' && !options.dryRun && !ctx.settings.yes && !ctx.settings.interactive) {
    throw new UsageError(
      `delist is destructive and there is no terminal to confirm it; nothing was sent. Pass --yes to delist ${plural(collected.numbers.length, 'number')}`,
      { hint: 'pass --yes (or try --dry-run first)' },
    );
  }

  const featureSet = await resolveFeatureSet(ctx, options.featureSet);
  const plan = planChange(action, featureSet, collected.numbers);
  if (collected.duplicates > 0) ctx.output.info(`${plural(collected.duplicates, 'duplicate')} removed; each number is sent once`);

  if (options.dryRun) {
    await printDryRun(ctx, plan, collected);
    return;
  }
  if (action === 'delist') await confirmDelist(ctx, plan);

  const sent = await sendChange(ctx, plan, (index, total) => {
    if (total > 1) ctx.output.info(`Sending request ${index + 1} of ${total} (at most 10 000 numbers each)…`);
  });
  const merged = mergeResponses(sent.responses);
  const outcome = assessOutcome(action, merged);

  if (sent.error) {
    // Earlier requests were accepted: show them, then fail with the error that stopped the rest.
    await printResult(ctx, plan, sent.responses, merged, outcome, undefined);
    ctx.output.warn(`${plural(sent.responses.length, 'request')} accepted (${sent.sent} numbers); ${sent.unsent} numbers were not sent`);
    throw sent.error;
  }

  if (outcome.processing.length > 0) {
    ctx.output.warn(
      `${plural(outcome.processing.length, 'number')} still being processed by an earlier list/delist; the API ignored ${outcome.processing.length === 1 ? 'it' : 'them'} this time. Run again once it has finished (numbers list shows the state; --wait waits for a change to finish).`,
    );
  }

  let wait: WaitResult | undefined;
  if (options.wait && outcome.accepted.length > 0) {
    ctx.output.info(`Waiting for ${plural(outcome.accepted.length, 'number')} to be ${VERB[action].done} (every ${shortDuration(options.intervalMs)}, up to ${shortDuration(options.waitTimeoutMs)})…`);
    wait = await waitForSettle(ctx, action, featureSet.id, outcome.accepted, {
      intervalMs: options.intervalMs,
      timeoutMs: options.waitTimeoutMs,
      onPoll: (settled, total) => ctx.output.debug(`  wait: ${settled} of ${total} settled`),
    });
  }

  await printResult(ctx, plan, sent.responses, merged, outcome, wait);

  if (wait?.timedOut) {
    throw new WaitTimeoutError(
      `${plural(wait.pending.length, 'number')} not yet ${wait.target} after ${shortDuration(wait.elapsed_ms)}; the change may still finish`,
      {
        hint: 'run `tcb numbers list --feature-set …` later, or raise --wait-timeout',
        details: { pending: wait.pending },
      },
    );
  }
  const failure = partialFailure(action, plan.numbers.length, outcome, wait);
  if (failure) throw failure;
  if (ctx.output.format === 'table') return;
  ctx.output.success(`${plural(outcome.accepted.length, 'number')} ${VERB[action].done}`);
}
