import { createToken } from '../../api/token.js';
import { cacheKey, isFresh, tokenIssuedAt, TOKEN_LIFETIME_MS, type CachedToken } from '../../auth/token-cache.js';
import { normaliseBaseUrl, resolveCredentialSources, type Credentials, type StoredProfile } from '../../config/settings.js';
import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { redactor } from '../../output/redact.js';

export interface LoginInput {
  clientAccountId?: string;
  keyId?: string;
  apiKeyFromStdin?: boolean;
  /** --base-url was on the command line: do not ask for it. */
  baseUrlGiven?: boolean;
  stdin?: NodeJS.ReadableStream;
}

export interface LoginResult {
  profile: string;
  client_account_id: string;
  key_id: string;
  base_url: string;
  token_created_at: string;
  config_file: string;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

const UUID_LIKE = /^[A-Za-z0-9][A-Za-z0-9-]{2,}$/;

function checkId(value: string, flag: string): string {
  const trimmed = value.trim();
  if (!UUID_LIKE.test(trimmed)) throw new UsageError(`${flag} "${trimmed}" is not an id (letters, digits and dashes)`);
  return trimmed;
}

/**
 * auth login: each value by precedence flag > environment > stored profile > prompt (TTY only).
 * The secret never comes from argv: stdin with --api-key-stdin, TCB_API_KEY, or a masked prompt.
 */
export async function login(ctx: CommandContext, input: LoginInput): Promise<LoginResult> {
  const { settings, env } = ctx;
  const stored = ctx.profile ?? {};
  const pick = async (what: string, flag: string, given: string | undefined, storedValue: string | undefined) => {
    const value = given || (settings.interactive ? await ctx.prompts.text(what, { default: storedValue }) : storedValue);
    if (!value) {
      ctx.requireInteractive(`the ${what}`, flag);
      throw new UsageError(`the ${what} is required (${flag})`);
    }
    return checkId(value, flag);
  };
  const accountId = await pick('Client account id', '--client-account-id', input.clientAccountId ?? env.TCB_CLIENT_ACCOUNT_ID, stored.client_account_id);
  const keyId = await pick('Key id', '--key-id', input.keyId ?? env.TCB_KEY_ID, stored.key_id);

  let apiKey: string | undefined;
  if (input.apiKeyFromStdin) {
    apiKey = (await readAll(input.stdin ?? process.stdin)).trim();
    if (!apiKey) throw new UsageError('--api-key-stdin was given but stdin was empty');
  } else if (env.TCB_API_KEY) {
    apiKey = env.TCB_API_KEY;
  } else {
    ctx.requireInteractive('the secret API key', '--api-key-stdin (or TCB_API_KEY)');
    apiKey = await ctx.prompts.secret('Secret API key');
  }
  redactor.addSecret(apiKey);

  let baseUrl = settings.baseUrl;
  if (settings.interactive && !input.baseUrlGiven && !env.TCB_BASE_URL) {
    const answer = await ctx.prompts.text('API base URL', { default: baseUrl });
    try {
      baseUrl = normaliseBaseUrl(answer);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }

  const credentials: Credentials = { clientAccountId: accountId, keyId, apiKey };
  // Always prove the pair, even if a cached token exists: that is what login is for.
  const issued = await createToken(ctx.anonymousClient(baseUrl), credentials);
  await ctx.tokenCache.store(cacheKey(baseUrl, credentials), issued);

  const profile: StoredProfile = { client_account_id: accountId, key_id: keyId, api_key: apiKey, base_url: baseUrl };
  await ctx.profiles.set(settings.profileName, profile);
  return {
    profile: settings.profileName,
    client_account_id: accountId,
    key_id: keyId,
    base_url: baseUrl,
    token_created_at: issued.created_at,
    config_file: ctx.profiles.path,
  };
}

export interface ProfileStatus {
  name: string;
  active: boolean;
  source: 'config' | 'environment';
  client_account_id: string | null;
  key_id: string | null;
  base_url: string;
  has_secret: boolean;
  token: { created_at: string; age_seconds: number; expires_in_seconds: number; fresh: boolean } | null;
}

export interface AuthStatus {
  active_profile: string;
  config_dir: string;
  credentials_source: string;
  profiles: ProfileStatus[];
}

function tokenSummary(entry: CachedToken | undefined, now: number): ProfileStatus['token'] {
  if (!entry?.token) return null;
  const issuedAt = tokenIssuedAt(entry);
  return {
    created_at: new Date(issuedAt).toISOString(),
    age_seconds: Math.max(0, Math.round((now - issuedAt) / 1000)),
    expires_in_seconds: Math.round((issuedAt + TOKEN_LIFETIME_MS - now) / 1000),
    fresh: isFresh(entry, now),
  };
}

/** auth status: what is stored and which profile is in force; never a secret. */
export async function status(ctx: CommandContext, now = Date.now()): Promise<AuthStatus> {
  const tokens = await ctx.tokenCache.entries();
  const active = ctx.settings.profileName;
  const rows: ProfileStatus[] = [];
  for (const [name, profile] of Object.entries(ctx.profiles.all())) {
    const baseUrl = profile.base_url ?? ctx.settings.baseUrl;
    const key = profile.client_account_id && profile.key_id
      ? cacheKey(baseUrl, { clientAccountId: profile.client_account_id, keyId: profile.key_id })
      : undefined;
    rows.push({
      name,
      active: name === active,
      source: 'config',
      client_account_id: profile.client_account_id ?? null,
      key_id: profile.key_id ?? null,
      base_url: baseUrl,
      has_secret: Boolean(profile.api_key),
      token: key ? tokenSummary(tokens[key], now) : null,
    });
  }
  const sources = resolveCredentialSources(ctx.env, ctx.profile);
  if (sources.origin === 'environment' || sources.origin === 'mixed') {
    const baseUrl = ctx.settings.baseUrl;
    const key = sources.clientAccountId && sources.keyId
      ? cacheKey(baseUrl, { clientAccountId: sources.clientAccountId, keyId: sources.keyId })
      : undefined;
    rows.unshift({
      name: '(environment)',
      active: true,
      source: 'environment',
      client_account_id: sources.clientAccountId ?? null,
      key_id: sources.keyId ?? null,
      base_url: baseUrl,
      has_secret: Boolean(sources.apiKey),
      token: key ? tokenSummary(tokens[key], now) : null,
    });
    for (const row of rows) if (row.source === 'config') row.active = false;
  }
  return { active_profile: active, config_dir: ctx.settings.configDir, credentials_source: sources.origin, profiles: rows };
}

export interface LogoutResult {
  profile: string;
  secret_removed: boolean;
  token_removed: boolean;
}

/** auth logout: drop the stored secret and the cached token; keep ids so login can prefill them. */
export async function logout(ctx: CommandContext): Promise<LogoutResult> {
  const name = ctx.settings.profileName;
  const profile = ctx.profiles.get(name);
  const sources = resolveCredentialSources(ctx.env, profile);
  let tokenRemoved = false;
  if (sources.clientAccountId && sources.keyId) {
    const key = cacheKey(ctx.settings.baseUrl, { clientAccountId: sources.clientAccountId, keyId: sources.keyId });
    tokenRemoved = (await ctx.tokenCache.read(key)) !== undefined;
    if (tokenRemoved) await ctx.tokenCache.remove(key);
  }
  const secretRemoved = Boolean(profile?.api_key) && (await ctx.profiles.forgetSecret(name));
  return { profile: name, secret_removed: secretRemoved, token_removed: tokenRemoved };
}
