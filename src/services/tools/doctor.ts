import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';
import { ApiClient, type ApiResponse } from '../../api/client.js';
import { UNKNOWN_ENDPOINT } from '../../api/endpoints.js';
import { DOCUMENTED_RATE_LIMITS, RateLimiterRegistry } from '../../api/rate-limiter.js';
import { DEFAULT_RETRY_POLICY, networkCode } from '../../api/retry.js';
import { createToken } from '../../api/token.js';
import { CachedTokenSource, cacheKey, tokenIssuedAt, TOKEN_LIFETIME_MS } from '../../auth/token-cache.js';
import type { Credentials } from '../../config/settings.js';
import type { CommandContext } from '../../context.js';
import { AuthError, ExitCode, isTcbError, TransientError, UsageError, type TcbError } from '../../errors.js';
import { formatDuration } from '../../util/time.js';

/**
 * tcb doctor: what is wrong with this setup. Checks run in a fixed order and later ones are
 * skipped when what they need failed. Nothing here prints a secret, and the whole run creates
 * at most one token (its quota is 10 per 30 minutes).
 */
export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
  hint: string | null;
  [extra: string]: unknown;
}

export interface DoctorReport {
  ok: boolean;
  checks: CheckResult[];
}

export interface DoctorOptions {
  /** --store: the webhook store to open. */
  store?: string;
  now?: () => number;
}

/** package.json "engines": node >=20. */
export const MIN_NODE_MAJOR = 20;
/** Call reasons are checked against the server's "now"; these bounds say when skew matters. */
export const CLOCK_WARN_SECONDS = 30;
export const CLOCK_FAIL_SECONDS = 300;

/** The exit class of each failed check: 2 configuration, 3 authentication, 5 unreachable. */
const FAILURE_CLASS = new WeakMap<CheckResult, number>();

function result(name: string, status: CheckStatus, detail: string, hint: string | null = null, extra: Record<string, unknown> = {}): CheckResult {
  return { name, status, detail, hint, ...extra };
}

function failed(name: string, exitCode: number, detail: string, hint: string | null, extra: Record<string, unknown> = {}): CheckResult {
  const check = result(name, 'fail', detail, hint, extra);
  FAILURE_CLASS.set(check, exitCode);
  return check;
}

function skipped(name: string, why: string): CheckResult {
  return result(name, 'skip', `skipped: ${why}`);
}

function fromError(name: string, error: unknown, extra: Record<string, unknown> = {}): CheckResult {
  if (!isTcbError(error)) throw error;
  return failed(name, error.exitCode, error.message, error.hint ?? null, extra);
}

// --- node ---

export function checkNode(version = process.versions.node): CheckResult {
  const major = Number(version.split('.')[0]);
  if (major >= MIN_NODE_MAJOR) return result('node', 'ok', `Node.js ${version} (tcb needs ${MIN_NODE_MAJOR} or later)`);
  return failed('node', ExitCode.usage, `Node.js ${version} is too old: tcb needs ${MIN_NODE_MAJOR} or later`, `install Node.js ${MIN_NODE_MAJOR} or later`);
}

// --- config ---

interface ModeProblem {
  path: string;
  mode: string;
}

const octal = (mode: number) => (mode & 0o777).toString(8).padStart(4, '0');

/** Everything tcb keeps in its config dir must be owner-only; lock files come and go, so they are left out. */
async function walkModes(root: string, dir = root, depth = 0, found: { entries: string[]; problems: ModeProblem[] } = { entries: [], problems: [] }) {
  const entries = await readdir(dir, { withFileTypes: true });
  for (const entry of entries) {
    if (entry.name.endsWith('.lock') || entry.name.endsWith('.tmp')) continue;
    const full = path.join(dir, entry.name);
    const info = await lstat(full);
    if (info.isSymbolicLink()) continue;
    if (found.entries.length < 1000) found.entries.push(`${path.relative(root, full)} ${octal(info.mode)}`);
    if ((info.mode & 0o077) !== 0) found.problems.push({ path: full, mode: octal(info.mode) });
    if (info.isDirectory() && depth < 3) await walkModes(root, full, depth + 1, found);
  }
  return found;
}

