import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { login } from '../../services/auth/auth.js';

export default async function authLogin(ctx: CommandContext, { opts, command }: CommandInput): Promise<void> {
  const result = await login(ctx, {
    clientAccountId: opts.clientAccountId as string | undefined,
    keyId: opts.keyId as string | undefined,
    apiKeyFromStdin: Boolean(opts.apiKeyStdin),
    baseUrlGiven: command.getOptionValueSourceWithGlobals('baseUrl') === 'cli',
  });
  await ctx.output.object(result, () => '');
  ctx.output.success(`Logged in: profile "${result.profile}", account ${result.client_account_id}, ${result.base_url}`);
}
