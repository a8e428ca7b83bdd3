import path from 'node:path';
import { formatIso } from '../../util/time.js';
import type { ExportOptions, ExportRow, RecordSource, SourceRun } from './types.js';

/**
 * Records from the webhook store that `tcb webhook listen` writes (src/services/webhooks/stores.ts
 * and records.ts). Unrecognised events (stored though not documented) are exported too: an event of
 * an unknown type appears in both the cmb and the feedback export. The store's insertion sequence is the
 * --since-last cursor: an event redelivered late, or with an old created_at, still has a new
 * sequence number and is exported by the next run instead of being lost.
 */
export interface WebhookCursor {
  /** The largest sequence number this run covered. */
  seq: number;
}

export function isWebhookCursor(value: unknown): value is WebhookCursor {
  return typeof value === 'object' && value !== null && Number.isInteger((value as WebhookCursor).seq);
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
  const { openEventReader, isDatabaseUrl } = await import('../webhooks/stores.js');
  const { toExportRows, CMB_EXPORT_FIELDS, FEEDBACK_EXPORT_FIELDS } = await import('../webhooks/records.js');
  const file = isDatabaseUrl(options.store!) ? options.store! : path.resolve(options.store!);
  // Unrecognised events carry their body: as text in CSV and tables, as the JSON value in JSON.
  const rawAs = options.format === 'json' || options.format === 'ndjson' ? 'value' : 'text';
  const type = options.type === 'cmb' ? 'cmb' : 'user_feedback';
  const columns = (options.type === 'cmb' ? CMB_EXPORT_FIELDS : FEEDBACK_EXPORT_FIELDS) as readonly string[];

  return {
    name: 'webhook',
    stateKeyParts: { store: file },
    defaultColumns: columns,
    tableColumns: options.type === 'cmb' ? CMB_TABLE : FEEDBACK_TABLE,

    async open(previousCursor, signal): Promise<SourceRun> {
      const previous = options.sinceLast && isWebhookCursor(previousCursor) ? previousCursor : undefined;
      const plan = planWebhookRun(options, previous);
      const store = await openEventReader(file);
      // A snapshot: events stored while this run reads wait for the next run.
      let upper: number;
      try {
        upper = await store.lastSeq(type);
      } catch (error) {
        await store.close();
        throw error;
      }
      const describe = previous
        ? `events stored after #${previous.seq} (up to #${upper})`
        : `${plan.fromMs !== undefined ? formatIso(plan.fromMs) : 'the first event'} → ${plan.toMs !== undefined ? formatIso(plan.toMs) : 'the last event'}`;

      async function* batches(): AsyncGenerator<ExportRow[]> {
        let batch: ExportRow[] = [];
        try {
          for await (const stored of store.events({ type, afterSeq: plan.afterSeq, upToSeq: upper, fromMs: plan.fromMs, toMs: plan.toMs })) {
            batch.push(...(toExportRows(stored, { type, raw: rawAs }) as unknown as ExportRow[]));
            if (batch.length >= BATCH) {
              yield batch;
              batch = [];
              if (signal.aborted) throw signal.reason;
            }
          }
          if (batch.length > 0) yield batch;
        } finally {
          await store.close();
        }
      }

      return {
        batches: batches(),
        columns: () => columns,
        nextCursor: (): WebhookCursor => ({ seq: Math.max(upper, previous?.seq ?? 0) }),
        emptyNote: previous ? 'no new webhook events since the previous run' : 'no webhook events in this range',
        describe,
        skipped: () => 0,
      };
    },
  };
}
