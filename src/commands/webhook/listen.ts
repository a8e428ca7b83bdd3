import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { listenForWebhooks } from '../../services/webhooks/service.js';

export default async function webhookListen(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  await listenForWebhooks(ctx, opts);
}
