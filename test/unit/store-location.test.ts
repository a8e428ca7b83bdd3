import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/errors.js';
import { Redactor } from '../../src/output/redact.js';
import {
  describePostgres,
  maskStoreUrl,
  parseStoreLocation,
  passwordFromPgpass,
  type LocationContext,
  type PostgresStoreLocation,
} from '../../src/services/webhooks/store-location.js';

const context = (env: Record<string, string> = {}, extra: Partial<LocationContext> = {}): LocationContext => ({
  env,
  userName: 'osuser',
  homeDir: '/home/osuser',
  statFile: () => undefined,
  ...extra,
});

function pg(value: string, env: Record<string, string> = {}, extra: Partial<LocationContext> = {}): PostgresStoreLocation {
  const location = parseStoreLocation(value, context(env, extra));
  if (location.kind !== 'postgres') throw new Error(`expected postgres, got ${location.kind}`);
  return location;
}

function usageError(fn: () => unknown): UsageError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('--store: a path or a PostgreSQL URL', () => {
  it('a path (relative, absolute, with a colon in it) is a SQLite file', () => {
    expect(parseStoreLocation('events.sqlite', context())).toEqual({ kind: 'sqlite', file: path.resolve('events.sqlite'), display: path.resolve('events.sqlite') });
    expect(parseStoreLocation('/var/lib/tcb/x.db', context())).toMatchObject({ kind: 'sqlite', file: '/var/lib/tcb/x.db' });
    expect(parseStoreLocation('./data:2026.sqlite', context())).toMatchObject({ kind: 'sqlite' });
  });

  it('postgres:// and postgresql:// are PostgreSQL, with every part read', () => {
    for (const scheme of ['postgres', 'postgresql', 'POSTGRES']) {
      const location = pg(`${scheme}://tcb@db.example.com:6543/events`);
      expect(location.connection).toMatchObject({ host: 'db.example.com', port: 6543, user: 'tcb', database: 'events', password: undefined, tls: false });
      expect(location.identity).toBe('postgres://tcb@db.example.com:6543/events');
    }
  });

  it('a URL is never a file name: other schemes and a postgres: without // are errors', () => {
    expect(usageError(() => parseStoreLocation('mysql://u@h/db', context())).message).toMatch(/mysql URL/);
    expect(usageError(() => parseStoreLocation('mysql://u:topsecret@h/db', context())).message).not.toContain('topsecret');
    expect(usageError(() => parseStoreLocation('sqlite:///tmp/x.db', context())).hint).toMatch(/plain path/);
    expect(usageError(() => parseStoreLocation('file:///tmp/x.db', context())).hint).toMatch(/plain path/);
    expect(usageError(() => parseStoreLocation('postgres:db', context())).message).toMatch(/must start with postgres:\/\//);
    expect(usageError(() => parseStoreLocation('postgresql:/h/db', context())).message).toMatch(/must start with postgresql:\/\//);
    expect(usageError(() => parseStoreLocation('  ', context())).message).toMatch(/--store is empty/);
  });

  it('fills what the URL leaves out from PG* variables, then libpq defaults', () => {
    const env = { PGHOST: 'envhost', PGPORT: '5499', PGUSER: 'envuser', PGDATABASE: 'envdb', PGAPPNAME: 'app' };
    expect(pg('postgres://', env).connection).toMatchObject({ host: 'envhost', port: 5499, user: 'envuser', database: 'envdb', applicationName: 'app' });
    // The URL wins over the environment.
    expect(pg('postgres://u@h:1/d', env).connection).toMatchObject({ host: 'h', port: 1, user: 'u', database: 'd' });
    // Nothing anywhere: localhost:5432, the OS user, a database named like the user.
    expect(pg('postgres://').connection).toMatchObject({ host: 'localhost', port: 5432, user: 'osuser', database: 'osuser' });
    expect(pg('postgres:///events').connection).toMatchObject({ host: 'localhost', database: 'events' });
  });

  it('reads IPv6 hosts, unix socket directories and percent-escapes', () => {
    expect(pg('postgres://u@[::1]:5433/d').connection).toMatchObject({ host: '::1', port: 5433 });
    expect(pg('postgres://u@[::1]:5433/d').identity).toBe('postgres://u@[::1]:5433/d');
    expect(pg('postgres://u@%2Fvar%2Frun%2Fpostgresql/d').connection.host).toBe('/var/run/postgresql');
    expect(pg('postgres://u@/d?host=/tmp/sock').connection.host).toBe('/tmp/sock');
    expect(pg('postgres://us%40er@h/my%20db').connection).toMatchObject({ user: 'us@er', database: 'my db' });
  });

  it('password: the URL first, then PGPASSWORD, then .pgpass; where it came from is recorded', () => {
    expect(pg('postgres://u:p%40ss@h/d', { PGPASSWORD: 'env' }).connection).toMatchObject({ password: 'p@ss', passwordSource: 'url' });
    expect(pg('postgres://u@h/d?password=qp', { PGPASSWORD: 'env' }).connection).toMatchObject({ password: 'qp', passwordSource: 'url' });
    expect(pg('postgres://u@h/d', { PGPASSWORD: 'env' }).connection).toMatchObject({ password: 'env', passwordSource: 'PGPASSWORD' });
    const pgpass = { statFile: () => ({ isFile: () => true, mode: 0o100600 }), readFile: () => 'h:5432:d:u:from-file\n' };
    expect(pg('postgres://u@h/d', {}, pgpass).connection).toMatchObject({ password: 'from-file', passwordSource: 'pgpass' });
    expect(pg('postgres://u@h/d', {}, pgpass).passwordOnCommandLine).toBe(false);
    expect(pg('postgres://u:x@h/d').passwordOnCommandLine).toBe(true);
  });

  it('never shows the password: display masks it, identity leaves it out, secrets list every form', () => {
    const location = pg('postgresql://tcb:s3cr%2Ft%40x@db.example.com/events?sslmode=require&application_name=rx');
    expect(location.display).toBe('postgres://tcb:***@db.example.com:5432/events?sslmode=require&application_name=rx');
    expect(location.identity).toBe('postgres://tcb@db.example.com:5432/events');
    // Another schema of the same database is another store.
    expect(pg('postgres://tcb@db.example.com/events?options=-c%20search_path%3Dtcb').identity).toBe('postgres://tcb@db.example.com:5432/events?options=-c%20search_path%3Dtcb');
    expect(location.secrets).toEqual(expect.arrayContaining(['s3cr/t@x', 's3cr%2Ft%40x']));
    expect(JSON.stringify(location.display + location.identity + describePostgres(location))).not.toContain('s3cr');
    expect(describePostgres(location)).toMatch(/password from the URL/);
    const fromQuery = pg('postgres://tcb@h/db?password=hunter22&sslmode=disable');
    expect(fromQuery.display).not.toContain('hunter22');
    expect(fromQuery.display).toContain('sslmode=disable');
    expect(describePostgres(pg('postgres://u@h/d', { PGPASSWORD: 'zzzz' }))).toBe('postgres://u@h:5432/d (password from PGPASSWORD, sslmode=disable)');
  });

  it('errors never echo the password', () => {
    for (const bad of ['postgres://u:topsecret@h:99999/d', 'postgres://u:topsecret@h/d?weird=1', 'postgres://u:topsecret@h/d?sslmode=prefer', 'postgres://u:topsecret@h1,h2/d', 'postgres://u:top%ZZsecret@h/d']) {
      const error = usageError(() => parseStoreLocation(bad, context()));
      expect(`${error.message} ${error.hint ?? ''}`, bad).not.toContain('topsecret');
    }
  });

  it('sslmode: disable / require / verify-ca / verify-full map to TLS settings; prefer and allow are refused', () => {
    expect(pg('postgres://u@h/d').connection.tls).toBe(false);
    expect(pg('postgres://u@h/d?sslmode=require').connection.tls).toEqual({ rejectUnauthorized: false, checkHostname: false, ca: undefined, cert: undefined, key: undefined });
    expect(pg('postgres://u@h/d?sslmode=verify-full').connection.tls).toMatchObject({ rejectUnauthorized: true, checkHostname: true });
    const files = { readFile: (file: string) => `PEM of ${file}` };
    expect(pg('postgres://u@h/d?sslmode=verify-ca&sslrootcert=/ca.pem', {}, files).connection.tls).toMatchObject({ rejectUnauthorized: true, checkHostname: false, ca: 'PEM of /ca.pem' });
    // libpq: require plus a root certificate verifies the chain.
    expect(pg('postgres://u@h/d?sslmode=require', { PGSSLROOTCERT: '/ca.pem' }, files).connection.tls).toMatchObject({ rejectUnauthorized: true });
    expect(pg('postgres://u@h/d', { PGSSLMODE: 'verify-full' }).connection.tls).toMatchObject({ rejectUnauthorized: true });
    expect(usageError(() => pg('postgres://u@h/d?sslmode=prefer')).hint).toMatch(/verify-full/);
    expect(usageError(() => pg('postgres://u@h/d?sslmode=bogus')).message).toMatch(/sslmode "bogus"/);
    const unreadable = { readFile: () => { throw Object.assign(new Error('nope'), { code: 'ENOENT' }); } };
    expect(usageError(() => pg('postgres://u@h/d?sslmode=verify-full&sslrootcert=/missing.pem', {}, unreadable)).message).toMatch(/cannot read sslrootcert \/missing.pem: ENOENT/);
  });

  it('names the bad part: port, parameter, duplicate parameter, several hosts, connect_timeout', () => {
    expect(usageError(() => pg('postgres://u@h:0/d')).message).toMatch(/port "0"/);
    expect(usageError(() => pg('postgres://u@h/d?target_session_attrs=any')).message).toMatch(/"target_session_attrs" is not supported/);
    expect(usageError(() => pg('postgres://u@h/d?sslmode=require&sslmode=disable')).message).toMatch(/given twice/);
    expect(usageError(() => pg('postgres://u@h1,h2/d')).message).toMatch(/several hosts/);
    expect(usageError(() => pg('postgres:///d', { PGHOST: 'a,b' })).message).toMatch(/several hosts/);
    expect(usageError(() => pg('postgres://u@h/d?connect_timeout=soon')).message).toMatch(/connect_timeout/);
    expect(pg('postgres://u@h/d?connect_timeout=7').connection.connectTimeoutMs).toBe(7000);
    expect(usageError(() => pg('postgres://u@h/a/b')).message).toMatch(/not a database name/);
    expect(usageError(() => pg('postgres://u@h/d#frag')).message).toMatch(/fragment/);
  });
});

describe('.pgpass', () => {
  const target = { host: 'db.example.com', port: 5432, database: 'events', user: 'tcb' };
  const file = (text: string, mode = 0o100600): Partial<LocationContext> => ({
    statFile: () => ({ isFile: () => true, mode }),
    readFile: () => text,
  });
  const lookup = (text: string, mode?: number, env: Record<string, string> = {}) =>
    passwordFromPgpass(target, context(env, file(text, mode)));

  it('takes the first matching line, with * wildcards and \\: escapes', () => {
    expect(lookup('# comment\nother:5432:events:tcb:no\ndb.example.com:5432:events:tcb:yes\n*:*:*:*:late')).toBe('yes');
    expect(lookup('*:*:events:*:wild')).toBe('wild');
    expect(lookup('db.example.com:5432:events:tcb:pa\\:ss:word')).toBe('pa:ss:word');
    expect(lookup('db.example.com:5433:events:tcb:x')).toBeUndefined();
  });

  it('is ignored when group or others can read it (as libpq does), or when it is not a file', () => {
    expect(lookup('*:*:*:*:x', 0o100644)).toBeUndefined();
    expect(passwordFromPgpass(target, context({}, { statFile: () => ({ isFile: () => false, mode: 0o40700 }), readFile: () => '*:*:*:*:x' }))).toBeUndefined();
  });

  it('PGPASSFILE names another file; a socket connection also matches localhost', () => {
    const seen: string[] = [];
    const ctx = context({ PGPASSFILE: '/etc/tcb/pgpass' }, { statFile: () => ({ isFile: () => true, mode: 0o100600 }), readFile: (f) => (seen.push(f), 'localhost:5432:events:tcb:sock') });
    expect(passwordFromPgpass({ ...target, host: '/var/run/postgresql' }, ctx)).toBe('sock');
    expect(seen).toEqual(['/etc/tcb/pgpass']);
  });
});

describe('masking database URLs in any output', () => {
  it('maskStoreUrl and the redactor hide the password of every postgres URL in a text', () => {
    const text = 'connect postgres://tcb:hunter2@h/db and postgresql://a:b@c/d?x=1, dsn host=h password=pw1 user=u';
    expect(maskStoreUrl(text)).toBe('connect postgres://tcb:***@h/db and postgresql://a:***@c/d?x=1, dsn host=h password=*** user=u');
    const redacted = new Redactor().redact(text);
    expect(redacted).not.toMatch(/hunter2|:b@|pw1/);
    expect(redacted).toContain('postgres://tcb:[REDACTED]@h/db');
    // A password with an unescaped @ is masked whole.
    expect(new Redactor().redact('postgres://u:p@ss@h/db')).toBe('postgres://u:[REDACTED]@h/db');
    // A host:port followed by an @ later in the URL is not a password.
    expect(new Redactor().redact('GET http://127.0.0.1:8080/x?a=b@c')).toBe('GET http://127.0.0.1:8080/x?a=b@c');
    expect(new Redactor().redact('mysql://u:pw9@h/db')).toBe('mysql://u:[REDACTED]@h/db');
    // No password: nothing to mask.
    expect(maskStoreUrl('postgres://tcb@h:5432/db')).toBe('postgres://tcb@h:5432/db');
  });
});
