import path from 'node:path';
import type { Credentials } from '../config/settings.js';
import { redactor } from '../output/redact.js';
import type { TokenSource } from '../api/client.js';
import { TransientError } from '../errors.js';
import { configLocationError, ensurePrivateDir, readJsonFile, writePrivateJson } from './files.js';

/** Tokens live 60 minutes; reuse one until 5 minutes before it expires. */
export const TOKEN_LIFETIME_MS = 60 * 60_000;
export const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

export interface CachedToken {
  token: string;
  created_at: string;
  /** When this machine received it: the fallback when created_at is unreadable. */
  obtained_at: string;
}

type CacheFile = Record<string, CachedToken>;

export interface IssuedToken {
  token: string;
  created_at: string;
}

export function cacheKey(baseUrl: string, credentials: Pick<Credentials, 'clientAccountId' | 'keyId'>): string {
  return `${baseUrl}|${credentials.clientAccountId}|${credentials.keyId}`;
}

export function tokenIssuedAt(entry: CachedToken): number {
  const created = Date.parse(entry.created_at);
  const obtained = Date.parse(entry.obtained_at);
  // Trust the server's created_at unless it is unreadable or in our future (clock skew).
  if (Number.isFinite(created) && (!Number.isFinite(obtained) || created <= obtained + 60_000)) return created;
  return Number.isFinite(obtained) ? obtained : 0;
}

export function isFresh(entry: CachedToken | undefined, now: number): entry is CachedToken {
  if (!entry?.token) return false;
  return now < tokenIssuedAt(entry) + TOKEN_LIFETIME_MS - TOKEN_REFRESH_MARGIN_MS;
}

/**
 * The token cache: one 0600 file in TCB_CONFIG_DIR keyed by base URL + account + key id.
 * Creating a token happens under an inter-process lock and re-reads the cache once the lock is
 * held, so processes starting together create one token between them (quota: 10 per 30 min).
 */
export class TokenCache {
  readonly file: string;

  /** `log` hears (with --verbose) when another process holds the lock and this one waits. */
  constructor(
    readonly configDir: string,
    private readonly log?: { debug(message: string): void },
  ) {
    this.file = path.join(configDir, 'tokens.json');
  }

  async read(key: string): Promise<CachedToken | undefined> {
    const entry = (await readJsonFile<CacheFile>(this.file))?.[key];
    if (entry?.token) redactor.addSecret(entry.token);
    return entry;
  }

  async entries(): Promise<CacheFile> {
    return (await readJsonFile<CacheFile>(this.file)) ?? {};
  }

  private async write(key: string, entry: CachedToken | undefined): Promise<void> {
    const all = (await readJsonFile<CacheFile>(this.file)) ?? {};
    if (entry) all[key] = entry;
    else delete all[key];
    await writePrivateJson(this.file, all);
  }

  /** Keep a token created elsewhere (auth login proves the key pair with one). */
  async store(key: string, issued: IssuedToken, now = Date.now()): Promise<void> {
    redactor.addSecret(issued.token);
    await this.withLock(() =>
      this.write(key, { token: issued.token, created_at: issued.created_at, obtained_at: new Date(now).toISOString() }),
    );
  }

  async remove(key: string): Promise<void> {
    await this.withLock(() => this.write(key, undefined));
  }

  async withLock<T>(work: () => Promise<T>): Promise<T> {
    await ensurePrivateDir(this.configDir);
    // proper-lockfile tracks locks by the path given, so lock the cache file itself (it need not
    // exist: realpath is off) rather than the directory other modules may lock too.
    // Loaded here: only creating, storing or removing a token takes the lock.
    const { default: lockfile } = await import('proper-lockfile');
    const options = { lockfilePath: path.join(this.configDir, 'tokens.lock'), realpath: false, stale: 15_000 };
    const release = await lockfile
      .lock(this.file, { ...options, retries: 0 })
      .catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code !== 'ELOCKED') throw error;
        this.log?.debug('  waiting for the token cache lock: another tcb process is creating a token');
        return lockfile.lock(this.file, { ...options, retries: { retries: 200, factor: 1.2, minTimeout: 20, maxTimeout: 250, randomize: true } });
      })
      .catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'ELOCKED') {
          throw new TransientError(`the token cache ${this.file} stayed locked by another tcb process`, {
            code: 'token_cache_locked',
            hint: 'try again; a crashed process leaves a stale lock that expires after 15 s',
          });
        }
        throw configLocationError(error, this.file);
      });
    try {
      return await work();
    } finally {
      await release();
    }
  }

  /**
   * A valid token for key: the cached one, or a new one from `issue`.
   * `rejected` is a token the API just refused: it is replaced even if it looks fresh.
   */
  async obtain(
    key: string,
    issue: () => Promise<IssuedToken>,
    options: { rejected?: string; now?: () => number } = {},
  ): Promise<{ token: string; created: boolean }> {
    const now = options.now ?? Date.now;
    const usable = (entry: CachedToken | undefined): entry is CachedToken =>
      isFresh(entry, now()) && entry.token !== options.rejected;
    const cached = await this.read(key);
    if (usable(cached)) return { token: cached.token, created: false };
    return this.withLock(async () => {
      const again = await this.read(key);
      if (usable(again)) return { token: again.token, created: false };
      const issued = await issue();
      redactor.addSecret(issued.token);
      await this.write(key, { token: issued.token, created_at: issued.created_at, obtained_at: new Date(now()).toISOString() });
      return { token: issued.token, created: true };
    });
  }
}

/** Adapts the cache to the HTTP client's TokenSource for one set of credentials. */
export class CachedTokenSource implements TokenSource {
  private token: string | undefined;
  /** Re-read the cache after this time, so long runs pick up a token renewed before expiry. */
  private recheckAt = 0;

  constructor(
    private readonly cache: TokenCache,
    private readonly key: string,
    private readonly issue: () => Promise<IssuedToken>,
  ) {}

  async current(): Promise<string> {
    if (!this.token || Date.now() >= this.recheckAt) await this.load();
    return this.token!;
  }

  async renew(rejected: string): Promise<string> {
    await this.load(rejected);
    return this.token!;
  }

  private async load(rejected?: string): Promise<void> {
    this.token = (await this.cache.obtain(this.key, this.issue, { rejected })).token;
    const entry = await this.cache.read(this.key);
    this.recheckAt =
      entry && entry.token === this.token
        ? tokenIssuedAt(entry) + TOKEN_LIFETIME_MS - TOKEN_REFRESH_MARGIN_MS
        : Date.now() + 60_000;
  }
}

/**
 * Tokens for one run only, when there is no usable place for the cache (a cron job whose HOME
 * cannot be written): one token is created on first use and shared by every request of the run.
 */
export class RunTokenSource implements TokenSource {
  private token: Promise<string> | undefined;

  constructor(private readonly issue: () => Promise<IssuedToken>) {}

  current(): Promise<string> {
    this.token ??= this.issue().then(
      (issued) => {
        redactor.addSecret(issued.token);
        return issued.token;
      },
      (error: unknown) => {
        this.token = undefined;
        throw error;
      },
    );
    return this.token;
  }

  async renew(rejected: string): Promise<string> {
    if ((await this.current()) === rejected) this.token = undefined;
    return this.current();
  }
}
