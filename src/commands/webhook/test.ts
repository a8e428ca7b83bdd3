import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { sendTestWebhook, testFailure, type WebhookTestResult } from '../../services/webhooks/service.js';

function human(ctx: CommandContext, result: WebhookTestResult): string {
  const mark = result.ok ? ctx.output.color.green('✓') : ctx.output.color.red('✗');
  const answer = typeof result.response === 'string' ? result.response.trim() : JSON.stringify(result.response);
  return [
    `${mark} ${result.status} in ${result.latency_ms} ms from ${result.url}`,
    `  sent ${result.event_type} event ${result.event_id} (example ${result.example})`,
    answer ? `  answer: ${answer}` : '',
  ]
    .filter(Boolean)
    .join('\n');
}

export default async function webhookTest(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  const result = await sendTestWebhook(ctx, opts);
  await ctx.output.object(result, (value) => human(ctx, value));
  const failure = testFailure(result);
  if (failure) throw failure;
}
