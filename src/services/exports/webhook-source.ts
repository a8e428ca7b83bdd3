import path from 'node:path';
import { formatIso } from '../../util/time.js';
import type { ExportOptions, ExportRow, RecordSource, SourceRun } from './types.js';

/**
 * Records from the webhook store that `tcb webhook listen` writes (src/services/webhooks/stores.ts
 * and records.ts). Unrecognised events (stored though not documented) are exported too: an event of
 * an unknown type appears in both the cmb and the feedback export.
 *
 * --since-last: in an SQLite store (one writer, commits in seq order) the insertion sequence is the
 * cursor: an event redelivered late, or with an old created_at, still has a new sequence number and
 * is exported by the next run instead of being lost. A PostgreSQL store has several writers whose
 * commits do not follow seq, so its cursor is a transaction horizon instead (PostgresReader.settledRun):
 * each run exports the rows of transactions that ended before it began, and no row twice.
 */
export interface WebhookCursor {
  /** The largest sequence number this run covered. */
  seq: number;
}

/** The PostgreSQL cursor: every transaction older than `xid` had ended when the previous run read. */
export interface SettledCursor {
  xid: string;
}

export function isWebhookCursor(value: unknown): value is WebhookCursor {
  return typeof value === 'object' && value !== null && Number.isInteger((value as WebhookCursor).seq);
}

export function isSettledCursor(value: unknown): value is SettledCursor {
  return typeof value === 'object' && value !== null && typeof (value as SettledCursor).xid === 'string' && /^\d+$/.test((value as SettledCursor).xid);
}

const CMB_TABLE = ['requested_at_iso', 'client_number', 'business_number', 'feature_set', 'requested_date', 'requested_slot', 'is_interested'];
const FEEDBACK_TABLE = ['requested_at_iso', 'client_number', 'survey_name', 'question', 'response'];
const BATCH = 500;

/** The plan of one store run (pure, unit-tested). */
export interface WebhookRunPlan {
  afterSeq: number;
  fromMs?: number;
  toMs?: number;
}

export function planWebhookRun(options: ExportOptions, previous: WebhookCursor | undefined): WebhookRunPlan {
  if (options.sinceLast && previous) {
    // Later runs: everything stored since, whatever its created_at (late deliveries included).
    return { afterSeq: previous.seq };
  }
  return { afterSeq: 0, fromMs: options.from, toMs: options.to };
}

