// The flow shared by `tcb numbers publish` and `tcb numbers delist` once the numbers are known:
// plan → send → buckets → wait → the error that sets the exit code. The command prompts and renders.
import type { NumbersAction, NumbersChangeResponse } from '../../api/numbers.js';
import type { CommandContext } from '../../context.js';
import { InterruptedError, PartialFailureError, WaitTimeoutError } from '../../errors.js';
import { onInterrupt } from '../../util/interrupt.js';
import { formatDuration } from '../../util/time.js';
import {
  assessOutcome,
  mergeResponses,
  planChange,
  resolveFeatureSet,
  sendChange,
  waitForSettle,
  type ChangePlan,
  type Outcome,
  type WaitResult,
} from './numbers.js';

export const VERB: Record<NumbersAction, { done: string; doing: string; title: string }> = {
  publish: { done: 'published', doing: 'publish', title: 'Publish' },
  delist: { done: 'delisted', doing: 'delist', title: 'Delist' },
};

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** formatDuration rounds to seconds; polling intervals are often shorter. */
export function shortDuration(ms: number): string {
  return ms < 1000 ? `${ms}ms` : formatDuration(ms);
}

/** Resolves the --feature-set value (id or name) and splits the numbers into requests. */
export async function planNumbersChange(
  ctx: CommandContext,
  action: NumbersAction,
  featureSet: string,
  numbers: string[],
): Promise<ChangePlan> {
  return planChange(action, await resolveFeatureSet(ctx, featureSet), numbers);
}

export interface ChangeOptions {
  /** --wait: poll until the accepted numbers show their new state. */
  wait?: { intervalMs: number; timeoutMs: number };
}

/** Progress for the command to report; called in this order. */
export interface ChangeHooks {
  sending?(index: number, total: number): void;
  /** Numbers the API ignored because an earlier list/delist is still processing them. */
  ignoredAsProcessing?(numbers: string[]): void;
  waiting?(count: number): void;
  polled?(settled: number, total: number): void;
}

export interface ChangeResult {
  plan: ChangePlan;
  responses: NumbersChangeResponse[];
  /** The responses as one (see mergeResponses). */
  merged: NumbersChangeResponse;
  outcome: Outcome;
  wait?: WaitResult;
  /** Set when a request failed after earlier ones were accepted: later requests were not sent. */
  stopped?: { sent: number; unsent: number };
  /** To throw once the result is shown: the failed request, a --wait timeout (exit 7) or a partial failure (exit 6). */
  error?: unknown;
}

/**
 * Sends the change and, with --wait, waits for it. Ctrl-C or SIGTERM never hides what the API
 * accepted: sending stops between requests (the one in flight finishes), waiting stops at once,
 * and the result is returned with an InterruptedError to print before exiting 130.
 */
export async function sendNumbersChange(
  ctx: CommandContext,
  plan: ChangePlan,
  options: ChangeOptions,
  hooks: ChangeHooks = {},
): Promise<ChangeResult> {
  const stop = new AbortController();
  const unsubscribe = onInterrupt(() => stop.abort(new InterruptedError('interrupted')));
  try {
    const result = await sendNumbersRequests(ctx, plan, hooks, stop.signal);
    return result.stopped ? result : await settleNumbersChange(ctx, result, options, hooks, stop.signal);
  } finally {
    unsubscribe();
  }
}

/**
 * The requests alone: their responses, merged and read. A request that fails before any was
 * accepted throws, and so does a stop before the first one; later, the result says where it stopped.
 */
