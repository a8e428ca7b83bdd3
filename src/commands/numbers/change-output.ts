// What `tcb numbers publish|delist` writes to stdout, in the four formats: the --dry-run plan and the result.
import type { CommandContext } from '../../context.js';
import { csvLines } from '../../output/csv.js';
import type { CollectedNumbers } from '../../services/numbers/input.js';
import { dryRunRequests, type ChangePlan, type FeatureSetRef, type WaitResult } from '../../services/numbers/numbers.js';
import { VERB, plural, shortDuration, type ChangeResult } from '../../services/numbers/change.js';

const SHOWN_PER_BUCKET = 5;

export function featureSetLabel(ref: FeatureSetRef): string {
  return ref.name ? `"${ref.name}" (${ref.id})` : ref.id;
}

export function shortList(numbers: readonly string[], shown = SHOWN_PER_BUCKET): string {
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

export async function printDryRun(ctx: CommandContext, plan: ChangePlan, collected: CollectedNumbers): Promise<void> {
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
// Result

export function waitJson(wait: WaitResult): Record<string, unknown> {
  return {
    target_status: wait.target,
    settled: wait.settled.map((entry) => entry.phone_number),
    failed: wait.failed,
    pending: wait.pending,
    timed_out: wait.timedOut,
    interrupted: wait.interrupted,
    polls: wait.polls,
    elapsed_ms: wait.elapsed_ms,
  };
}

export function finalStatus(wait: WaitResult | undefined): Map<string, string> {
  const result = new Map<string, string>();
  if (!wait) return result;
  for (const entry of wait.settled) result.set(entry.phone_number, entry.status ?? `not listed (${wait.target})`);
  for (const entry of wait.failed) result.set(entry.phone_number, entry.status ?? '');
  for (const entry of wait.pending) result.set(entry.phone_number, `still ${entry.status ?? 'not visible'}`);
  return result;
}

/** The readable result of one publish or delist: a row per non-empty bucket, the wait. */
export function renderHuman(ctx: CommandContext, { plan, merged, outcome, responses, wait }: ChangeResult): string {
  const c = ctx.output.color;
  const requestCount = responses.length;
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
    lines.push(`Waited ${shortDuration(wait.elapsed_ms)}${wait.interrupted ? ' (interrupted)' : ''}: ${parts.join(', ')}`);
    for (const entry of [...wait.failed, ...wait.pending].slice(0, 20)) {
      lines.push(`  ${entry.phone_number}: ${entry.status ?? 'not visible in numbers-details'}`);
    }
  }
  if (merged.request_count !== undefined && Array.isArray(merged.statuses)) {
    lines.push(`(${requestCount} requests of at most 10 000 numbers; statuses: ${(merged.statuses as string[]).join(', ')})`);
  }
  return `${lines.join('\n')}\n`;
}

export async function printResult(ctx: CommandContext, result: ChangeResult): Promise<void> {
  const { responses, merged, outcome, wait } = result;
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
      return out.writeStdout(renderHuman(ctx, result));
  }
}