export async function checkConfig(ctx: CommandContext, platform = process.platform): Promise<CheckResult> {
  const dir = ctx.settings.configDir;
  let info;
  try {
    info = await lstat(dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return result('config', 'skip', `${dir} does not exist yet (tcb auth login creates it; environment credentials need none)`, null, { path: dir });
    }
    return failed('config', ExitCode.usage, `cannot read ${dir}: ${(error as Error).message}`, 'set TCB_CONFIG_DIR to a directory this user owns');
  }
  if (!info.isDirectory()) {
    return failed('config', ExitCode.usage, `${dir} is not a directory`, 'remove it, or set TCB_CONFIG_DIR to a directory');
  }
  const profiles = Object.keys(ctx.profiles.all());
  const profileText = profiles.length > 0 ? `profiles: ${profiles.join(', ')}` : 'no stored profiles';
  if (platform === 'win32') {
    return result('config', 'ok', `${dir}; ${profileText} (file modes are not checked on Windows)`, null, { path: dir, profiles });
  }
  const problems: ModeProblem[] = [];
  if ((info.mode & 0o077) !== 0) problems.push({ path: dir, mode: octal(info.mode) });
  let walked;
  try {
    walked = await walkModes(dir);
  } catch (error) {
    return failed('config', ExitCode.usage, `cannot read ${dir}: ${(error as Error).message}`, 'fix the permissions of the config directory');
  }
  problems.push(...walked.problems);
  const files = ['config.json', 'tokens.json'].filter((name) => walked.entries.some((entry) => entry.startsWith(`${name} `)));
  const summary = `${dir} (${octal(info.mode)})${files.length > 0 ? `: ${walked.entries.filter((e) => files.some((f) => e.startsWith(`${f} `))).join(', ')}` : ''}; ${profileText}`;
  if (problems.length > 0) {
    const shown = problems.slice(0, 5).map((p) => `${p.path} ${p.mode}`).join(', ');
    return failed(
      'config',
      ExitCode.usage,
      `readable or writable by others: ${shown}${problems.length > 5 ? ` and ${problems.length - 5} more` : ''} (it holds the secret key and tokens)`,
      `chmod -R go-rwx ${shellQuote(dir)}   (directories 0700, files 0600)`,
      { path: dir, profiles, open_to_others: problems },
    );
  }
  return result('config', 'ok', summary, null, { path: dir, profiles });
}

function shellQuote(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

// --- credentials ---

type Source = 'environment' | 'profile' | 'missing';

export function checkCredentials(ctx: CommandContext): { check: CheckResult; credentials?: Credentials } {
  const profileName = ctx.settings.profileName;
  const fields = [
    { key: 'client_account_id', label: 'client account id', env: 'TCB_CLIENT_ACCOUNT_ID', stored: ctx.profile?.client_account_id, secret: false },
    { key: 'key_id', label: 'key id', env: 'TCB_KEY_ID', stored: ctx.profile?.key_id, secret: false },
    { key: 'api_key', label: 'secret API key', env: 'TCB_API_KEY', stored: ctx.profile?.api_key, secret: true },
  ] as const;
  const sources: Record<string, Source> = {};
  const values: Record<string, string | undefined> = {};
  const parts: string[] = [];
  for (const field of fields) {
    const fromEnv = ctx.env[field.env];
    const value = fromEnv ? fromEnv : field.stored ? field.stored : undefined;
    const source: Source = fromEnv ? 'environment' : field.stored ? 'profile' : 'missing';
    sources[field.key] = source;
    values[field.key] = value;
    const where = source === 'environment' ? field.env : source === 'profile' ? `profile "${profileName}"` : 'missing';
    parts.push(source === 'missing' ? `${field.label} missing` : `${field.label}${field.secret ? '' : ` ${value}`} from ${where}`);
  }
  const extra = {
    profile: profileName,
    sources,
    client_account_id: values.client_account_id ?? null,
    key_id: values.key_id ?? null,
  };
  const missing = fields.filter((field) => sources[field.key] === 'missing');
  if (missing.length > 0) {
    return {
      check: failed(
        'credentials',
        ExitCode.auth,
        parts.join('; '),
        `run \`tcb auth login${profileName === 'default' ? '' : ` --profile ${profileName}`}\`, or set ${missing.map((field) => field.env).join(', ')}`,
        extra,
      ),
    };
  }
  return {
    check: result('credentials', 'ok', parts.join('; '), null, extra),
    credentials: ctx.credentials(),
  };
}

// --- api ---

interface ClockSample {
  /** The Date header, ms. */
  serverMs: number;
  /** This machine's time halfway through the request. */
  localMs: number;
}

const TLS_CODES = /CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_(GET|VERIFY)|ERR_TLS/;

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || hostname === '::1' || /^127\./.test(hostname);
}