export async function webhookSource(options: ExportOptions): Promise<RecordSource> {
  // Loaded only for --source webhook: the store needs its driver.
  const { openEventReader, resolveStoreLocation } = await import('../webhooks/stores.js');
  const { toExportRows, CMB_EXPORT_FIELDS, FEEDBACK_EXPORT_FIELDS } = await import('../webhooks/records.js');
  const location = options.storeLocation ?? resolveStoreLocation(options.store!);
  // What identifies the store in the state file: the path, or the URL without any password.
  const storeKey = location.kind === 'sqlite' ? path.resolve(location.file) : location.identity;
  // Unrecognised events carry their body: as text in CSV and tables, as the JSON value in JSON.
  const rawAs = options.format === 'json' || options.format === 'ndjson' ? 'value' : 'text';
  const type = options.type === 'cmb' ? 'cmb' : 'user_feedback';
  const columns = (options.type === 'cmb' ? CMB_EXPORT_FIELDS : FEEDBACK_EXPORT_FIELDS) as readonly string[];

  return {
    name: 'webhook',
    stateKeyParts: { store: storeKey },
    defaultColumns: columns,
    tableColumns: options.type === 'cmb' ? CMB_TABLE : FEEDBACK_TABLE,

    async open(previousCursor, signal): Promise<SourceRun> {
      const toRows = (stored: Parameters<typeof toExportRows>[0]) => toExportRows(stored, { type, raw: rawAs }) as unknown as ExportRow[];
      if (location.kind === 'postgres' && options.sinceLast) {
        const { PostgresReader } = await import('../webhooks/pg-store.js');
        const reader = await PostgresReader.open(location);
        return settledSinceLast(reader, options, isSettledCursor(previousCursor) ? previousCursor : undefined, type, columns, toRows, signal);
      }
      const previous = options.sinceLast && isWebhookCursor(previousCursor) ? previousCursor : undefined;
      const plan = planWebhookRun(options, previous);
      const store = await openEventReader(location);
      // A snapshot: events stored while this run reads wait for the next run.
      let upper: number;
      try {
        upper = await store.lastSeq(type);
      } catch (error) {
        await store.close();
        throw error;
      }
      let closed = false;
      const close = async () => {
        if (closed) return;
        closed = true;
        await store.close();
      };
      const describe = previous
        ? `events stored after #${previous.seq} (up to #${upper})`
        : `${plan.fromMs !== undefined ? formatIso(plan.fromMs) : 'the first event'} → ${plan.toMs !== undefined ? formatIso(plan.toMs) : 'the last event'}`;

      async function* batches(): AsyncGenerator<ExportRow[]> {
        let batch: ExportRow[] = [];
        try {
          for await (const stored of store.events({ type, afterSeq: plan.afterSeq, upToSeq: upper, fromMs: plan.fromMs, toMs: plan.toMs })) {
            batch.push(...toRows(stored));
            if (batch.length >= BATCH) {
              yield batch;
              batch = [];
              if (signal.aborted) throw signal.reason;
            }
          }
          if (batch.length > 0) yield batch;
        } finally {
          await close();
        }
      }

      return {
        batches: batches(),
        close,
        columns: () => columns,
        nextCursor: (): WebhookCursor => ({ seq: Math.max(upper, previous?.seq ?? 0) }),
        emptyNote: previous ? 'no new webhook events since the previous run' : 'no webhook events in this range',
        describe,
        skipped: () => 0,
      };
    },
  };
}

/** A --since-last run on a PostgreSQL store: the rows of transactions settled since the last run. */
async function settledSinceLast(
  reader: import('../webhooks/pg-store.js').PostgresReader,
  options: ExportOptions,
  previous: SettledCursor | undefined,
  type: 'cmb' | 'user_feedback',
  columns: readonly string[],
  toRows: (stored: import('../webhooks/store-types.js').StoredWebhookEvent) => ExportRow[],
  signal: AbortSignal,
): Promise<SourceRun> {
  let run: import('../webhooks/pg-store.js').SettledRun;
  try {
    run = await reader.settledRun(previous?.xid, previous ? { type } : { type, fromMs: options.from, toMs: options.to });
  } catch (error) {
    await reader.close();
    throw error;
  }
  const range = previous
    ? 'events committed since the previous run'
    : `${options.from !== undefined ? formatIso(options.from) : 'the first event'} → ${options.to !== undefined ? formatIso(options.to) : 'the last event'}`;
  const waiting = run.heldBack > 0 ? ` (${run.heldBack} more wait for the next run: a transaction older than theirs is still open)` : '';

  async function* batches(): AsyncGenerator<ExportRow[]> {
    let batch: ExportRow[] = [];
    try {
      for await (const stored of run.events) {
        batch.push(...toRows(stored));
        if (batch.length >= BATCH) {
          yield batch;
          batch = [];
          if (signal.aborted) throw signal.reason;
        }
      }
      if (batch.length > 0) yield batch;
    } finally {
      await run.close();
      await reader.close();
    }
  }

  return {
    batches: batches(),
    close: async () => {
      await run.close();
      await reader.close();
    },
    columns: () => columns,
    nextCursor: (): SettledCursor => ({ xid: run.next }),
    emptyNote: previous ? 'no webhook events committed since the previous run' : 'no webhook events in this range',
    describe: `${range}${waiting}`,
    skipped: () => 0,
  };
}
