import { readFileSync, statSync } from 'node:fs';
import { homedir, userInfo } from 'node:os';
import path from 'node:path';
import { UsageError } from '../../errors.js';

/**
 * Where the webhook store lives, from `--store`: a postgres:// or postgresql:// URL (PostgreSQL,
 * completed from the PG* environment variables like libpq does), or else a path (SQLite).
 * A value that looks like a URL is never taken for a file name: another scheme is an error.
 *
 * The password is never part of what this module shows: `display` masks it, and `secrets` lists
 * every form of it so the caller can register them with the redactor before anything is printed.
 */

export interface SqliteStoreLocation {
  kind: 'sqlite';
  file: string;
  display: string;
}

export type PasswordSource = 'url' | 'PGPASSWORD' | 'pgpass';

export interface PostgresTls {
  rejectUnauthorized: boolean;
  /** false for sslmode=verify-ca: the certificate chain is checked, not the host name. */
  checkHostname: boolean;
  ca?: string;
  cert?: string;
  key?: string;
}

export interface PostgresConnection {
  /** A host name, an IP address, or a unix socket directory (starts with /). */
  host: string;
  port: number;
  user: string;
  database: string;
  password: string | undefined;
  passwordSource: PasswordSource | undefined;
  /** false: no TLS. */
  tls: PostgresTls | false;
  sslmode: string;
  applicationName: string | undefined;
  /** Server options (-c name=value ...), e.g. a search_path for the tables. */
  options: string | undefined;
  connectTimeoutMs: number | undefined;
  channelBinding: boolean;
}

export interface PostgresStoreLocation {
  kind: 'postgres';
  /** postgres://user:***@host:port/db?sslmode=... — safe to print. */
  display: string;
  /** postgres://user@host:port/db (plus ?options= when given) — what identifies the store (export state keys). */
  identity: string;
  connection: PostgresConnection;
  /** The password in every form it could be printed in (for the redactor). */
  secrets: string[];
  /** true when the password sat in the URL itself, i.e. in argv where `ps` shows it. */
  passwordOnCommandLine: boolean;
}

export type StoreLocation = SqliteStoreLocation | PostgresStoreLocation;

