// `tcb numbers sync`: make a feature set hold exactly the numbers of a desired list.
// Read the state (numbers-details) → plan (publish / delist / unchanged / elsewhere) → apply it through
// the publish/delist flow of change.ts. The command confirms and renders.
import type { FeatureSet } from '../../api/feature-sets.js';
import { fetchNumbersPage } from '../../api/numbers.js';
import { walkPages } from '../../api/pagination.js';
import type { CommandContext } from '../../context.js';
import { InterruptedError, PartialFailureError, UsageError, WaitTimeoutError } from '../../errors.js';
import { onInterrupt } from '../../util/interrupt.js';
import { allFeatureSets } from '../catalog/listing.js';
import {
  VERB,
  plural,
  sendNumbersRequests,
  settleNumbersChange,
  shortDuration,
  type ChangeHooks,
  type ChangeOptions,
  type ChangeResult,
} from './change.js';
import { matchFeatureSet, planChange, type FeatureSetRef } from './numbers.js';

/** Page size for reading numbers-details; the API documents no maximum. */
const READ_PAGE_LIMIT = 1000;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// ---------------------------------------------------------------------------------------------
// Reading the state

/**
 * Where a number is, or is going, by its numbers-details status. The API documents only
 * "listed" (and "pending" answers to changes), so this is tcb's reading: a status naming a
 * delist ("delisted", or one in progress such as "delisting") or a failure means the feature set
 * does not hold the number; anything else ("listed", "pending", unknown words) means it does or
 * soon will: a pending number counts where it is going.
 */
export function heldByStatus(status: unknown): boolean {
  const text = String(status ?? '').trim().toLowerCase();
  return !/delist|fail|reject|error/.test(text);
}

export interface ElsewhereNumber {
  phone_number: string;
  /** null when no single other feature set has that name. */
  feature_set_id: string | null;
  feature_set_name: string;
  status: string;
}

export interface SyncState {
  /** Numbers the feature set holds or is receiving → their status, in numbers-details order. */
  held: Map<string, string>;
  /** Numbers held by other feature sets, among the ones asked about. */
  elsewhere: Map<string, ElsewhereNumber>;
  /** Numbers numbers-details returned for this feature set that name another one: left alone. */
  foreign: number;
}

function phoneKey(value: unknown): string {
  return String(value ?? '').trim().replace(/^\+/, '');
}

function nameOf(value: unknown): string {
  return typeof value === 'string' ? value.trim() : '';
}

/** The numbers of one feature set, by the feature_set_id filter of numbers-details. */
async function readHeld(ctx: CommandContext, featureSet: FeatureSetRef): Promise<Pick<SyncState, 'held' | 'foreign'>> {
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  const held = new Map<string, string>();
  let foreign = 0;
  const pages = walkPages(
    (page) => fetchNumbersPage(client, account, { feature_set_id: featureSet.id, page, limit: READ_PAGE_LIMIT }),
    1,
    READ_PAGE_LIMIT,
  );
  for await (const page of pages) {
    for (const number of page) {
      const key = phoneKey(number.phone_number);
      if (!key) continue;
      // A server that ignored the filter must not make sync delist another feature set's numbers.
      const name = nameOf(number.feature_set_name);
      if (featureSet.name !== undefined && name !== '' && name !== featureSet.name.trim()) {
        foreign += 1;
        continue;
      }
      // Several rows for one number (history): any that holds it wins.
      const status = String(number.status ?? '');
      if (heldByStatus(status)) held.set(key, status);
    }
  }
  return { held, foreign };
}

/** Which of `wanted` another feature set holds: one walk over every number of the account. */
async function readElsewhere(
  ctx: CommandContext,
  featureSet: FeatureSetRef,
  sets: readonly FeatureSet[],
  wanted: ReadonlySet<string>,
): Promise<Map<string, ElsewhereNumber>> {
  const found = new Map<string, ElsewhereNumber>();
  if (wanted.size === 0) return found;
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  const pages = walkPages((page) => fetchNumbersPage(client, account, { page, limit: READ_PAGE_LIMIT }), 1, READ_PAGE_LIMIT);
  for await (const page of pages) {
    for (const number of page) {
      const key = phoneKey(number.phone_number);
      if (!wanted.has(key) || !heldByStatus(number.status)) continue;
      // Held, yet not by this feature set (the filtered read did not show it): another one,
      // possibly with the same name.
      const name = nameOf(number.feature_set_name);
      const candidates = sets.filter((set) => set.id !== featureSet.id && nameOf(set.name) === name);
      found.set(key, {
        phone_number: key,
        feature_set_id: candidates.length === 1 ? candidates[0]!.id : null,
        feature_set_name: name,
        status: String(number.status ?? ''),
      });
    }
  }
  return found;
}

