import type { CommandInput } from '../cli.js';
import type { CommandContext } from '../context.js';
import { serveSandbox } from '../services/sandbox/sandbox.js';

export default async function sandbox(ctx: CommandContext, { opts }: CommandInput): Promise<void> {
  await serveSandbox(ctx, opts);
}