export async function checkApi(ctx: CommandContext, now: () => number): Promise<{ check: CheckResult; clock?: ClockSample }> {
  const baseUrl = ctx.settings.baseUrl;
  const url = new URL(baseUrl);
  // One try, any status: this asks only whether an HTTP server answers at the base URL.
  const probe = new ApiClient({
    baseUrl,
    timeoutMs: ctx.settings.timeoutMs,
    logger: ctx.output,
    retryPolicy: { ...DEFAULT_RETRY_POLICY, maxRetries: 0 },
  });
  const started = now();
  let response: ApiResponse<unknown>;
  try {
    response = await probe.request({ endpoint: UNKNOWN_ENDPOINT, method: 'GET', path: '/', auth: false, acceptStatus: () => true });
  } catch (error) {
    // The client's error carries its own code; the socket's is on the cause it wraps.
    const code = networkCode(error instanceof Error && error.cause !== undefined ? error.cause : error);
    if (code && TLS_CODES.test(code)) {
      return {
        check: failed('api', ExitCode.transient, `${baseUrl}: TLS failed (${code})`, 'the certificate was refused: check the base URL, the system clock, and NODE_EXTRA_CA_CERTS if a proxy re-signs TLS', { url: baseUrl, tls: code }),
      };
    }
    return { check: fromError('api', error, { url: baseUrl }) };
  }
  const finished = now();
  const latencyMs = finished - started;
  const tls = url.protocol === 'https:' ? 'TLS certificate verified' : 'plain HTTP, no TLS';
  const extra = { url: baseUrl, http_status: response.status, latency_ms: latencyMs, tls: url.protocol === 'https:' };
  const dateHeader = response.headers.get('date');
  const serverMs = dateHeader ? Date.parse(dateHeader) : Number.NaN;
  const clock = Number.isFinite(serverMs) ? { serverMs, localMs: (started + finished) / 2 } : undefined;
  const detail = `${baseUrl} answered HTTP ${response.status} in ${latencyMs} ms; ${tls}`;
  if (url.protocol !== 'https:' && !isLoopback(url.hostname)) {
    return { check: result('api', 'warn', detail, 'the token and the secret key would cross the network unencrypted: use an https base URL', extra), clock };
  }
  return { check: result('api', 'ok', detail, null, extra), clock };
}

// --- token ---

/** A token source that may create one token in this run and no more. */
function oneTokenSource(ctx: CommandContext, credentials: Credentials) {
  let created = 0;
  const issuer = ctx.anonymousClient();
  const source = new CachedTokenSource(ctx.tokenCache, cacheKey(ctx.settings.baseUrl, credentials), async () => {
    if (created > 0) {
      throw new AuthError('the API refused the token doctor had just created', {
        code: 'unauthorized',
        hint: 'check the key pair and the client account id (tcb auth login)',
      });
    }
    created += 1;
    return createToken(issuer, credentials);
  });
  return { source, created: () => created };
}

