// Number management (API reference §5): numbers-details (GET, paginated with a
// pagination_information envelope), numbers-list (POST …/numbers/publish) and
// numbers-delist (POST …/numbers/delist).
//
// The docs define none of the response buckets (§5.3); the sandbox sorts each
// number into exactly one, in this order:
//   invalid_numbers            not digits-only with a country code: 8-15 digits, no leading 0;
//                              India (91…) needs 10 national digits starting with 6-9
//   others_numbers             owned by another client account: the range 9190000xxxxx
//   other_phonetype_numbers    registered with another phone type: the range 9180000xxxxx
//   processing_numbers         an earlier list/delist of the number is still in flight
//                              (publish: the field only appears when it is not empty)
//   publish: delisted_numbers (delisted earlier → listed again), existing_numbers (already in
//            this feature set), other_feature_set_numbers (listed in another one), new_numbers
//   delist:  existing_numbers (listed here → will be delisted), other_feature_set_numbers,
//            new_numbers (not listed on the account → status "failed" if nothing was delisted)
// migrated_numbers and updated_numbers are always empty here.
//
// Accepted changes are asynchronous: the number shows status "pending" (a listing) or
// "delisting" (the docs name no status for a delist in progress) until `processingMs` after the
// request, then "listed" or "delisted" (delisted numbers stay in numbers-details with that status). Set the delay with
// `numbersSandbox(handle.state).config.processingMs`; a core knob `numberProcessingMs`
// wins if it exists.
import type { RouteContext, RouteDefinition, RouteResponse } from '../types.js';
import type { FeatureSetRecord, NumberRecord } from '../model.js';
import { toNumberJson } from '../model.js';
import type { SandboxState } from '../state.js';
import { moduleState } from '../state.js';
import { SandboxHttpError, slugResponse } from '../errors.js';
import { filterParam, paginate, positiveIntParam } from './query.js';

export const DEFAULT_PROCESSING_MS = 3000;
export const DEFAULT_NUMBERS_LIMIT = 50;
export const MAX_NUMBERS_PER_REQUEST = 10_000;
/** Numbers in these ranges belong to another client account / have another phone type. */
export const FOREIGN_PREFIX = '9190000';
export const OTHER_PHONETYPE_PREFIX = '9180000';

type Action = 'publish' | 'delist';

interface InFlight {
  action: Action;
  settlesAt: number;
  /** Set by finishNumberChanges: the change ends with status "failed" instead. */
  fails?: boolean;
}

export interface NumbersSandbox {
  config: { processingMs: number };
  /** phone_number → the change still processing. */
  inFlight: Map<string, InFlight>;
}

export function numbersSandbox(state: SandboxState): NumbersSandbox {
  return moduleState(state, 'numbers', () => ({
    config: { processingMs: DEFAULT_PROCESSING_MS },
    inFlight: new Map(),
  }));
}

function processingDelay(ctx: RouteContext): number {
  return ctx.knobs.numberProcessingMs ?? numbersSandbox(ctx.state).config.processingMs;
}

/** ISO-8601 with microseconds, like the API's timestamps. */
function isoMicros(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/Z$/, '000Z');
}

/** Applies every change whose time has come (lazily, on each request). */
function settle(ctx: RouteContext): void {
  settleDue(ctx.state, ctx.now);
}

function settleDue(state: SandboxState, now: number): void {
  const module = numbersSandbox(state);
  if (module.inFlight.size === 0) return;
  const due = new Map<string, InFlight>();
  for (const [number, change] of module.inFlight) if (change.settlesAt <= now) due.set(number, change);
  if (due.size === 0) return;
  for (const record of state.numbers) {
    const change = due.get(record.phone_number);
    if (!change) continue;
    record.status = change.fails ? 'failed' : change.action === 'publish' ? 'listed' : 'delisted';
    record.updated_at = isoMicros(change.settlesAt);
  }
  for (const number of due.keys()) module.inFlight.delete(number);
}

/**
 * Finishes every publish/delist still processing now (POST /__sandbox/numbers/finish), instead of
 * after the processing delay; the numbers in `failed` end with status "failed". Returns how many
 * changes finished.
 */
export function finishNumberChanges(state: SandboxState, now: number, failed: readonly string[] = []): number {
  const module = numbersSandbox(state);
  const failing = new Set(failed);
  let finished = 0;
  for (const [number, change] of module.inFlight) {
    change.settlesAt = Math.min(change.settlesAt, now);
    if (failing.has(number)) change.fails = true;
    finished += 1;
  }
  settleDue(state, now);
  return finished;
}

export function isValidNumber(number: string): boolean {
  if (!/^[1-9]\d{7,14}$/.test(number)) return false;
  if (number.startsWith('91')) return /^91[6-9]\d{9}$/.test(number);
  return true;
}

// ---------- numbers-details ----------

function featureSetsById(state: SandboxState): Map<string, FeatureSetRecord> {
  return new Map(state.featureSets.map((fs) => [fs.id, fs]));
}

