import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { preparePush, push, type PushFlags, type PushResult } from '../../services/call-reasons/push.js';
import { formatIso } from '../../util/time.js';

function human(ctx: CommandContext, result: PushResult): string {
  const { record } = result;
  const rows: [string, unknown][] = [
    ['Status', result.status],
    ['Message', result.message],
    ...(result.batchId ? ([['Batch ID', result.batchId]] as [string, unknown][]) : []),
    ['API', result.api === 'v1' ? 'v1 (deprecated)' : 'v2'],
    ['Caller', record.caller_number],
    ['Receiver', record.receiver_number],
    ['Starts', `${formatIso(record.starts_at)} (${record.starts_at})`],
    ['Ends', `${formatIso(record.ends_at)} (${record.ends_at})`],
    ['Label ID', record.label_id],
    ['Label name', record.dynamic_label_name],
    ['Call reason', record.dynamic_call_reason],
  ];
  return ctx.output.renderTable(
    ['Field', 'Value'],
    rows.filter(([, value]) => value !== undefined && value !== ''),
  );
}

export default async function callReasonPush(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const request = preparePush(opts as PushFlags, Date.now());
  const result = await push(ctx, request);
  // The table already says it; for JSON on a terminal, a line on stderr confirms what happened.
  if (result.status !== 'dry-run' && ctx.output.format !== 'table') ctx.output.success(`call reason pushed (${result.status}${result.message ? `: ${result.message}` : ''})`);
  await ctx.output.object(result.body, () => human(ctx, result));
}
