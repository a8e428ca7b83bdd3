import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { logout } from '../../services/auth/auth.js';

export default async function authLogout(ctx: CommandContext, _input: CommandInput): Promise<void> {
  const result = await logout(ctx);
  await ctx.output.object(result, () => '');
  if (result.secret_removed || result.token_removed) {
    ctx.output.success(`Logged out of profile "${result.profile}": secret and cached token forgotten`);
  } else {
    ctx.output.info(`Profile "${result.profile}" had no stored secret or cached token`);
  }
}