function listNumbers(ctx: RouteContext): RouteResponse {
  settle(ctx);
  const page = positiveIntParam(ctx.query, 'page', 1);
  const limit = positiveIntParam(ctx.query, 'limit', DEFAULT_NUMBERS_LIMIT);
  const featureSetId = filterParam(ctx.query, 'feature_set_id');
  const departmentId = filterParam(ctx.query, 'department_id');
  const operationId = filterParam(ctx.query, 'operation_id');
  const processId = filterParam(ctx.query, 'process_id');
  const sets = featureSetsById(ctx.state);
  const matching = ctx.state.numbers.filter((n) => {
    if (featureSetId && n.feature_set_id !== featureSetId) return false;
    const fs = sets.get(n.feature_set_id);
    if (departmentId && fs?.department_id !== departmentId) return false;
    if (operationId && fs?.operation_id !== operationId && fs?.calling_operation_id !== operationId) return false;
    if (processId && fs?.process_id !== processId && fs?.parent_process_id !== processId) return false;
    return true;
  });
  const result = paginate(matching, page, limit);
  return {
    status: 200,
    json: { numbers: result.items.map(toNumberJson), pagination_information: { total_page_count: result.totalPages } },
  };
}

// ---------- publish / delist ----------

function phoneNumbersOf(body: unknown): string[] {
  if (body === undefined || body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw SandboxHttpError.invalidInput('phone_numbers is required');
  }
  const value = (body as { phone_numbers?: unknown }).phone_numbers;
  if (value === undefined || value === null) throw SandboxHttpError.invalidInput('phone_numbers is required');
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) {
    throw SandboxHttpError.invalidInput('phone_numbers must be an array of strings');
  }
  if (value.length < 1) throw SandboxHttpError.invalidInput('phone_numbers must contain at least 1 number');
  if (value.length > MAX_NUMBERS_PER_REQUEST) {
    throw SandboxHttpError.invalidInput(`phone_numbers must contain at most ${MAX_NUMBERS_PER_REQUEST} numbers`);
  }
  return value as string[];
}

function featureSetOf(ctx: RouteContext): FeatureSetRecord {
  const id = ctx.params.featureSetId ?? '';
  const fs = ctx.state.featureSets.find((set) => set.id === id);
  if (!fs) throw new SandboxHttpError(slugResponse(404, 'not-found', `feature set ${id} not found`));
  return fs;
}

/** Reads the request, counts it, and gives each distinct number once. */
function receive(ctx: RouteContext, action: Action): { fs: FeatureSetRecord; numbers: string[] } {
  ctx.bump(`numbers.${action}.requests`);
  const fs = featureSetOf(ctx);
  const received = phoneNumbersOf(ctx.body);
  const numbers = [...new Set(received)];
  ctx.bump(`numbers.${action}.received`, received.length);
  const largest = `numbers.${action}.largestRequest`;
  ctx.counters.extra[largest] = Math.max(ctx.counters.extra[largest] ?? 0, received.length);
  if (received.length > numbers.length) ctx.bump(`numbers.${action}.duplicates`, received.length - numbers.length);
  settle(ctx);
  return { fs, numbers };
}

function labelName(state: SandboxState, labelId: string): string {
  return state.labels.find((label) => label.id === labelId)?.name ?? '';
}

function placeInFeatureSet(record: NumberRecord, fs: FeatureSetRecord, state: SandboxState): void {
  record.feature_set_id = fs.id;
  record.feature_set_name = fs.name;
  record.department = fs.department_name;
  record.operation = fs.calling_operation_name;
  record.process = fs.process_name;
  record.subprocess = fs.sub_process_name;
  record.call_me_back = fs.call_me_back ? 'enabled' : 'disabled';
  record.label_name = labelName(state, fs.label_id);
}

function newRecord(ctx: RouteContext, number: string, fs: FeatureSetRecord): NumberRecord {
  const now = isoMicros(ctx.now);
  const record = {
    phone_number: number,
    phone_type: 'verified',
    status: 'pending',
    client_account_id: ctx.state.account.clientAccountId,
    created_by_email: ctx.state.account.createdByEmail,
    created_at: now,
    updated_at: now,
  } as NumberRecord;
  placeInFeatureSet(record, fs, ctx.state);
  return record;
}

/** Sorts a number into one of the buckets every action shares; undefined when it needs the account's data. */
function commonBucket(number: string, module: NumbersSandbox): string | undefined {
  if (!isValidNumber(number)) return 'invalid_numbers';
  if (number.startsWith(FOREIGN_PREFIX)) return 'others_numbers';
  if (number.startsWith(OTHER_PHONETYPE_PREFIX)) return 'other_phonetype_numbers';
  if (module.inFlight.has(number)) return 'processing_numbers';
  return undefined;
}

