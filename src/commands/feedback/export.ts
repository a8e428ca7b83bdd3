import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { parseExportOptions, runExport } from '../../services/exports/exports.js';

/** tcb feedback export: User Feedback responses (user-feedback-logs-v1, or the webhook store with --source webhook). */
export default async function feedbackExport(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const options = parseExportOptions('feedback', opts, ctx.settings, Date.now(), ctx.env);
  await runExport(ctx, options);
}