export async function checkToken(
  ctx: CommandContext,
  credentials: Credentials,
  tokens: ReturnType<typeof oneTokenSource>,
  now: () => number,
): Promise<CheckResult> {
  try {
    await tokens.source.current();
  } catch (error) {
    return fromError('token', error);
  }
  const entry = await ctx.tokenCache.read(cacheKey(ctx.settings.baseUrl, credentials));
  const created = tokens.created() > 0;
  if (!entry) return result('token', 'ok', created ? 'created a new token' : 'a valid token', null, { created });
  const issuedAt = tokenIssuedAt(entry);
  const ageMs = Math.max(0, now() - issuedAt);
  const leftMs = issuedAt + TOKEN_LIFETIME_MS - now();
  const detail = created
    ? `created a new token (cached in ${ctx.tokenCache.file}; reused for about ${formatDuration(Math.max(0, leftMs - 5 * 60_000))})`
    : `cached token, ${formatDuration(ageMs)} old, ${formatDuration(Math.max(0, leftMs))} left`;
  return result('token', 'ok', detail, null, {
    created,
    created_at: new Date(issuedAt).toISOString(),
    age_seconds: Math.round(ageMs / 1000),
  });
}

// --- clock ---

/** Server minus local, whole seconds. The Date header is cut to the second, so its middle is the best guess. */
export function skewSeconds(sample: ClockSample): number {
  return Math.round((sample.serverMs + 500 - sample.localMs) / 1000);
}

export function checkClock(sample: ClockSample | undefined): CheckResult {
  if (!sample) return skipped('clock', 'the API sent no Date header');
  const skew = skewSeconds(sample);
  const size = Math.abs(skew);
  const extra = { skew_seconds: skew };
  const direction = skew > 0 ? 'ahead of' : 'behind';
  const hint = 'set this machine\'s clock from NTP (e.g. timedatectl set-ntp true): call reasons are checked against the server\'s "now", so valid records fail';
  if (size >= CLOCK_FAIL_SECONDS) {
    return failed('clock', ExitCode.usage, `the API server's clock is ${size} s ${direction} this machine's (fails at ${CLOCK_FAIL_SECONDS} s)`, hint, extra);
  }
  if (size >= CLOCK_WARN_SECONDS) {
    return result('clock', 'warn', `the API server's clock is ${size} s ${direction} this machine's (warns at ${CLOCK_WARN_SECONDS} s)`, hint, extra);
  }
  return result('clock', 'ok', `in step with the API server (skew ${skew} s; the Date header counts whole seconds)`, null, extra);
}

// --- access ---

export interface AccessArea {
  area: string;
  /** The feature's access level as the console's Manage API Keys dialog names it. */
  accessLevel: string;
  endpoint: string;
  path: (accountId: string, now: number) => string;
}

const PLACEHOLDER_ID = '00000000-0000-0000-0000-000000000000';

/** One cheap GET per API area; a missing batch or survey is fine: only 403 means "no access". */
export const ACCESS_AREAS: readonly AccessArea[] = [
  { area: 'labels', accessLevel: 'Labels', endpoint: 'labels-get', path: (id) => `/clients/${id}/labels?page=1&limit=1` },
  {
    area: 'number-management',
    accessLevel: 'Number Management',
    endpoint: 'feature-sets-get',
    path: (id) => `/clients/${id}/number_management/feature_sets?page=1&limit=1`,
  },
  {
    area: 'call-personalisation',
    accessLevel: 'Call Personalisation',
    endpoint: 'cp-batch-v2-status',
    path: (id) => `/v2/clients/${id}/dynamic_call_records?batchId=${PLACEHOLDER_ID}`,
  },
  {
    area: 'call-me-back',
    accessLevel: 'Call Me Back',
    endpoint: 'cmb-logs-v1',
    path: (id, now) => `/clients/${id}/openapi/callback-logs/summary?from=${now - 60_000}&to=${now}`,
  },
  {
    area: 'user-feedback',
    accessLevel: 'User Feedback',
    endpoint: 'user-feedback-logs-v1',
    path: (id, now) => `/clients/${id}/openapi/feedback_stack/${PLACEHOLDER_ID}/export_report?from_date=${now}`,
  },
];

