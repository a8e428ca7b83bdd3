import os from 'node:os';
import path from 'node:path';

export const DEFAULT_BASE_URL = 'https://enterprise-portal-noneu.truecaller.com';
export const DEFAULT_PROFILE = 'default';
export const DEFAULT_TIMEOUT_SECONDS = 30;

export const FORMATS = ['table', 'json', 'ndjson', 'csv'] as const;
export type Format = (typeof FORMATS)[number];

/** The global flags as commander hands them over (after `optsWithGlobals()`). */
export interface GlobalFlags {
  profile?: string;
  baseUrl?: string;
  format?: string;
  json?: boolean;
  color?: boolean; // commander turns --no-color into color: false
  timeout?: string;
  verbose?: boolean;
  quiet?: boolean;
  yes?: boolean;
}

export interface StoredProfile {
  client_account_id?: string;
  key_id?: string;
  api_key?: string;
  base_url?: string;
}

export interface Settings {
  profileName: string;
  baseUrl: string;
  format: Format;
  /** The user chose the format (flag or TCB_FORMAT) rather than the TTY default. */
  formatExplicit: boolean;
  /** Where the format came from: a file's extension beats TCB_FORMAT and the default, not a flag. */
  formatSource: 'flag' | 'env' | 'default';
  color: boolean;
  stderrColor: boolean;
  timeoutMs: number;
  verbose: boolean;
  quiet: boolean;
  yes: boolean;
  configDir: string;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
  /** true when prompts may be shown: stdin and stdout are TTYs and CI is not set. */
  interactive: boolean;
}

export interface Terminal {
  stdinIsTTY: boolean;
  stdoutIsTTY: boolean;
  stderrIsTTY: boolean;
}

export type Env = Record<string, string | undefined>;

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** XDG config dir `tcb/` (no `-nodejs` suffix), or TCB_CONFIG_DIR. */
export function resolveConfigDir(env: Env, platform = process.platform, home = os.homedir()): string {
  const explicit = nonEmpty(env.TCB_CONFIG_DIR);
  if (explicit) return path.resolve(explicit);
  if (platform === 'win32') {
    return path.join(nonEmpty(env.APPDATA) ?? path.join(home, 'AppData', 'Roaming'), 'tcb');
  }
  if (platform === 'darwin' && !nonEmpty(env.XDG_CONFIG_HOME)) {
    return path.join(home, 'Library', 'Preferences', 'tcb');
  }
  return path.join(nonEmpty(env.XDG_CONFIG_HOME) ?? path.join(home, '.config'), 'tcb');
}

export function resolveProfileName(flags: GlobalFlags, env: Env): string {
  return nonEmpty(flags.profile) ?? nonEmpty(env.TCB_PROFILE) ?? DEFAULT_PROFILE;
}

/** Colour: --no-color and NO_COLOR turn it off, FORCE_COLOR turns it on, else it follows the TTY. */
export function resolveColor(flags: GlobalFlags, env: Env, isTTY: boolean): boolean {
  if (flags.color === false) return false;
  const force = env.FORCE_COLOR;
  if (force !== undefined) {
    return !(force === '0' || force.toLowerCase() === 'false');
  }
  if (nonEmpty(env.NO_COLOR)) return false;
  if (env.TERM === 'dumb') return false;
  return isTTY;
}

export function parseFormat(value: string, source: string): Format {
  const format = value.toLowerCase();
  if ((FORMATS as readonly string[]).includes(format)) return format as Format;
  throw new RangeError(`${source} must be one of ${FORMATS.join(', ')} (got "${value}")`);
}

export function resolveFormat(flags: GlobalFlags, env: Env, stdoutIsTTY: boolean): Format {
  if (flags.json) {
    // --json is --format json: with another --format the user asked for two things.
    if (nonEmpty(flags.format) && parseFormat(flags.format!, '--format') !== 'json') {
      throw new RangeError(`--json and --format ${flags.format} conflict: --json means --format json; give one of them`);
    }
    return 'json';
  }
  if (nonEmpty(flags.format)) return parseFormat(flags.format!, '--format');
  if (nonEmpty(env.TCB_FORMAT)) return parseFormat(env.TCB_FORMAT!, 'TCB_FORMAT');
  return stdoutIsTTY ? 'table' : 'json';
}

