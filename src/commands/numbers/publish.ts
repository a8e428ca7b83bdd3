import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { runChange } from './change.js';

export default async function numbersPublish(ctx: CommandContext, input: CommandInput): Promise<void> {
  await runChange(ctx, 'publish', input);
}