/** Masks the password part of any URL in a text (and password=... parameters). */
export function maskStoreUrl(text: string): string {
  return text
    .replace(/\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@?#]*:)\S*@/gi, '$1***@')
    .replace(/([?&\s]password=)[^&\s#]*/gi, '$1***');
}

const URL_LIKE = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//;
const POSTGRES_PREFIX = /^postgres(?:ql)?:/i;
const SUPPORTED_PARAMS = [
  'sslmode',
  'sslrootcert',
  'sslcert',
  'sslkey',
  'application_name',
  'options',
  'connect_timeout',
  'channel_binding',
  'host',
  'port',
  'user',
  'dbname',
  'password',
] as const;
const SSL_MODES = ['disable', 'require', 'verify-ca', 'verify-full', 'no-verify'];

export interface LocationContext {
  env: Record<string, string | undefined>;
  /** The flag the value came from, for messages. */
  flag?: string;
  /** Reads a file (certificates, .pgpass); injectable for tests. */
  readFile?: (file: string) => string;
  /** File mode check for .pgpass; injectable for tests. */
  statFile?: (file: string) => { isFile(): boolean; mode: number } | undefined;
  homeDir?: string;
  userName?: string;
}

/** true when the value is a URL (of any scheme) rather than a file path. */
export function looksLikeUrl(value: string): boolean {
  return URL_LIKE.test(value.trim()) || POSTGRES_PREFIX.test(value.trim());
}

export function parseStoreLocation(value: string, context: LocationContext): StoreLocation {
  const flag = context.flag ?? '--store';
  const text = value.trim();
  if (text === '') throw new UsageError(`${flag} is empty`, { field: flag });
  if (POSTGRES_PREFIX.test(text) || URL_LIKE.test(text)) return parsePostgresUrl(text, context, flag);
  const file = path.resolve(text);
  return { kind: 'sqlite', file, display: file };
}

function usage(flag: string, message: string, hint?: string): UsageError {
  return new UsageError(`${flag}: ${message}`, { field: flag, hint });
}

function decode(part: string, what: string, flag: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw usage(flag, `the ${what} in the URL has a broken %-escape`);
  }
}

function parsePostgresUrl(text: string, context: LocationContext, flag: string): PostgresStoreLocation {
  const env = context.env;
  const masked = maskStoreUrl(text);
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(text)?.[1]?.toLowerCase() ?? '';
  if (scheme !== 'postgres' && scheme !== 'postgresql') {
    throw usage(
      flag,
      `"${masked}" is a ${scheme} URL; a store is a postgres:// (or postgresql://) URL or a SQLite file path`,
      scheme === 'file' || scheme === 'sqlite' ? 'give the SQLite file as a plain path, e.g. --store ./webhooks.sqlite' : undefined,
    );
  }
  if (!/^postgres(?:ql)?:\/\//i.test(text)) {
    throw usage(flag, `"${masked}" is not a PostgreSQL URL: it must start with ${scheme}://`, 'e.g. postgres://tcb@db.example.com:5432/events');
  }
  const parts = splitPostgresUrl(text, flag);
  const params = new Map<string, string>();
  for (const pair of parts.query === '' ? [] : parts.query.split('&')) {
    if (pair === '') continue;
    const at = pair.indexOf('=');
    const name = decode(at === -1 ? pair : pair.slice(0, at), 'parameter name', flag);
    const raw = decode(at === -1 ? '' : pair.slice(at + 1), `parameter ${name}`, flag);
    if (!(SUPPORTED_PARAMS as readonly string[]).includes(name)) {
      throw usage(flag, `the URL parameter "${name}" is not supported`, `supported: ${SUPPORTED_PARAMS.join(', ')}`);
    }
    if (params.has(name)) throw usage(flag, `the URL parameter "${name}" is given twice`);
    params.set(name, raw);
  }

  const urlHost = decode(parts.host, 'host', flag);
  const urlUser = decode(parts.user, 'user name', flag);
  const urlPassword = parts.password === undefined ? undefined : decode(parts.password, 'password', flag);
  const urlDatabase = parts.database === '' ? undefined : decode(parts.database, 'database name', flag);
  if (urlDatabase?.includes('/')) throw usage(flag, `"${urlDatabase}" is not a database name (it has a /)`);

  const host = nonEmpty(params.get('host')) ?? nonEmpty(urlHost) ?? nonEmpty(env.PGHOST) ?? 'localhost';
  if (host.includes(',')) throw usage(flag, 'several hosts (PGHOST with commas) are not supported');
  const portText = nonEmpty(params.get('port')) ?? nonEmpty(parts.port) ?? nonEmpty(env.PGPORT) ?? '5432';
  if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) {
    throw usage(flag, `the port "${portText}" is not a port number (1-65535)`);
  }
  const port = Number(portText);
  const user = nonEmpty(params.get('user')) ?? nonEmpty(urlUser) ?? nonEmpty(env.PGUSER) ?? context.userName ?? safeUserName();
  const database = nonEmpty(params.get('dbname')) ?? urlDatabase ?? nonEmpty(env.PGDATABASE) ?? user;

  const sslmode = (nonEmpty(params.get('sslmode')) ?? nonEmpty(env.PGSSLMODE) ?? 'disable').toLowerCase();
  if (sslmode === 'prefer' || sslmode === 'allow') {
    throw usage(flag, `sslmode=${sslmode} is not supported (it can silently fall back to no encryption)`, 'use sslmode=verify-full (or require) for a database reached over a network, disable for a local one');
  }
  if (!SSL_MODES.includes(sslmode)) throw usage(flag, `sslmode "${sslmode}" is not one of ${SSL_MODES.join(', ')}`);
  const readFile = context.readFile ?? ((file: string) => readFileSync(file, 'utf8'));
  const readCert = (name: string, file: string | undefined): string | undefined => {
    if (!file || file === 'system') return undefined;
    try {
      return readFile(file);
    } catch (error) {
      throw usage(flag, `cannot read ${name} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  let tls: PostgresTls | false = false;
  if (sslmode !== 'disable') {
    const rootCert = nonEmpty(params.get('sslrootcert')) ?? nonEmpty(env.PGSSLROOTCERT);
    const ca = readCert('sslrootcert', rootCert);
    // libpq: require with a root certificate checks the chain like verify-ca.
    const verifyChain = sslmode === 'verify-full' || sslmode === 'verify-ca' || (sslmode === 'require' && rootCert !== undefined);
    tls = {
      rejectUnauthorized: verifyChain,
      checkHostname: sslmode === 'verify-full',
      ca,
      cert: readCert('sslcert', nonEmpty(params.get('sslcert')) ?? nonEmpty(env.PGSSLCERT)),
      key: readCert('sslkey', nonEmpty(params.get('sslkey')) ?? nonEmpty(env.PGSSLKEY)),
    };
  }

  const timeoutText = nonEmpty(params.get('connect_timeout')) ?? nonEmpty(env.PGCONNECT_TIMEOUT);
  let connectTimeoutMs: number | undefined;
  if (timeoutText !== undefined) {
    if (!/^\d+$/.test(timeoutText)) throw usage(flag, `connect_timeout "${timeoutText}" is not a whole number of seconds`);
    connectTimeoutMs = Number(timeoutText) === 0 ? undefined : Number(timeoutText) * 1000;
  }
  const channel = (nonEmpty(params.get('channel_binding')) ?? nonEmpty(env.PGCHANNELBINDING) ?? 'prefer').toLowerCase();
  if (!['disable', 'prefer', 'require'].includes(channel)) throw usage(flag, `channel_binding "${channel}" is not disable, prefer or require`);

  let password: string | undefined;
  let passwordSource: PasswordSource | undefined;
  const paramPassword = params.get('password');
  if (urlPassword !== undefined || (paramPassword !== undefined && paramPassword !== '')) {
    password = urlPassword ?? paramPassword;
    passwordSource = 'url';
  } else if (env.PGPASSWORD !== undefined && env.PGPASSWORD !== '') {
    password = env.PGPASSWORD;
    passwordSource = 'PGPASSWORD';
  } else {
    password = passwordFromPgpass({ host, port, database, user }, context);
    if (password !== undefined) passwordSource = 'pgpass';
  }

  const secrets = new Set<string>();
  if (password !== undefined) {
    secrets.add(password);
    secrets.add(encodeURIComponent(password));
    if (parts.password) secrets.add(parts.password);
  }
  const serverOptions = nonEmpty(params.get('options')) ?? nonEmpty(env.PGOPTIONS);
  // Server options can point search_path at another schema, i.e. another store in the same database.
  const identity =
    `postgres://${encodeURIComponent(user)}@${hostForUrl(host)}:${port}/${encodeURIComponent(database)}` +
    (serverOptions ? `?options=${encodeURIComponent(serverOptions)}` : '');
  const shownParams = [...params.entries()]
    .filter(([name]) => name !== 'password')
    .map(([name, raw]) => `${name}=${encodeURIComponent(raw)}`);
  const display =
    `postgres://${encodeURIComponent(user)}${passwordSource === 'url' ? ':***' : ''}@${hostForUrl(host)}:${port}/${encodeURIComponent(database)}` +
    (shownParams.length > 0 ? `?${shownParams.join('&')}` : '');

  return {
    kind: 'postgres',
    display,
    identity,
    secrets: [...secrets],
    passwordOnCommandLine: passwordSource === 'url',
    connection: {
      host,
      port,
      user,
      database,
      password,
      passwordSource,
      tls,
      sslmode,
      applicationName: nonEmpty(params.get('application_name')) ?? nonEmpty(env.PGAPPNAME),
      options: serverOptions,
      connectTimeoutMs,
      channelBinding: channel !== 'disable' && tls !== false,
    },
  };
}

interface UrlParts {
  user: string;
  password: string | undefined;
  host: string;
  port: string;
  database: string;
  query: string;
}

/**
 * postgres://[user[:password]@][host][:port][/database][?name=value&...], as libpq reads it (the
 * WHATWG URL parser refuses some of these, e.g. a user with an empty host for a unix socket).
 * Parts stay %-escaped here.
 */
function splitPostgresUrl(text: string, flag: string): UrlParts {
  let rest = text.replace(/^postgres(?:ql)?:\/\//i, '');
  if (rest.includes('#')) throw usage(flag, 'the URL has a #fragment; remove it');
  let query = '';
  const q = rest.indexOf('?');
  if (q !== -1) {
    query = rest.slice(q + 1);
    rest = rest.slice(0, q);
  }
  const slash = rest.indexOf('/');
  const authority = slash === -1 ? rest : rest.slice(0, slash);
  const database = slash === -1 ? '' : rest.slice(slash + 1);
  const at = authority.lastIndexOf('@');
  const userinfo = at === -1 ? '' : authority.slice(0, at);
  const hostport = at === -1 ? authority : authority.slice(at + 1);
  const colon = userinfo.indexOf(':');
  const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
  const password = colon === -1 ? undefined : userinfo.slice(colon + 1);
  if (hostport.includes(',')) {
    throw usage(flag, 'several hosts in one URL are not supported; give one host (or a proxy in front of them)');
  }
  let host = hostport;
  let port = '';
  if (hostport.startsWith('[')) {
    const close = hostport.indexOf(']');
    if (close === -1) throw usage(flag, 'the IPv6 host in the URL has no closing ]');
    host = hostport.slice(1, close);
    const after = hostport.slice(close + 1);
    if (after !== '' && !after.startsWith(':')) throw usage(flag, 'unexpected text after the IPv6 host in the URL');
    port = after.slice(1);
  } else {
    const portAt = hostport.lastIndexOf(':');
    if (portAt !== -1) {
      host = hostport.slice(0, portAt);
      port = hostport.slice(portAt + 1);
    }
  }
  if (/[\s]/.test(host)) throw usage(flag, 'the host in the URL has a space in it');
  return { user, password, host, port, database, query };
}

function nonEmpty(value: string | undefined | null): string | undefined {
  return value === undefined || value === null || value === '' ? undefined : value;
}

function safeUserName(): string {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}

function hostForUrl(host: string): string {
  if (host.startsWith('/')) return encodeURIComponent(host);
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * The password of a ~/.pgpass (or PGPASSFILE) line matching the connection, as libpq reads it:
 * host:port:database:user:password, `*` matches anything, `\:` and `\\` escape. The file is ignored
 * unless it is private (no group/other permissions), again as libpq does.
 */
export function passwordFromPgpass(
  target: { host: string; port: number; database: string; user: string },
  context: LocationContext,
): string | undefined {
  const file = nonEmpty(context.env.PGPASSFILE) ?? path.join(context.homeDir ?? safeHome(), '.pgpass');
  const stat = (context.statFile ?? safeStat)(file);
  if (!stat || !stat.isFile() || (stat.mode & 0o077) !== 0) return undefined;
  let text: string;
  try {
    text = (context.readFile ?? ((f: string) => readFileSync(f, 'utf8')))(file);
  } catch {
    return undefined;
  }
  const hosts = target.host.startsWith('/') ? [target.host, 'localhost'] : [target.host];
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === '' || line.trimStart().startsWith('#')) continue;
    const fields = splitPgpassLine(line);
    if (fields.length < 5) continue;
    const [host, port, database, user] = fields as [string, string, string, string];
    const password = fields.slice(4).join(':');
    const matches = (pattern: string, value: string) => pattern === '*' || pattern === value;
    if (
      hosts.some((h) => matches(host, h)) &&
      matches(port, String(target.port)) &&
      matches(database, target.database) &&
      matches(user, target.user)
    ) {
      return password;
    }
  }
  return undefined;
}

function splitPgpassLine(line: string): string[] {
  const fields: string[] = [];
  let current = '';
  for (let i = 0; i < line.length; i += 1) {
    const char = line[i]!;
    if (char === '\\' && i + 1 < line.length) {
      current += line[i + 1];
      i += 1;
    } else if (char === ':' && fields.length < 4) {
      fields.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  fields.push(current);
  return fields;
}

function safeHome(): string {
  try {
    return homedir();
  } catch {
    return '/';
  }
}

function safeStat(file: string): { isFile(): boolean; mode: number } | undefined {
  try {
    return statSync(file);
  } catch {
    return undefined;
  }
}

/** How the connection is described in --verbose output: never the password, only where it came from. */
export function describePostgres(location: PostgresStoreLocation): string {
  const c = location.connection;
  const password = c.passwordSource === undefined ? 'no password' : `password from ${c.passwordSource === 'pgpass' ? '.pgpass' : c.passwordSource === 'url' ? 'the URL' : 'PGPASSWORD'}`;
  return `${location.identity} (${password}, sslmode=${c.sslmode})`;
}