type AreaStatus = 'ok' | 'forbidden' | 'unknown';

interface AreaResult {
  area: string;
  access_level: string;
  endpoint: string;
  status: AreaStatus;
  http_status: number | null;
  /** Why the answer says nothing about access (5xx, network, 429). */
  reason?: string;
}

export async function checkAccess(
  ctx: CommandContext,
  credentials: Credentials,
  tokens: ReturnType<typeof oneTokenSource>,
  now: () => number,
): Promise<CheckResult> {
  const client = new ApiClient({
    baseUrl: ctx.settings.baseUrl,
    timeoutMs: ctx.settings.timeoutMs,
    logger: ctx.output,
    tokens: tokens.source,
    retryPolicy: ctx.retryPolicy(),
    rateLimiters: new RateLimiterRegistry({ ...DOCUMENTED_RATE_LIMITS }),
  });
  const accountId = encodeURIComponent(credentials.clientAccountId);
  const at = now();
  let refused: TcbError | undefined;
  const areas = await Promise.all(
    ACCESS_AREAS.map(async (area): Promise<AreaResult> => {
      const base = { area: area.area, access_level: area.accessLevel, endpoint: area.endpoint };
      try {
        const response = await client.request({
          endpoint: area.endpoint,
          method: 'GET',
          path: area.path(accountId, at),
          // Any answer past authorisation says the key may use the area (a 404 for the dummy id too).
          acceptStatus: (status) => status < 400 || (status < 500 && ![401, 403, 408, 429].includes(status)),
        });
        return { ...base, status: 'ok', http_status: response.status };
      } catch (error) {
        if (!isTcbError(error)) throw error;
        if (error.httpStatus === 403) return { ...base, status: 'forbidden', http_status: 403 };
        if (error instanceof AuthError) refused ??= error;
        return { ...base, status: 'unknown', http_status: error.httpStatus ?? null, reason: error.message };
      }
    }),
  );
  const extra = { areas };
  if (refused) return failed('access', refused.exitCode, refused.message, refused.hint ?? null, extra);
  const words = areas.map((a) => `${a.access_level} ${a.status === 'unknown' ? `unknown (${a.http_status ?? 'no answer'})` : a.status}`);
  const forbidden = areas.filter((a) => a.status === 'forbidden');
  const unknown = areas.filter((a) => a.status === 'unknown');
  if (forbidden.length > 0) {
    const levels = forbidden.map((a) => `"${a.access_level}"`).join(', ');
    return result(
      'access',
      'warn',
      words.join(', '),
      `this key lacks the ${levels} access level${forbidden.length > 1 ? 's' : ''}: tcb commands for ${forbidden.length > 1 ? 'those areas' : 'that area'} exit 3. Create a key with ${forbidden.length > 1 ? 'them' : 'it'} under Manage API Keys in the console`,
      extra,
    );
  }
  if (unknown.length > 0) {
    return result('access', 'warn', words.join(', '), 'some areas could not be checked (see the status); run again later, or with --verbose', extra);
  }
  return result('access', 'ok', words.join(', '), null, extra);
}

// --- webhook store ---

