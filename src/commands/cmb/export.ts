import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { parseExportOptions, runExport } from '../../services/exports/exports.js';

/** tcb cmb export: Call Me Back requests (cmb-logs-v1, or the webhook store with --source webhook). */
export default async function cmbExport(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const options = parseExportOptions('cmb', opts, ctx.settings, Date.now(), ctx.env);
  await runExport(ctx, options);
}