/** The feature set by id or name; unlike publish, an id must exist: sync reads its numbers before changing any. */
export function findFeatureSet(value: string, sets: readonly FeatureSet[]): FeatureSetRef {
  const wanted = value.trim();
  if (wanted === '') throw new UsageError('--feature-set is empty; give a feature set id or name');
  if (UUID.test(wanted) && !sets.some((set) => set.id.toLowerCase() === wanted.toLowerCase())) {
    throw new UsageError(`no feature set has the id ${wanted}; nothing was sent`, {
      hint: 'run `tcb feature-sets list` to see ids and names',
    });
  }
  const byId = sets.find((set) => set.id.toLowerCase() === wanted.toLowerCase());
  return byId ? { id: byId.id, name: byId.name } : matchFeatureSet(wanted, sets);
}

// ---------------------------------------------------------------------------------------------
// The plan

export interface SyncPlan {
  featureSet: FeatureSetRef;
  /** Distinct desired numbers, and the repeats dropped from the file. */
  desiredCount: number;
  duplicates: number;
  /** Numbers the feature set holds or is receiving now. */
  currentCount: number;
  /** Desired, not held here nor elsewhere: to publish (desired order). */
  publish: string[];
  /** Held here, not desired: to delist (numbers-details order); empty with --no-delist. */
  delist: string[];
  /** Desired and held here (pending ones included). */
  unchanged: string[];
  /** Of the unchanged, those not yet "listed". */
  unchangedPending: number;
  /** Desired, held by another feature set: reported, never attempted. */
  elsewhere: ElsewhereNumber[];
  /** Held here, not desired, left alone because of --no-delist. */
  kept: string[];
  /** Numbers returned for this feature set that named another one: left alone. */
  foreign: number;
}

export interface SyncPlanOptions {
  /** false with --no-delist. */
  delist: boolean;
}

/** Pure: the plan from the desired numbers and the state read from the API. */
export function planSync(
  featureSet: FeatureSetRef,
  desired: readonly string[],
  duplicates: number,
  state: SyncState,
  options: SyncPlanOptions,
): SyncPlan {
  const wanted = new Set(desired);
  const publish: string[] = [];
  const unchanged: string[] = [];
  const elsewhere: ElsewhereNumber[] = [];
  let unchangedPending = 0;
  for (const number of desired) {
    const status = state.held.get(number);
    if (status !== undefined) {
      unchanged.push(number);
      if (status.trim().toLowerCase() !== 'listed') unchangedPending += 1;
    } else {
      const other = state.elsewhere.get(number);
      if (other) elsewhere.push(other);
      else publish.push(number);
    }
  }
  const notWanted = [...state.held.keys()].filter((number) => !wanted.has(number));
  return {
    featureSet,
    desiredCount: desired.length,
    duplicates,
    currentCount: state.held.size,
    publish,
    delist: options.delist ? notWanted : [],
    unchanged,
    unchangedPending,
    elsewhere,
    kept: options.delist ? [] : notWanted,
    foreign: state.foreign,
  };
}

/** Reads the feature sets and the numbers, and plans; sends no change. */
export async function readSyncPlan(
  ctx: CommandContext,
  featureSetValue: string,
  desired: { numbers: string[]; duplicates: number },
  options: SyncPlanOptions,
): Promise<SyncPlan> {
  const sets = await allFeatureSets(ctx);
  const featureSet = findFeatureSet(featureSetValue, sets);
  const { held, foreign } = await readHeld(ctx, featureSet);
  const notHeld = new Set(desired.numbers.filter((number) => !held.has(number)));
  const elsewhere = await readElsewhere(ctx, featureSet, sets, notHeld);
  return planSync(featureSet, desired.numbers, desired.duplicates, { held, elsewhere, foreign }, options);
}

export function hasChanges(plan: SyncPlan): boolean {
  return plan.publish.length > 0 || plan.delist.length > 0;
}

// ---------------------------------------------------------------------------------------------
// Applying it

export interface SyncHooks {
  sending?(action: 'publish' | 'delist', index: number, total: number): void;
  ignoredAsProcessing?(action: 'publish' | 'delist', numbers: string[]): void;
  waiting?(action: 'publish' | 'delist', count: number): void;
}

export interface SyncResult {
  plan: SyncPlan;
  publish?: ChangeResult;
  delist?: ChangeResult;
  /** To throw once the result is shown (the exit code); undefined when the feature set ends as desired. */
  error?: unknown;
}

function changeHooks(action: 'publish' | 'delist', hooks: SyncHooks): ChangeHooks {
  return {
    sending: (index, total) => hooks.sending?.(action, index, total),
    ignoredAsProcessing: (numbers) => hooks.ignoredAsProcessing?.(action, numbers),
    waiting: (count) => hooks.waiting?.(action, count),
  };
}

