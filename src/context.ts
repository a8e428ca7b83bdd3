import { ApiClient } from './api/client.js';
import { createToken } from './api/token.js';
import { DOCUMENTED_RATE_LIMITS, RateLimiterRegistry, type RateLimit } from './api/rate-limiter.js';
import { DEFAULT_RETRY_POLICY, type RetryPolicy } from './api/retry.js';
import { ProfileStore } from './auth/profiles.js';
import { unwritableDirReason } from './auth/files.js';
import { CachedTokenSource, RunTokenSource, TokenCache, cacheKey } from './auth/token-cache.js';
import {
  resolveCredentialSources,
  resolveProfileName,
  resolveColor,
  resolveSettings,
  resolveConfigDir,
  type Credentials,
  type Env,
  type GlobalFlags,
  type Settings,
  type StoredProfile,
  type Terminal,
} from './config/settings.js';
import { AuthError, UsageError } from './errors.js';
import { Output } from './output/output.js';
import { redactor } from './output/redact.js';
import { terminalPrompts, type Prompts } from './ui/prompts.js';
import { quoteValue } from './util/text.js';

/** Highest TCB_MAX_RETRIES: retries back off up to 20 s apart, so more only delays the error. */
export const MAX_RETRIES = 20;

/**
 * What a command gets: resolved settings, the output module, the profile store and,
 * on demand, credentials and an authenticated API client. Built once per invocation.
 */
export class CommandContext {
  readonly profiles: ProfileStore;
  readonly tokenCache: TokenCache;
  private client: ApiClient | undefined;
  private tokenSource: CachedTokenSource | RunTokenSource | undefined;
  /** Swapped by tests; commands ask questions only through this. */
  prompts: Prompts = terminalPrompts;
  private readonly rateLimits: Record<string, RateLimit> = { ...DOCUMENTED_RATE_LIMITS };

  constructor(
    readonly settings: Settings,
    readonly output: Output,
    readonly env: Env,
    readonly profile: StoredProfile | undefined,
  ) {
    this.profiles = new ProfileStore(settings.configDir);
    this.tokenCache = new TokenCache(settings.configDir, output);
  }

  /** Credentials by precedence env > profile; missing ones are an authentication failure (exit 3). */
  credentials(): Credentials {
    const sources = resolveCredentialSources(this.env, this.profile);
    const missing: string[] = [];
    if (!sources.clientAccountId) missing.push('client account id (TCB_CLIENT_ACCOUNT_ID)');
    if (!sources.keyId) missing.push('key id (TCB_KEY_ID)');
    if (!sources.apiKey) missing.push('secret API key (TCB_API_KEY)');
    if (missing.length > 0) {
      throw new AuthError(`no credentials for profile "${this.settings.profileName}": missing ${missing.join(', ')}`, {
        code: 'missing_credentials',
        hint: 'run `tcb auth login`, or set TCB_CLIENT_ACCOUNT_ID, TCB_KEY_ID and TCB_API_KEY',
      });
    }
    redactor.addSecret(sources.apiKey);
    return { clientAccountId: sources.clientAccountId!, keyId: sources.keyId!, apiKey: sources.apiKey! };
  }

  /** Override a documented rate limit (--rate-limit) before the first request. */
  setRateLimit(endpoint: string, rate: RateLimit): void {
    this.rateLimits[endpoint] = rate;
    this.client?.rateLimiters?.setLimit(endpoint, rate);
  }

  retryPolicy(): RetryPolicy {
    const retries = this.env.TCB_MAX_RETRIES;
    if (retries === undefined || retries === '') return DEFAULT_RETRY_POLICY;
    const parsed = /^\s*\d+\s*$/.test(retries) ? Number(retries) : NaN;
    if (!Number.isInteger(parsed) || parsed > MAX_RETRIES) {
      throw new UsageError(`TCB_MAX_RETRIES must be a whole number from 0 to ${MAX_RETRIES} (got ${quoteValue(retries)})`, {
        hint: `retries back off up to 20 s apart; more than ${MAX_RETRIES} only delays the error`,
      });
    }
    return { ...DEFAULT_RETRY_POLICY, maxRetries: parsed };
  }

