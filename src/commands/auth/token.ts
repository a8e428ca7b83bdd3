import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';

/**
 * Prints the bare token so `$(tcb auth token)` works, even in a cron job with TCB_FORMAT set;
 * a structured object only when --json or --format asks for one on this command line.
 */
export default async function authToken(ctx: CommandContext, { command }: CommandInput): Promise<void> {
  const token = await ctx.accessToken();
  const flags = command.optsWithGlobals() as { json?: boolean; format?: string };
  if (flags.json || (flags.format !== undefined && flags.format !== 'table')) {
    await ctx.output.object({ token }, () => token);
  } else {
    await ctx.output.writeStdout(`${token}\n`);
  }
}