/**
 * Publishes first, then delists: if a run stops half-way, the feature set holds too many numbers
 * rather than too few. A request failing before any publish was accepted throws (nothing was
 * sent); any later failure is returned with what was done, and a publish that stopped part-way
 * leaves the delist unsent. --wait then watches both changes at once. Ctrl-C or SIGTERM stops
 * sending between requests and stops waiting, and what the API accepted is still returned.
 */
export async function applySync(ctx: CommandContext, plan: SyncPlan, options: ChangeOptions, hooks: SyncHooks = {}): Promise<SyncResult> {
  const stop = new AbortController();
  const unsubscribe = onInterrupt(() => stop.abort(new InterruptedError('interrupted')));
  try {
    const result: SyncResult = { plan };
    if (plan.publish.length > 0) {
      result.publish = await sendNumbersRequests(ctx, planChange('publish', plan.featureSet, plan.publish), changeHooks('publish', hooks), stop.signal);
      if (result.publish.stopped) return { ...result, error: result.publish.error };
    }
    if (plan.delist.length > 0) {
      try {
        result.delist = await sendNumbersRequests(ctx, planChange('delist', plan.featureSet, plan.delist), changeHooks('delist', hooks), stop.signal);
      } catch (error) {
        if (!result.publish) throw error;
        return { ...result, error };
      }
      if (result.delist.stopped) return { ...result, error: result.delist.error };
    }
    const [publish, delist] = await Promise.all([
      result.publish && settleNumbersChange(ctx, result.publish, options, changeHooks('publish', hooks), stop.signal),
      result.delist && settleNumbersChange(ctx, result.delist, options, changeHooks('delist', hooks), stop.signal),
    ]);
    const settled: SyncResult = { plan, publish, delist };
    settled.error = syncError(plan, [publish, delist]);
    return settled;
  } finally {
    unsubscribe();
  }
}

/** Exit 130 when interrupted while waiting, 7 when --wait gave up on either change, else 6 when anything of the plan was not applied. */
export function syncError(
  plan: SyncPlan,
  results: readonly (ChangeResult | undefined)[],
): InterruptedError | WaitTimeoutError | PartialFailureError | undefined {
  const changes = results.filter((result): result is ChangeResult => result !== undefined);
  const interrupted = changes.find((change) => change.error instanceof InterruptedError);
  if (interrupted) return interrupted.error as InterruptedError;
  const timedOut = changes.filter((change) => change.wait?.timedOut);
  if (timedOut.length > 0) {
    const pending = timedOut.map((change) => `${plural(change.wait!.pending.length, 'number')} not yet ${change.wait!.target}`);
    const elapsed = Math.max(...timedOut.map((change) => change.wait!.elapsed_ms));
    return new WaitTimeoutError(`${pending.join(' and ')} after ${shortDuration(elapsed)}; the changes may still finish`, {
      hint: 'run the same sync later (it sends only what is still missing), or raise --wait-timeout',
      details: Object.fromEntries(timedOut.map((change) => [`${change.plan.action}_pending`, change.wait!.pending])),
    });
  }
  const reasons: string[] = [];
  const details: Record<string, unknown> = {};
  if (plan.elsewhere.length > 0) {
    reasons.push(`${plural(plan.elsewhere.length, 'desired number')} ${plan.elsewhere.length === 1 ? 'is' : 'are'} listed in another feature set (not moved)`);
    details.elsewhere = plan.elsewhere.length;
  }
  for (const change of changes) {
    const action = change.plan.action;
    const afterWait = change.wait?.failed.length ?? 0;
    const notDone = change.outcome.failedCount + afterWait;
    if (notDone === 0 && !change.outcome.statusFailed) continue;
    const buckets = change.outcome.failed.map((bucket) => `${bucket.numbers.length} ${bucket.bucket}`);
    if (afterWait > 0) buckets.push(`${afterWait} ended in a failed state`);
    if (change.outcome.statusFailed) buckets.push('status "failed"');
    reasons.push(`${notDone} of ${change.plan.numbers.length} numbers not ${VERB[action].done} (${buckets.join(', ')})`);
    details[`${action}_failed`] = Object.fromEntries(change.outcome.failed.map((bucket) => [bucket.bucket, bucket.numbers.length]));
  }
  if (reasons.length === 0) return undefined;
  return new PartialFailureError(`the feature set does not hold exactly the desired numbers: ${reasons.join('; ')}; the result is on stdout`, {
    hint: 'see the output for each number; `tcb numbers list --feature-set …` shows the current state',
    details,
  });
}
