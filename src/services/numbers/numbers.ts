import { setTimeout as sleepMs } from 'node:timers/promises';
import type { FeatureSet } from '../../api/feature-sets.js';
import {
  ACTION_ENDPOINT,
  BUCKETS,
  MAX_NUMBERS_PER_REQUEST,
  changeNumbers,
  fetchNumbersPage,
  numbersChangePath,
  type Bucket,
  type NumberDetails,
  type NumbersAction,
  type NumbersChangeResponse,
} from '../../api/numbers.js';
import { walkPages, type PageQuery } from '../../api/pagination.js';
import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { allFeatureSets, type ListOptions } from '../catalog/listing.js';

export const NUMBER_FILTERS = {
  departmentId: 'department_id',
  operationId: 'operation_id',
  processId: 'process_id',
};

// ---------------------------------------------------------------------------------------------
// Feature set by id or name

export interface FeatureSetRef {
  id: string;
  /** Known when the value was resolved through feature-sets-get. */
  name?: string;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function describeCandidate(set: FeatureSet): string {
  const where = [set.department_name, set.process_name].filter(Boolean).join(' / ');
  return `  ${set.id}  ${set.name}${where ? `  (${where})` : ''}`;
}

/** Picks the feature set a --feature-set value names, from the account's feature sets. */
export function matchFeatureSet(value: string, sets: readonly FeatureSet[]): FeatureSetRef {
  const wanted = value.trim();
  const byId = sets.find((set) => set.id === wanted);
  if (byId) return { id: byId.id, name: byId.name };
  let matches = sets.filter((set) => set.name === wanted);
  if (matches.length === 0) matches = sets.filter((set) => set.name?.trim().toLowerCase() === wanted.toLowerCase());
  if (matches.length === 1) return { id: matches[0]!.id, name: matches[0]!.name };
  if (matches.length > 1) {
    throw new UsageError(
      `--feature-set "${wanted}" matches ${matches.length} feature sets; nothing was sent. Use one of their ids:\n${matches.map(describeCandidate).join('\n')}`,
      {
        hint: 'pass the feature set id instead of its name',
        details: { candidates: matches.map((set) => ({ id: set.id, name: set.name, department_name: set.department_name })) },
      },
    );
  }
  const shown = sets.slice(0, 30);
  throw new UsageError(
    `no feature set is called "${wanted}"; nothing was sent.${sets.length ? ` Feature sets of this account:\n${shown.map(describeCandidate).join('\n')}${sets.length > shown.length ? `\n  … and ${sets.length - shown.length} more` : ''}` : ' This account has no feature sets.'}`,
    {
      hint: 'run `tcb feature-sets list` to see ids and names',
      details: { candidates: sets.map((set) => ({ id: set.id, name: set.name, department_name: set.department_name })) },
    },
  );
}

/** A UUID is taken as an id as it is; anything else is looked up by id, then by name. */
export async function resolveFeatureSet(ctx: CommandContext, value: string): Promise<FeatureSetRef> {
  const wanted = value.trim();
  if (wanted === '') throw new UsageError('--feature-set is empty; give a feature set id or name');
  if (UUID.test(wanted)) return { id: wanted };
  return matchFeatureSet(wanted, await allFeatureSets(ctx));
}

/** Fills in the name of a feature set given by id, best effort: on any failure the id alone names it. */
export async function withFeatureSetName(ctx: CommandContext, ref: FeatureSetRef): Promise<FeatureSetRef> {
  if (ref.name) return ref;
  try {
    const found = (await allFeatureSets(ctx)).find((set) => set.id === ref.id);
    if (found) return { id: ref.id, name: found.name };
  } catch {
    // keep the id
  }
  return ref;
}

// ---------------------------------------------------------------------------------------------
// numbers list

export interface NumberListOptions extends ListOptions {
  featureSetId?: string;
}

async function* numberPages(ctx: CommandContext, options: NumberListOptions): AsyncGenerator<NumberDetails[]> {
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  const query = (page: number): PageQuery => ({
    ...options.filters,
    feature_set_id: options.featureSetId,
    page,
    limit: options.limit,
  });
  if (!options.all) {
    yield (await fetchNumbersPage(client, account, query(options.page))).items;
    return;
  }
  yield* walkPages((page) => fetchNumbersPage(client, account, query(page)), options.page, options.limit);
}

export function listNumbers(ctx: CommandContext, options: NumberListOptions): AsyncGenerator<NumberDetails[]> {
  return numberPages(ctx, options);
}

// ---------------------------------------------------------------------------------------------
// publish / delist

export interface ChangePlan {
  action: NumbersAction;
  featureSet: FeatureSetRef;
  numbers: string[];
  /** At most MAX_NUMBERS_PER_REQUEST numbers each, in input order. */
  chunks: string[][];
}

export function chunk<T>(items: readonly T[], size: number): T[][] {
  const chunks: T[][] = [];
  for (let start = 0; start < items.length; start += size) chunks.push(items.slice(start, start + size));
  return chunks;
}

export function planChange(
  action: NumbersAction,
  featureSet: FeatureSetRef,
  numbers: string[],
  perRequest = MAX_NUMBERS_PER_REQUEST,
): ChangePlan {
  return { action, featureSet, numbers, chunks: chunk(numbers, perRequest) };
}

/** What --dry-run prints: the requests that would be sent, nothing more. */
export interface DryRunRequest {
  endpoint: string;
  method: 'POST';
  path: string;
  body: { phone_numbers: string[] };
}

export function dryRunRequests(plan: ChangePlan, accountId: string): DryRunRequest[] {
  return plan.chunks.map((numbers) => ({
    endpoint: ACTION_ENDPOINT[plan.action],
    method: 'POST',
    path: numbersChangePath(accountId, plan.featureSet.id, plan.action),
    body: { phone_numbers: numbers },
  }));
}

/**
 * One response as it is; several (more than 10 000 numbers) merged into one object of the same
 * shape: bucket arrays concatenated in request order, other fields from the first response,
 * `status` the common value or "mixed", plus `request_count` and the per-request `statuses`.
 */
export function mergeResponses(responses: readonly NumbersChangeResponse[]): NumbersChangeResponse {
  if (responses.length === 1) return responses[0]!;
  const merged: Record<string, unknown> = {};
  for (const response of responses) {
    for (const [key, value] of Object.entries(response)) {
      if (Array.isArray(value)) {
        const previous = merged[key];
        merged[key] = Array.isArray(previous) ? [...previous, ...value] : [...value];
      } else if (!(key in merged)) {
        merged[key] = value;
      }
    }
  }
  const statuses = responses.map((response) => (typeof response.status === 'string' ? response.status : ''));
  merged.status = statuses.every((status) => status === statuses[0]) ? statuses[0] : 'mixed';
  merged.request_count = responses.length;
  merged.statuses = statuses;
  return merged as NumbersChangeResponse;
}

export interface SendResult {
  responses: NumbersChangeResponse[];
  /** Numbers sent in requests the API answered. */
  sent: number;
  /** Set when a request failed after earlier ones were accepted; later chunks were not sent. */
  error?: unknown;
  unsent: number;
  /** Stopped by Ctrl-C/SIGTERM between requests (the one in flight was let finish). */
  interrupted?: boolean;
}

/** Sends the chunks one after the other; stops at the first failure, or between chunks when asked. */
export async function sendChange(
  ctx: CommandContext,
  plan: ChangePlan,
  onRequest?: (index: number, total: number) => void,
  shouldStop: () => boolean = () => false,
): Promise<SendResult> {
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  const responses: NumbersChangeResponse[] = [];
  let sent = 0;
  for (const [index, numbers] of plan.chunks.entries()) {
    if (shouldStop()) return { responses, sent, unsent: plan.numbers.length - sent, interrupted: true };
    onRequest?.(index, plan.chunks.length);
    try {
      responses.push(await changeNumbers(client, account, plan.featureSet.id, plan.action, numbers));
    } catch (error) {
      if (responses.length === 0) throw error;
      return { responses, sent, error, unsent: plan.numbers.length - sent };
    }
    sent += numbers.length;
  }
  return { responses, sent, unsent: 0 };
}

// ---------------------------------------------------------------------------------------------
// Reading the buckets (api/README.md §5.3 gives no definitions: this is tcb's reading)

export interface BucketReading {
  /** Did the numbers in it go where they were asked to? */
  ok: boolean;
  meaning: string;
}

export const BUCKET_READING: Record<NumbersAction, Partial<Record<Bucket, BucketReading>>> = {
  publish: {
    new_numbers: { ok: true, meaning: 'new to the account: being listed (asynchronous)' },
    existing_numbers: { ok: true, meaning: 'already in this feature set: nothing to do' },
    migrated_numbers: { ok: true, meaning: 'moved here from another feature set' },
    delisted_numbers: { ok: true, meaning: 'delisted earlier: being listed again' },
    updated_numbers: { ok: true, meaning: 'already on the account: details updated' },
    processing_numbers: { ok: false, meaning: 'an earlier list/delist is still processing: ignored' },
    invalid_numbers: { ok: false, meaning: 'rejected by the API as not a valid number' },
    other_feature_set_numbers: { ok: false, meaning: 'listed in another feature set of the account: not moved' },
    other_phonetype_numbers: { ok: false, meaning: 'registered with another phone type: not listed' },
    others_numbers: { ok: false, meaning: 'owned by another account or unavailable: not listed' },
  },
  delist: {
    existing_numbers: { ok: true, meaning: 'listed in this feature set: being delisted (asynchronous)' },
    new_numbers: { ok: false, meaning: 'not listed on the account: nothing to delist' },
    processing_numbers: { ok: false, meaning: 'an earlier list/delist is still processing: ignored' },
    invalid_numbers: { ok: false, meaning: 'rejected by the API as not a valid number' },
    other_feature_set_numbers: { ok: false, meaning: 'listed in another feature set: not delisted' },
    other_phonetype_numbers: { ok: false, meaning: 'registered with another phone type: not delisted' },
    others_numbers: { ok: false, meaning: 'owned by another account or unavailable: not delisted' },
    // Not in the documented delist response; read like publish if a server sends them.
    migrated_numbers: { ok: true, meaning: 'moved between feature sets' },
    delisted_numbers: { ok: true, meaning: 'delisted' },
    updated_numbers: { ok: true, meaning: 'details updated' },
  },
};

export interface BucketSummary {
  bucket: Bucket;
  ok: boolean;
  meaning: string;
  numbers: string[];
}

export interface Outcome {
  buckets: BucketSummary[];
  /** Numbers that went where they were asked to: the ones --wait watches. */
  accepted: string[];
  failed: BucketSummary[];
  failedCount: number;
  processing: string[];
  status: string | undefined;
  /** True when the API said status "failed" (for any request). */
  statusFailed: boolean;
  /** Exit 6? */
  partial: boolean;
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

export function assessOutcome(action: NumbersAction, response: NumbersChangeResponse): Outcome {
  const buckets: BucketSummary[] = [];
  for (const bucket of BUCKETS) {
    const numbers = stringArray(response[bucket]);
    const reading = BUCKET_READING[action][bucket]!;
    buckets.push({ bucket, ok: reading.ok, meaning: reading.meaning, numbers });
  }
  const accepted = buckets.filter((b) => b.ok).flatMap((b) => b.numbers);
  const failed = buckets.filter((b) => !b.ok && b.numbers.length > 0);
  const statuses = Array.isArray(response.statuses) ? stringArray(response.statuses) : [String(response.status ?? '')];
  const statusFailed = statuses.some((status) => status.toLowerCase() === 'failed');
  const failedCount = failed.reduce((sum, b) => sum + b.numbers.length, 0);
  return {
    buckets,
    accepted,
    failed,
    failedCount,
    processing: stringArray(response.processing_numbers),
    status: typeof response.status === 'string' ? response.status : undefined,
    statusFailed,
    partial: failedCount > 0 || statusFailed,
  };
}

// ---------------------------------------------------------------------------------------------
// --wait: poll numbers-details until each accepted number shows its new state

export interface WaitOptions {
  intervalMs: number;
  timeoutMs: number;
  /** Injected by unit tests. */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  onPoll?: (settled: number, total: number) => void;
  /** Ctrl-C/SIGTERM: stop waiting and report what was seen so far. */
  signal?: AbortSignal;
}

export interface WaitEntry {
  phone_number: string;
  /** Last status seen in numbers-details; null when the number was not there. */
  status: string | null;
}

export interface WaitResult {
  target: 'listed' | 'delisted';
  settled: WaitEntry[];
  failed: WaitEntry[];
  pending: WaitEntry[];
  timedOut: boolean;
  /** Stopped by Ctrl-C/SIGTERM: the states are those of the last complete poll. */
  interrupted: boolean;
  polls: number;
  elapsed_ms: number;
}

const FAILED_STATUS = /fail|reject|error/i;

/**
 * Where one number stands. Publish: "listed" is done; a failure status is final; anything else
 * (absent, pending, or still "delisted" while the change propagates) keeps waiting. Delist:
 * gone from the feature set or "delisted" is done.
 */
export function judge(action: NumbersAction, status: string | null): 'settled' | 'failed' | 'pending' {
  if (status !== null && FAILED_STATUS.test(status)) return 'failed';
  if (action === 'publish') return status?.toLowerCase() === 'listed' ? 'settled' : 'pending';
  return status === null || status.toLowerCase() === 'delisted' ? 'settled' : 'pending';
}

async function snapshot(ctx: CommandContext, featureSetId: string, signal?: AbortSignal): Promise<Map<string, string>> {
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  const seen = new Map<string, string>();
  const limit = 1000;
  const pages = walkPages(
    (page) => fetchNumbersPage(client, account, { feature_set_id: featureSetId, page, limit }, signal),
    1,
    limit,
  );
  for await (const page of pages) {
    for (const number of page) {
      const key = String(number.phone_number ?? '').replace(/^\+/, '');
      if (key) seen.set(key, String(number.status ?? ''));
    }
  }
  return seen;
}

export async function waitForSettle(
  ctx: CommandContext,
  action: NumbersAction,
  featureSetId: string,
  numbers: readonly string[],
  options: WaitOptions,
): Promise<WaitResult> {
  const now = options.now ?? Date.now;
  const signal = options.signal;
  const sleep = options.sleep ?? ((ms: number) => sleepMs(ms, undefined, { signal }).then(() => undefined));
  const started = now();
  const deadline = started + options.timeoutMs;
  const target = action === 'publish' ? 'listed' : 'delisted';
  let open = new Map<string, string | null>(numbers.map((n) => [n, null]));
  const settled: WaitEntry[] = [];
  const failed: WaitEntry[] = [];
  let polls = 0;
  let interrupted = false;
  while (open.size > 0) {
    let states: Map<string, string>;
    try {
      if (signal?.aborted) throw signal.reason;
      states = await snapshot(ctx, featureSetId, signal);
    } catch (error) {
      if (!signal?.aborted) throw error;
      interrupted = true;
      break;
    }
    polls += 1;
    const stillOpen = new Map<string, string | null>();
    for (const number of open.keys()) {
      const status = states.get(number) ?? null;
      const verdict = judge(action, status);
      if (verdict === 'settled') settled.push({ phone_number: number, status });
      else if (verdict === 'failed') failed.push({ phone_number: number, status });
      else stillOpen.set(number, status);
    }
    open = stillOpen;
    options.onPoll?.(numbers.length - open.size, numbers.length);
    if (open.size === 0) break;
    const remaining = deadline - now();
    if (remaining <= 0) break;
    try {
      await sleep(Math.min(options.intervalMs, remaining));
    } catch (error) {
      if (!signal?.aborted) throw error;
      interrupted = true;
      break;
    }
  }
  return {
    target,
    settled,
    failed,
    pending: [...open].map(([phone_number, status]) => ({ phone_number, status })),
    timedOut: open.size > 0 && !interrupted,
    interrupted,
    polls,
    elapsed_ms: now() - started,
  };
}
