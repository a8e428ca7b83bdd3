import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { status, type AuthStatus } from '../../services/auth/auth.js';
import { formatDuration } from '../../util/time.js';

export default async function authStatus(ctx: CommandContext, _input: CommandInput): Promise<void> {
  const result = await status(ctx);
  await ctx.output.object(result, (s: AuthStatus) => {
    if (s.profiles.length === 0) {
      return `No profiles in ${s.config_dir}. Run \`tcb auth login\` or set TCB_CLIENT_ACCOUNT_ID, TCB_KEY_ID and TCB_API_KEY.`;
    }
    const rows = s.profiles.map((p) => [
      p.active ? ctx.output.color.green('*') : '',
      p.name,
      p.client_account_id ?? '',
      p.key_id ?? '',
      p.base_url,
      p.has_secret ? 'stored' : 'missing',
      p.token
        ? p.token.fresh
          ? `${formatDuration(p.token.age_seconds * 1000)} old, ${formatDuration(p.token.expires_in_seconds * 1000)} left`
          : 'expired'
        : 'none',
    ]);
    return ctx.output.renderTable(['', 'Profile', 'Account', 'Key id', 'Base URL', 'Secret', 'Token'], rows);
  });
}