export async function checkWebhookStore(store: string | undefined): Promise<CheckResult> {
  let sqliteVersion: string;
  try {
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(':memory:');
    try {
      sqliteVersion = (db.prepare('SELECT sqlite_version() AS version').get() as { version: string }).version;
    } finally {
      db.close();
    }
  } catch (error) {
    const detail = `the native SQLite module (better-sqlite3) does not load: ${(error as Error).message.split('\n')[0]}`;
    const hint = 'reinstall tcb, or run `npm rebuild better-sqlite3` where it is installed (it needs a C++ toolchain when no prebuilt binary fits)';
    // Only `webhook listen` and `--source webhook` need it: a warning, unless a store was asked for.
    return store ? failed('webhook-store', ExitCode.usage, detail, hint) : result('webhook-store', 'warn', detail, hint);
  }
  if (!store) {
    return result('webhook-store', 'ok', `better-sqlite3 loads (SQLite ${sqliteVersion}); pass --store FILE to check a store`, null, { sqlite_version: sqliteVersion });
  }
  if ((await lstat(store).catch(() => undefined))?.isDirectory()) {
    return failed('webhook-store', ExitCode.usage, `${path.resolve(store)} is a directory, not a webhook store`, 'pass the --store file that `tcb webhook listen` writes', { store });
  }
  const { WebhookStore } = await import('../webhooks/store.js');
  try {
    const opened = new WebhookStore(store, { readonly: true });
    try {
      const events = opened.count();
      return result('webhook-store', 'ok', `${opened.file}: a tcb webhook store with ${events} event${events === 1 ? '' : 's'} (SQLite ${sqliteVersion})`, null, {
        sqlite_version: sqliteVersion,
        store: opened.file,
        events,
        last_seq: opened.lastSeq(),
      });
    } finally {
      opened.close();
    }
  } catch (error) {
    if (error instanceof UsageError) {
      return failed('webhook-store', ExitCode.usage, error.message, error.hint ?? 'pass the --store file that `tcb webhook listen` writes', { store });
    }
    throw error;
  }
}

// --- the run ---

export async function runDoctor(ctx: CommandContext, options: DoctorOptions = {}): Promise<DoctorReport & { exitCode: number }> {
  const now = options.now ?? Date.now;
  const checks: CheckResult[] = [checkNode(), await checkConfig(ctx)];

  const { check: credentialsCheck, credentials } = checkCredentials(ctx);
  checks.push(credentialsCheck);
  const { check: apiCheck, clock } = await checkApi(ctx, now);
  checks.push(apiCheck);

  const apiUsable = apiCheck.status !== 'fail';
  if (!credentials || !apiUsable) {
    const why = !apiUsable ? 'the API is not reachable' : 'credentials are missing';
    checks.push(skipped('token', why));
    checks.push(apiUsable ? checkClock(clock) : skipped('clock', why));
    checks.push(skipped('access', why));
  } else {
    const tokens = oneTokenSource(ctx, credentials);
    const tokenCheck = await checkToken(ctx, credentials, tokens, now);
    checks.push(tokenCheck);
    checks.push(checkClock(clock));
    checks.push(tokenCheck.status === 'fail' ? skipped('access', 'no valid token') : await checkAccess(ctx, credentials, tokens, now));
  }
  checks.push(await checkWebhookStore(options.store));

  const firstFailure = checks.find((check) => check.status === 'fail');
  return {
    ok: firstFailure === undefined,
    checks,
    exitCode: firstFailure ? (FAILURE_CLASS.get(firstFailure) ?? ExitCode.usage) : ExitCode.ok,
  };
}

/** The error that makes the exit code: the class of the first failed check. */
export function doctorFailure(report: DoctorReport & { exitCode: number }): TcbError | undefined {
  const failures = report.checks.filter((check) => check.status === 'fail');
  if (failures.length === 0) return undefined;
  const first = failures[0]!;
  const message = `${failures.length} check${failures.length === 1 ? '' : 's'} failed (${failures.map((f) => f.name).join(', ')}); first: ${first.name}: ${first.detail}`;
  const extra = { hint: first.hint ?? undefined, details: { failed: failures.map((f) => f.name) } };
  if (report.exitCode === ExitCode.auth) return new AuthError(message, { ...extra, code: 'doctor_failed' });
  if (report.exitCode === ExitCode.transient) return new TransientError(message, { ...extra, code: 'doctor_failed' });
  return new UsageError(message, extra);
}
