// What `tcb numbers sync` writes to stdout: the plan, and once applied, the API's answers.
import type { CommandContext } from '../../context.js';
import { csvLines } from '../../output/csv.js';
import type { ChangeResult } from '../../services/numbers/change.js';
import { plural } from '../../services/numbers/change.js';
import type { SyncPlan, SyncResult } from '../../services/numbers/sync.js';
import { featureSetLabel, finalStatus, renderHuman, shortList, waitJson } from './change-output.js';

function elsewhereText(plan: SyncPlan, shown = 5): string {
  const items = plan.elsewhere
    .slice(0, shown)
    .map((entry) => `${entry.phone_number} in "${entry.feature_set_name}"${entry.feature_set_id ? ` (${entry.feature_set_id})` : ''}`);
  if (plan.elsewhere.length > shown) items.push(`… +${plan.elsewhere.length - shown} more`);
  return items.join(', ');
}

/** The readable plan: counts and the first numbers of each list. */
export function renderPlan(ctx: CommandContext, plan: SyncPlan): string {
  const c = ctx.output.color;
  const lines = [
    `Plan for feature set ${featureSetLabel(plan.featureSet)}: ${plural(plan.desiredCount, 'desired number')}, ${plan.currentCount} in the feature set now`,
  ];
  if (plan.duplicates > 0) lines.push(`  (${plural(plan.duplicates, 'duplicate')} in the file counted once)`);
  // Padded before colouring: escape codes would count as width.
  const row = (label: string, count: number, detail: string, paint = (text: string) => text) =>
    lines.push(`  ${paint(label.padEnd(10))} ${String(count).padStart(6)}${detail ? `  ${detail}` : ''}`);
  row('publish', plan.publish.length, shortList(plan.publish), c.green);
  row('delist', plan.delist.length, shortList(plan.delist), c.red);
  row('unchanged', plan.unchanged.length, plan.unchangedPending > 0 ? `(${plan.unchangedPending} still pending)` : '');
  if (plan.elsewhere.length > 0) {
    row('elsewhere', plan.elsewhere.length, `listed in another feature set, left there: ${elsewhereText(plan)}`, c.yellow);
  }
  if (plan.kept.length > 0) row('kept', plan.kept.length, `not desired, kept because of --no-delist: ${shortList(plan.kept)}`);
  if (plan.foreign > 0) {
    lines.push(c.yellow(`  ${plural(plan.foreign, 'number')} returned for this feature set named another one and ${plan.foreign === 1 ? 'was' : 'were'} left alone`));
  }
  return `${lines.join('\n')}\n`;
}

function planJson(plan: SyncPlan): Record<string, unknown> {
  return {
    feature_set: { id: plan.featureSet.id, name: plan.featureSet.name ?? null },
    desired_count: plan.desiredCount,
    duplicates_removed: plan.duplicates,
    current_count: plan.currentCount,
    counts: {
      publish: plan.publish.length,
      delist: plan.delist.length,
      unchanged: plan.unchanged.length,
      elsewhere: plan.elsewhere.length,
      kept: plan.kept.length,
    },
    publish: plan.publish,
    delist: plan.delist,
    unchanged: plan.unchanged,
    elsewhere: plan.elsewhere,
    kept: plan.kept,
  };
}

function resultJson(result: SyncResult): Record<string, unknown> {
  const changes = [result.publish, result.delist].filter((change): change is ChangeResult => change !== undefined);
  const value: Record<string, unknown> = {
    applied: { publish: result.publish?.merged ?? null, delist: result.delist?.merged ?? null },
  };
  const waited = changes.filter((change) => change.wait);
  if (waited.length > 0) value.wait = Object.fromEntries(waited.map((change) => [change.plan.action, waitJson(change.wait!)]));
  const stopped = changes.find((change) => change.stopped);
  if (stopped) value.stopped = { action: stopped.plan.action, ...stopped.stopped };
  return value;
}

interface NumberRow {
  phone_number: string;
  action: 'publish' | 'delist' | 'unchanged' | 'elsewhere' | 'kept';
  bucket?: string;
  accepted?: boolean;
  final_status?: string;
  other_feature_set_id?: string | null;
  other_feature_set_name?: string;
}

/** One row per number of the plan, with the bucket the API put it in once applied. */
function numberRows(plan: SyncPlan, result: SyncResult | undefined): NumberRow[] {
  const rows: NumberRow[] = [];
  const changeRows = (action: 'publish' | 'delist', numbers: readonly string[], change: ChangeResult | undefined) => {
    const bucketOf = new Map<string, { bucket: string; ok: boolean }>();
    for (const bucket of change?.outcome.buckets ?? []) {
      for (const number of bucket.numbers) bucketOf.set(number, { bucket: bucket.bucket, ok: bucket.ok });
    }
    const statuses = finalStatus(change?.wait);
    for (const phone_number of numbers) {
      const row: NumberRow = { phone_number, action };
      const answer = bucketOf.get(phone_number);
      if (answer) Object.assign(row, { bucket: answer.bucket, accepted: answer.ok });
      if (statuses.has(phone_number)) row.final_status = statuses.get(phone_number);
      rows.push(row);
    }
  };
  changeRows('publish', plan.publish, result?.publish);
  changeRows('delist', plan.delist, result?.delist);
  for (const phone_number of plan.unchanged) rows.push({ phone_number, action: 'unchanged' });
  for (const entry of plan.elsewhere) {
    rows.push({
      phone_number: entry.phone_number,
      action: 'elsewhere',
      other_feature_set_id: entry.feature_set_id,
      other_feature_set_name: entry.feature_set_name,
    });
  }
  for (const phone_number of plan.kept) rows.push({ phone_number, action: 'kept' });
  return rows;
}

const CSV_COLUMNS = ['phone_number', 'action', 'bucket', 'accepted', 'final_status', 'other_feature_set_id', 'other_feature_set_name'];

/**
 * The plan (and with `result`, what the API answered). json: one object; ndjson and csv: one row
 * per number; table: the readable plan before applying, the readable answers after.
 */
export async function printSync(ctx: CommandContext, plan: SyncPlan, result: SyncResult | undefined, dryRun: boolean): Promise<void> {
  const out = ctx.output;
  switch (out.format) {
    case 'json':
      return out.writeStdout(`${JSON.stringify({ dry_run: dryRun, ...planJson(plan), ...(result ? resultJson(result) : {}) }, null, 2)}\n`);
    case 'ndjson':
      return out.writeStdout(numberRows(plan, result).map((row) => `${JSON.stringify(row)}\n`).join(''));
    case 'csv':
      return out.writeStdout(csvLines(numberRows(plan, result) as unknown as Record<string, unknown>[], CSV_COLUMNS, true));
    case 'table':
      return out.writeStdout(result ? renderOutcome(ctx, result) : renderPlan(ctx, plan));
  }
}

function renderOutcome(ctx: CommandContext, result: SyncResult): string {
  const parts = [result.publish, result.delist].filter((change): change is ChangeResult => change !== undefined).map((change) => renderHuman(ctx, change));
  if (result.plan.elsewhere.length > 0) {
    parts.push(
      `${ctx.output.color.yellow(`${plural(result.plan.elsewhere.length, 'desired number')} left in other feature sets`)}: ${elsewhereText(result.plan)}\n`,
    );
  }
  return parts.join('');
}