  /** A client without a token source: for token creation and login checks. */
  anonymousClient(baseUrl = this.settings.baseUrl): ApiClient {
    return new ApiClient({
      baseUrl,
      timeoutMs: this.settings.timeoutMs,
      logger: this.output,
      retryPolicy: this.retryPolicy(),
    });
  }

  /** The authenticated client, its tokens cached across processes. */
  api(): ApiClient {
    if (this.client) return this.client;
    const credentials = this.credentials();
    const baseUrl = this.settings.baseUrl;
    const issuer = this.anonymousClient(baseUrl);
    const issue = async () => {
      this.output.debug('  creating a new access token');
      return createToken(issuer, credentials);
    };
    const tokens = this.tokenCacheUsable()
      ? new CachedTokenSource(this.tokenCache, cacheKey(baseUrl, credentials), issue)
      : new RunTokenSource(issue);
    this.tokenSource = tokens;
    this.client = new ApiClient({
      baseUrl,
      timeoutMs: this.settings.timeoutMs,
      logger: this.output,
      tokens,
      retryPolicy: this.retryPolicy(),
      rateLimiters: new RateLimiterRegistry(this.rateLimits),
    });
    return this.client;
  }

  /**
   * Whether tokens can be cached. A TCB_CONFIG_DIR the user chose must work (else exit 2 naming it);
   * the default location may be unusable (cron with a read-only HOME): the run then makes do with a
   * token of its own, and says how to fix it.
   */
  private tokenCacheUsable(): boolean {
    if (this.env.TCB_CONFIG_DIR) return true;
    const reason = unwritableDirReason(this.settings.configDir);
    if (reason === undefined) return true;
    this.output.warn(
      `cannot write the config directory ${this.settings.configDir} (${reason}): tokens are not cached, so every run creates one (the API allows 10 per 30 minutes); set TCB_CONFIG_DIR to a directory this user can write`,
    );
    return false;
  }

  /** A valid bearer token for the active credentials (cached, or created under the lock). */
  async accessToken(): Promise<string> {
    this.api();
    return this.tokenSource!.current();
  }

  /** Fails at once, naming the flag, when a prompt would be needed without a TTY (design.md §3). */
  requireInteractive(what: string, flag: string): void {
    if (!this.settings.interactive) {
      throw new UsageError(`${what} needs a terminal to prompt; without one, use ${flag}`, { hint: `pass ${flag}` });
    }
  }
}

export function currentTerminal(): Terminal {
  return {
    stdinIsTTY: Boolean(process.stdin.isTTY),
    stdoutIsTTY: Boolean(process.stdout.isTTY),
    stderrIsTTY: Boolean(process.stderr.isTTY),
  };
}

export function createContext(flags: GlobalFlags, env: Env = process.env, terminal = currentTerminal()): CommandContext {
  const profileName = resolveProfileName(flags, env);
  const profiles = new ProfileStore(resolveConfigDir(env));
  const profile = profiles.get(profileName);
  let settings: Settings;
  try {
    settings = resolveSettings(flags, env, terminal, profile);
  } catch (error) {
    if (error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  const output = new Output({
    format: settings.format,
    color: settings.color,
    stderrColor: settings.stderrColor,
    stderrIsTTY: settings.stderrIsTTY,
    verbose: settings.verbose,
    quiet: settings.quiet,
  });
  return new CommandContext(settings, output, env, profile);
}

/** The output used to report an error raised before the context existed (e.g. a bad --format). */
export function fallbackOutput(flags: GlobalFlags, env: Env = process.env, terminal = currentTerminal()): Output {
  let format: Settings['format'] = terminal.stdoutIsTTY ? 'table' : 'json';
  if (flags.json || flags.format === 'json' || flags.format === 'ndjson') format = 'json';
  return new Output({
    format,
    color: false,
    stderrColor: resolveColor(flags, env, terminal.stderrIsTTY),
    stderrIsTTY: terminal.stderrIsTTY,
    verbose: Boolean(flags.verbose) || env.TCB_DEBUG === '1',
    quiet: Boolean(flags.quiet),
  });
}
