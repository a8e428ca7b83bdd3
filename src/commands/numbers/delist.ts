import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { runChange } from './change.js';

export default async function numbersDelist(ctx: CommandContext, input: CommandInput): Promise<void> {
  await runChange(ctx, 'delist', input);
}
