import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';

/** Prints the bare token so `$(tcb auth token)` works; JSON only when a format is asked for. */
export default async function authToken(ctx: CommandContext, _input: CommandInput): Promise<void> {
  const token = await ctx.accessToken();
  if (ctx.settings.formatExplicit && ctx.output.format !== 'table') {
    await ctx.output.object({ token }, () => token);
  } else {
    await ctx.output.writeStdout(`${token}\n`);
  }
}