export async function sendNumbersRequests(
  ctx: CommandContext,
  plan: ChangePlan,
  hooks: ChangeHooks = {},
  stop?: AbortSignal,
): Promise<ChangeResult> {
  const sent = await sendChange(ctx, plan, (index, total) => hooks.sending?.(index, total), () => stop?.aborted ?? false);
  if (sent.responses.length === 0) throw new InterruptedError('interrupted before anything was sent');
  const merged = mergeResponses(sent.responses);
  const outcome = assessOutcome(plan.action, merged);
  const result: ChangeResult = { plan, responses: sent.responses, merged, outcome };

  // A request that failed after accepted ones wins: nothing is waited for.
  if (sent.error) return { ...result, stopped: { sent: sent.sent, unsent: sent.unsent }, error: sent.error };
  if (sent.interrupted) {
    const error = new InterruptedError(
      `interrupted after ${plural(sent.responses.length, 'request')}: the API answered for ${plural(sent.sent, 'number')} (on stdout); ${plural(sent.unsent, 'number')} were not sent`,
      { hint: 'send the rest again; numbers already accepted land in existing_numbers', details: { sent: sent.sent, unsent: sent.unsent } },
    );
    return { ...result, stopped: { sent: sent.sent, unsent: sent.unsent }, error };
  }
  return result;
}

/** After the requests: warn about ignored numbers, --wait, and set the error that decides the exit code. */
export async function settleNumbersChange(
  ctx: CommandContext,
  sent: ChangeResult,
  options: ChangeOptions,
  hooks: ChangeHooks = {},
  stop?: AbortSignal,
): Promise<ChangeResult> {
  const { plan, outcome } = sent;
  const result: ChangeResult = { ...sent };
  if (outcome.processing.length > 0) hooks.ignoredAsProcessing?.(outcome.processing);
  if (options.wait && outcome.accepted.length > 0) {
    hooks.waiting?.(outcome.accepted.length);
    result.wait = await waitForSettle(ctx, plan.action, plan.featureSet.id, outcome.accepted, {
      intervalMs: options.wait.intervalMs,
      timeoutMs: options.wait.timeoutMs,
      onPoll: (settled, total) => hooks.polled?.(settled, total),
      signal: stop,
    });
  }
  result.error = waitInterrupted(plan, result.wait) ?? waitTimeout(result.wait) ?? partialFailure(plan, outcome, result.wait);
  return result;
}

/** Exit 130 after the API accepted the change: say so, and how far it had got. */
function waitInterrupted(plan: ChangePlan, wait: WaitResult | undefined): InterruptedError | undefined {
  if (!wait?.interrupted) return undefined;
  const accepted = wait.settled.length + wait.failed.length + wait.pending.length;
  return new InterruptedError(
    `interrupted while waiting: the API accepted ${plural(accepted, 'number')} (on stdout); ${wait.settled.length} ${wait.target} so far, ${wait.pending.length} still pending`,
    {
      hint: `the change goes on without tcb: \`tcb numbers list --feature-set ${plan.featureSet.id}\` shows where it stands`,
      details: { accepted, settled: wait.settled.length, pending: wait.pending.length, failed: wait.failed.length },
    },
  );
}

/** Exit 7: numbers still pending when --wait gave up. */
function waitTimeout(wait: WaitResult | undefined): WaitTimeoutError | undefined {
  if (!wait?.timedOut) return undefined;
  return new WaitTimeoutError(
    `${plural(wait.pending.length, 'number')} not yet ${wait.target} after ${shortDuration(wait.elapsed_ms)}; the change may still finish`,
    {
      hint: 'run `tcb numbers list --feature-set …` later, or raise --wait-timeout',
      details: { pending: wait.pending },
    },
  );
}

/** Exit 6: a failure bucket, an API status "failed", or a number that ended failed while waiting. */
function partialFailure(plan: ChangePlan, outcome: Outcome, wait: WaitResult | undefined): PartialFailureError | undefined {
  const parts = outcome.failed.map((bucket) => `${bucket.numbers.length} ${bucket.bucket}`);
  if (outcome.statusFailed) parts.push('status "failed"');
  if (wait && wait.failed.length > 0) parts.push(`${wait.failed.length} ended in a failed state`);
  if (parts.length === 0) return undefined;
  const notDone = outcome.failedCount + (wait?.failed.length ?? 0);
  return new PartialFailureError(
    `${notDone} of ${plan.numbers.length} numbers were not ${VERB[plan.action].done} (${parts.join(', ')}); the result is on stdout`,
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