function publish(ctx: RouteContext): RouteResponse {
  const { fs, numbers } = receive(ctx, 'publish');
  const module = numbersSandbox(ctx.state);
  const settlesAt = ctx.now + processingDelay(ctx);
  const index = new Map(ctx.state.numbers.map((record) => [record.phone_number, record]));
  const buckets: Record<string, string[]> = {
    new_numbers: [],
    other_phonetype_numbers: [],
    existing_numbers: [],
    others_numbers: [],
    invalid_numbers: [],
    other_feature_set_numbers: [],
    processing_numbers: [],
    migrated_numbers: [],
    delisted_numbers: [],
    updated_numbers: [],
  };
  for (const number of numbers) {
    let bucket = commonBucket(number, module);
    if (bucket === undefined) {
      const record = index.get(number);
      if (!record) {
        bucket = 'new_numbers';
        const created = newRecord(ctx, number, fs);
        ctx.state.numbers.push(created);
        index.set(number, created);
      } else if (record.status === 'delisted') {
        bucket = 'delisted_numbers';
        placeInFeatureSet(record, fs, ctx.state);
        record.status = 'pending';
        record.updated_at = isoMicros(ctx.now);
      } else if (record.feature_set_id === fs.id) {
        bucket = 'existing_numbers';
      } else {
        bucket = 'other_feature_set_numbers';
      }
      if (bucket === 'new_numbers' || bucket === 'delisted_numbers') {
        module.inFlight.set(number, { action: 'publish', settlesAt });
      }
    }
    buckets[bucket]!.push(number);
  }
  const accepted = buckets.new_numbers!.length + buckets.delisted_numbers!.length + buckets.existing_numbers!.length;
  ctx.bump('numbers.publish.accepted', buckets.new_numbers!.length + buckets.delisted_numbers!.length);
  // Field order of examples/numbers-list.response.200-pending.json.
  const json: Record<string, unknown> = {
    client_account_id: ctx.state.account.clientAccountId,
    created_by_email: ctx.state.account.createdByEmail,
    phone_type: 'verified',
    new_numbers: buckets.new_numbers,
    other_phonetype_numbers: buckets.other_phonetype_numbers,
    existing_numbers: buckets.existing_numbers,
    others_numbers: buckets.others_numbers,
    invalid_numbers: buckets.invalid_numbers,
    other_feature_set_numbers: buckets.other_feature_set_numbers,
  };
  if (buckets.processing_numbers!.length > 0) json.processing_numbers = buckets.processing_numbers;
  json.status = accepted > 0 ? 'pending' : 'failed';
  json.migrated_numbers = buckets.migrated_numbers;
  json.delisted_numbers = buckets.delisted_numbers;
  json.updated_numbers = buckets.updated_numbers;
  return { status: 200, json };
}

function delist(ctx: RouteContext): RouteResponse {
  const { fs, numbers } = receive(ctx, 'delist');
  const module = numbersSandbox(ctx.state);
  const settlesAt = ctx.now + processingDelay(ctx);
  const index = new Map(ctx.state.numbers.map((record) => [record.phone_number, record]));
  const buckets: Record<string, string[]> = {
    processing_numbers: [],
    new_numbers: [],
    other_phonetype_numbers: [],
    existing_numbers: [],
    others_numbers: [],
    invalid_numbers: [],
    other_feature_set_numbers: [],
  };
  for (const number of numbers) {
    let bucket = commonBucket(number, module);
    if (bucket === undefined) {
      const record = index.get(number);
      if (!record || record.status === 'delisted') {
        bucket = 'new_numbers';
      } else if (record.feature_set_id !== fs.id) {
        bucket = 'other_feature_set_numbers';
      } else {
        bucket = 'existing_numbers';
        record.status = 'delisting';
        record.updated_at = isoMicros(ctx.now);
        module.inFlight.set(number, { action: 'delist', settlesAt });
      }
    }
    buckets[bucket]!.push(number);
  }
  ctx.bump('numbers.delist.accepted', buckets.existing_numbers!.length);
  // Field order of examples/numbers-delist.response.200-pending.json.
  return {
    status: 200,
    json: {
      client_account_id: ctx.state.account.clientAccountId,
      phone_type: '',
      ...buckets,
      status: buckets.existing_numbers!.length > 0 ? 'pending' : 'failed',
    },
  };
}

export const numberRoutes: RouteDefinition[] = [
  {
    id: 'numbers-details',
    method: 'GET',
    path: '/clients/:clientAccountId/number_management/numbers',
    access: 'number-management',
    handler: listNumbers,
  },
  {
    id: 'numbers-list',
    method: 'POST',
    path: '/clients/:clientAccountId/number_management/feature_sets/:featureSetId/numbers/publish',
    access: 'number-management',
    handler: publish,
  },
  {
    id: 'numbers-delist',
    method: 'POST',
    path: '/clients/:clientAccountId/number_management/feature_sets/:featureSetId/numbers/delist',
    access: 'number-management',
    handler: delist,
  },
];