/** Timers in Node hold at most 2^31-1 ms. */
const MAX_TIMEOUT_SECONDS = 2_147_483;

export function parseTimeoutSeconds(value: string, source: string): number {
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0.001 || seconds > MAX_TIMEOUT_SECONDS) {
    throw new RangeError(`${source} must be a number of seconds from 0.001 to ${MAX_TIMEOUT_SECONDS} (got "${value}")`);
  }
  return seconds;
}

function isTruthy(value: string | undefined): boolean {
  return value !== undefined && value !== '' && value !== '0' && value.toLowerCase() !== 'false';
}

/**
 * Precedence everywhere: flag > environment variable > stored profile > default.
 * Pure, so the rules are unit-tested without a process.
 */
export function resolveSettings(
  flags: GlobalFlags,
  env: Env,
  terminal: Terminal,
  profile: StoredProfile | undefined,
): Settings {
  const timeoutSeconds = nonEmpty(flags.timeout)
    ? parseTimeoutSeconds(flags.timeout!, '--timeout')
    : nonEmpty(env.TCB_TIMEOUT)
      ? parseTimeoutSeconds(env.TCB_TIMEOUT!, 'TCB_TIMEOUT')
      : DEFAULT_TIMEOUT_SECONDS;
  return {
    profileName: resolveProfileName(flags, env),
    baseUrl: normaliseBaseUrl(
      nonEmpty(flags.baseUrl) ?? nonEmpty(env.TCB_BASE_URL) ?? nonEmpty(profile?.base_url) ?? DEFAULT_BASE_URL,
    ),
    format: resolveFormat(flags, env, terminal.stdoutIsTTY),
    formatExplicit: Boolean(flags.json || nonEmpty(flags.format) || nonEmpty(env.TCB_FORMAT)),
    formatSource: flags.json || nonEmpty(flags.format) ? 'flag' : nonEmpty(env.TCB_FORMAT) ? 'env' : 'default',
    color: resolveColor(flags, env, terminal.stdoutIsTTY),
    stderrColor: resolveColor(flags, env, terminal.stderrIsTTY),
    timeoutMs: Math.round(timeoutSeconds * 1000),
    verbose: Boolean(flags.verbose) || isTruthy(env.TCB_DEBUG),
    quiet: Boolean(flags.quiet),
    yes: Boolean(flags.yes),
    configDir: resolveConfigDir(env),
    stdoutIsTTY: terminal.stdoutIsTTY,
    stderrIsTTY: terminal.stderrIsTTY,
    interactive: terminal.stdinIsTTY && terminal.stdoutIsTTY && !isTruthy(env.CI),
  };
}

export function normaliseBaseUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new RangeError(`base URL is not a valid URL: "${url}"`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new RangeError(`base URL must be http(s): "${url}"`);
  }
  return url.replace(/\/+$/, '');
}

export interface Credentials {
  clientAccountId: string;
  keyId: string;
  apiKey: string;
}

export interface CredentialSources {
  clientAccountId?: string;
  keyId?: string;
  apiKey?: string;
  /** Where each value came from, for messages ("environment" / "profile NAME"). */
  origin: 'environment' | 'profile' | 'mixed' | 'none';
}

/** Env overrides the profile field by field; with all three env vars no config file is needed. */
export function resolveCredentialSources(env: Env, profile: StoredProfile | undefined): CredentialSources {
  const fromEnv = {
    clientAccountId: nonEmpty(env.TCB_CLIENT_ACCOUNT_ID),
    keyId: nonEmpty(env.TCB_KEY_ID),
    apiKey: nonEmpty(env.TCB_API_KEY),
  };
  const merged = {
    clientAccountId: fromEnv.clientAccountId ?? nonEmpty(profile?.client_account_id),
    keyId: fromEnv.keyId ?? nonEmpty(profile?.key_id),
    apiKey: fromEnv.apiKey ?? nonEmpty(profile?.api_key),
  };
  const envCount = Object.values(fromEnv).filter(Boolean).length;
  const total = Object.values(merged).filter(Boolean).length;
  const origin = total === 0 ? 'none' : envCount === 3 ? 'environment' : envCount === 0 ? 'profile' : 'mixed';
  return { ...merged, origin };
}
