// tcb call-reason push: one record through the real-time endpoint (cp-realtime-v2, or cp-realtime-v1
// with --api v1). Validated before anything is sent; `--label NAME` is resolved through labels-get.
import {
  postRealtimeV1,
  postRealtimeV2,
  type CallRecordV2,
  type StatusInfo,
} from '../../api/call-reasons.js';
import { fetchLabelsPage, LABELS_DEFAULT_LIMIT, type Label } from '../../api/labels.js';
import { walkPages } from '../../api/pagination.js';
import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import {
  defaultsFromFlags,
  DefaultFlagError,
  toV1Record,
  validateCallReason,
  type CallReasonField,
  type CallReasonRecord,
  type FieldError,
} from './record.js';

export type PushApi = 'v1' | 'v2';

export interface PushFlags {
  caller?: string;
  receiver?: string;
  labelId?: string;
  label?: string;
  labelName?: string;
  reason?: string;
  startsAt?: string;
  endsAt?: string;
  duration?: string;
  api?: string;
  dryRun?: boolean;
}

export interface PushRequest {
  api: PushApi;
  /** Validated record (v2 names); label_id is a placeholder while `labelName` awaits resolution. */
  record: CallReasonRecord;
  /** --label NAME, to be resolved to an id through labels-get. */
  labelToResolve?: string;
  dryRun: boolean;
}

/** What push prints: the API's answer (JSON) plus what a person needs (table). */
export interface PushResult {
  api: PushApi;
  /** The API's body unchanged; for v1, batch_id is added (it is otherwise only inside the message). */
  body: Record<string, unknown>;
  status: string;
  message?: string;
  batchId?: string;
  record: CallReasonRecord;
}

/** Which flag sets each field: validation messages name the flag the user typed. */
export const FLAG_OF_FIELD: Record<CallReasonField, string> = {
  caller_number: '--caller',
  receiver_number: '--receiver',
  starts_at: '--starts-at',
  ends_at: '--ends-at / --duration',
  label_id: '--label-id / --label',
  dynamic_label_name: '--label-name',
  dynamic_call_reason: '--reason',
};

/** Stands in for the id of a --label NAME until it is resolved (validation needs a UUID). */
const PLACEHOLDER_LABEL_ID = '00000000-0000-4000-8000-000000000000';

export function parseApi(value: unknown): PushApi {
  if (value === undefined) return 'v2';
  const text = String(value).trim().toLowerCase();
  if (text === 'v1' || text === 'v2') return text;
  throw new UsageError(`--api must be v1 or v2 (got "${String(value)}")`, { hint: 'v2 is the current API; v1 is deprecated' });
}

function validationError(errors: readonly FieldError[]): UsageError {
  const first = errors[0]!;
  const lines = errors.map((e) => `${e.message} (${FLAG_OF_FIELD[e.field]})`);
  return new UsageError(`invalid call reason: ${lines.join('; ')}`, {
    field: first.field,
    hint: 'nothing was sent; fix the flags named above',
    details: { errors: errors.map((e) => ({ field: e.field, flag: FLAG_OF_FIELD[e.field], message: e.message })) },
  });
}

/** Flags → a validated request. Throws UsageError (exit 2) naming the field and flag; sends nothing. */
export function preparePush(flags: PushFlags, now: number): PushRequest {
  const api = parseApi(flags.api);
  if (flags.label !== undefined && flags.labelId !== undefined) {
    throw new UsageError('--label and --label-id cannot be used together', { hint: 'pass one of them' });
  }
  if (flags.label !== undefined && flags.label.trim() === '') throw new UsageError('--label is empty', { field: 'label_id' });
  let defaults;
  try {
    defaults = defaultsFromFlags({ duration: flags.duration, endsAt: flags.duration !== undefined ? flags.endsAt : undefined }, now);
  } catch (error) {
    if (error instanceof DefaultFlagError) throw new UsageError(error.message, { field: 'ends_at' });
    throw error;
  }
  const result = validateCallReason(
    {
      caller_number: flags.caller,
      receiver_number: flags.receiver,
      starts_at: flags.startsAt,
      ends_at: flags.endsAt,
      label_id: flags.label !== undefined ? PLACEHOLDER_LABEL_ID : flags.labelId,
      dynamic_label_name: flags.labelName,
      dynamic_call_reason: flags.reason,
    },
    { now, defaults },
  );
  if (!result.ok) throw validationError(result.errors);
  return {
    api,
    record: result.record,
    labelToResolve: flags.label?.trim(),
    dryRun: Boolean(flags.dryRun),
  };
}

/** The one label called `name`: exact match first, then case-insensitive; ambiguity is an error. */
export function pickLabel(labels: readonly Label[], name: string): Label {
  const exact = labels.filter((l) => l.name === name);
  const matches = exact.length > 0 ? exact : labels.filter((l) => l.name.toLowerCase() === name.toLowerCase());
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) {
    throw new UsageError(`${matches.length} dynamic labels are called "${name}": ${matches.map((l) => l.id).join(', ')}`, {
      field: 'label_id',
      hint: 'pass --label-id with one of these ids',
    });
  }
  const known = labels.map((l) => `"${l.name}"`).slice(0, 10);
  throw new UsageError(`no dynamic label is called "${name}"`, {
    field: 'label_id',
    hint: known.length > 0 ? `labels of this account: ${known.join(', ')}${labels.length > 10 ? ', …' : ''} (tcb labels list)` : 'this account has no dynamic labels; create one in the console',
  });
}

async function resolveLabel(ctx: CommandContext, name: string): Promise<Label> {
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  const labels: Label[] = [];
  for await (const page of walkPages((page) => fetchLabelsPage(client, account, { page, limit: LABELS_DEFAULT_LIMIT }), 1, LABELS_DEFAULT_LIMIT)) {
    labels.push(...page);
  }
  return pickLabel(labels, name);
}

/** Sends the record; an API rejection is an ApiError (exit 4) naming the field. */
export async function push(ctx: CommandContext, request: PushRequest): Promise<PushResult> {
  const record = { ...request.record };
  if (request.labelToResolve !== undefined) {
    const label = await resolveLabel(ctx, request.labelToResolve);
    ctx.output.debug(`  --label "${request.labelToResolve}" is label ${label.id}`);
    record.label_id = label.id;
  }
  if (request.dryRun) {
    const body = request.api === 'v1' ? { ...toV1Record(record) } : { ...record };
    return { api: request.api, body, status: 'dry-run', message: 'validated, not sent (--dry-run)', record };
  }
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  if (request.api === 'v1') {
    const result = await postRealtimeV1(client, account, toV1Record(record));
    return {
      api: 'v1',
      body: { status: result.status, message: result.message, batch_id: result.batch_id },
      status: result.status,
      message: result.message,
      batchId: result.batch_id,
      record,
    };
  }
  const result = await postRealtimeV2(client, account, record satisfies CallRecordV2);
  const info: StatusInfo = result.status_info;
  const body = typeof result.body === 'object' && result.body !== null ? (result.body as Record<string, unknown>) : { status_info: info };
  return { api: 'v2', body, status: info.status, message: info.message, record };
}
