// Credential files: the config location errors, private files and folders, profiles and the token
// cache with its lock.
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { configLocationError, ensurePrivateDir, readJsonFile, unwritableDirReason, writePrivateJson } from '../../src/auth/files.js';
import { ProfileStore } from '../../src/auth/profiles.js';
import {
  CachedTokenSource,
  RunTokenSource,
  TOKEN_LIFETIME_MS,
  TOKEN_REFRESH_MARGIN_MS,
  TokenCache,
  cacheKey,
  isFresh,
  tokenIssuedAt,
  type CachedToken,
} from '../../src/auth/token-cache.js';
import { TransientError, UsageError } from '../../src/errors.js';
import { redactor } from '../../src/output/redact.js';
import { tempDir } from '../helpers/temp.js';

const dirs: Array<() => void> = [];
function scratch(): string {
  const { dir, cleanup } = tempDir('tcb-auth-');
  dirs.push(cleanup);
  return dir;
}
afterEach(() => {
  for (const cleanup of dirs.splice(0)) cleanup();
});

const mode = (file: string) => statSync(file).mode & 0o777;

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failed`), { code });
}

describe('configLocationError', () => {
  it.each(['ENOTDIR', 'EISDIR', 'EACCES', 'EPERM', 'EROFS', 'ENOSPC', 'EEXIST', 'ELOOP'])('%s: a usage error naming the path', (code) => {
    const cause = errno(code);
    const error = configLocationError(cause, '/x/config.json') as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toBe(`cannot use /x/config.json (${code})`);
    expect(error.hint).toBe('set TCB_CONFIG_DIR to a directory this user can write, or fix the permissions');
    expect(error.cause).toBe(cause);
  });

  it('damaged JSON: a usage error saying so, with the fix', () => {
    const cause = new SyntaxError('Unexpected token b');
    const error = configLocationError(cause, '/x/tokens.json') as UsageError;
    expect(error).toBeInstanceOf(UsageError);
    expect(error.message).toBe('/x/tokens.json is not valid JSON: Unexpected token b');
    expect(error.hint).toBe('fix or remove /x/tokens.json');
    expect(error.cause).toBe(cause);
  });

  it('anything else is not about the location: returned as it was', () => {
    const other = errno('EMFILE');
    expect(configLocationError(other, '/x')).toBe(other);
    const plain = new Error('boom');
    expect(configLocationError(plain, '/x')).toBe(plain);
    expect(configLocationError('text', '/x')).toBe('text');
  });
});

describe('private files and folders', () => {
  it('ensurePrivateDir creates missing folders owner-only and leaves an existing one as set up', async () => {
    const base = scratch();
    const nested = path.join(base, 'a', 'b');
    await ensurePrivateDir(nested);
    expect(mode(nested)).toBe(0o700);
    const shared = path.join(base, 'shared');
    mkdirSync(shared, { mode: 0o755 });
    chmodSync(shared, 0o755);
    await ensurePrivateDir(shared);
    expect(mode(shared)).toBe(0o755);
  });

  it('ensurePrivateDir under a file is a usage error naming the folder', async () => {
    const base = scratch();
    writeFileSync(path.join(base, 'file'), 'x');
    const target = path.join(base, 'file', 'sub');
    await expect(ensurePrivateDir(target)).rejects.toMatchObject({ name: 'UsageError', message: `cannot use ${target} (ENOTDIR)` });
  });

  it('readJsonFile: the value; nothing for a missing or damaged file; a folder is a usage error', async () => {
    const base = scratch();
    const file = path.join(base, 'f.json');
    expect(await readJsonFile(file)).toBeUndefined();
    writeFileSync(file, '{"a":[1,2]}');
    expect(await readJsonFile(file)).toEqual({ a: [1, 2] });
    writeFileSync(file, '{"a":');
    expect(await readJsonFile(file)).toBeUndefined();
    await expect(readJsonFile(base)).rejects.toMatchObject({ name: 'UsageError', message: `cannot use ${base} (EISDIR)` });
    // A file where a folder of the path should be: that file cannot exist either.
    expect(await readJsonFile(path.join(file, 'inner.json'))).toBeUndefined();
  });

  it('unwritableDirReason: nothing for a folder it creates (owner-only) or can write; the error code otherwise', () => {
    const base = scratch();
    const fresh = path.join(base, 'new', 'cfg');
    expect(unwritableDirReason(fresh)).toBeUndefined();
    expect(mode(fresh)).toBe(0o700);
    expect(unwritableDirReason(base)).toBeUndefined();
    writeFileSync(path.join(base, 'file'), 'x');
    expect(unwritableDirReason(path.join(base, 'file', 'cfg'))).toBe('ENOTDIR');
    expect(unwritableDirReason(path.join(base, 'file'))).toBe('EEXIST');
  });

  it('writePrivateJson writes pretty JSON with a final newline, 0600 even over a 0644 file, via a temporary file it removes', async () => {
    const base = scratch();
    const file = path.join(base, 'new', 'state.json');
    await writePrivateJson(file, { b: 1 });
    expect(readFileSync(file, 'utf8')).toBe('{\n  "b": 1\n}\n');
    expect(mode(file)).toBe(0o600);
    expect(mode(path.dirname(file))).toBe(0o700);
    chmodSync(file, 0o644);
    await writePrivateJson(file, { b: 2 });
    expect(mode(file)).toBe(0o600);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ b: 2 });
    expect(readdirSync(path.dirname(file))).toEqual(['state.json']);
  });

  it('writePrivateJson into a folder that is a file is a usage error naming the file', async () => {
    const base = scratch();
    writeFileSync(path.join(base, 'blocker'), 'x');
    const file = path.join(base, 'blocker', 'state.json');
    await expect(writePrivateJson(file, {})).rejects.toMatchObject({ name: 'UsageError', message: `cannot use ${path.dirname(file)} (EEXIST)` });
  });

  it('writePrivateJson over a folder is a usage error naming the file, leaving no temporary file', async () => {
    const base = scratch();
    const file = path.join(base, 'taken');
    mkdirSync(file);
    await expect(writePrivateJson(file, {})).rejects.toThrow(/^cannot use .*taken \(EISDIR\)$/);
    expect(readdirSync(base).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});

describe('ProfileStore', () => {
  const profile = { client_account_id: 'acc-1', key_id: 'key-1', api_key: 'secret-1', base_url: 'http://x' };

  it('reads nothing and creates nothing until a profile is stored', () => {
    const dir = path.join(scratch(), 'cfg');
    const store = new ProfileStore(dir);
    expect(store.path).toBe(`${dir}/config.json`);
    expect(store.exists()).toBe(false);
    expect(store.all()).toEqual({});
    expect(store.get('default')).toBeUndefined();
    expect(existsSync(dir)).toBe(false);
  });

  it('stores profiles 0600 in an owner-only folder, re-applying the mode on every write', async () => {
    const dir = path.join(scratch(), 'cfg');
    const store = new ProfileStore(dir);
    await store.set('default', profile);
    expect(store.exists()).toBe(true);
    expect(mode(dir)).toBe(0o700);
    expect(mode(store.path)).toBe(0o600);
    expect(new ProfileStore(dir).get('default')).toEqual(profile);
    chmodSync(store.path, 0o644);
    await store.set('work', { ...profile, key_id: 'key-2' });
    expect(mode(store.path)).toBe(0o600);
    expect(Object.keys(new ProfileStore(dir).all())).toEqual(['default', 'work']);
    expect(JSON.parse(readFileSync(store.path, 'utf8'))).toEqual({ profiles: { default: profile, work: { ...profile, key_id: 'key-2' } } });
  });

  it('forgetSecret drops only the secret; an unknown profile is false', async () => {
    const dir = scratch();
    const store = new ProfileStore(dir);
    await store.set('default', profile);
    expect(await store.forgetSecret('nobody')).toBe(false);
    expect(await store.forgetSecret('default')).toBe(true);
    const { api_key: _secret, ...rest } = profile;
    expect(new ProfileStore(dir).get('default')).toEqual(rest);
    expect(readFileSync(store.path, 'utf8')).not.toContain('secret-1');
  });

  it('a damaged config file is a usage error naming it', () => {
    const dir = scratch();
    writeFileSync(path.join(dir, 'config.json'), '{bad');
    expect(() => new ProfileStore(dir).all()).toThrow(UsageError);
    expect(() => new ProfileStore(dir).all()).toThrow(new RegExp(`^${path.join(dir, 'config.json').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} is not valid JSON`));
  });

  it('a config file without a profiles object holds no profiles; names are looked up as given', async () => {
    const dir = scratch();
    const file = path.join(dir, 'config.json');
    for (const content of ['[]', 'null', '"text"', '{}', '{"profiles":null}', '{"profiles":[{"key_id":"k"}]}', '{"profiles":"x"}']) {
      writeFileSync(file, content);
      expect(new ProfileStore(dir).all(), content).toEqual({});
    }
    writeFileSync(file, JSON.stringify({ profiles: { default: profile } }));
    const store = new ProfileStore(dir);
    expect(store.get('default')).toEqual(profile);
    for (const name of ['toString', 'constructor', '__proto__', 'hasOwnProperty', 'Default']) expect(store.get(name), name).toBeUndefined();
    // What all() hands out is a copy: changing it changes nothing stored.
    delete store.all().default;
    expect(store.get('default')).toEqual(profile);
    // A profile named like an Object method is an ordinary profile.
    await store.set('toString', { ...profile, key_id: 'key-t' });
    expect(new ProfileStore(dir).get('toString')).toEqual({ ...profile, key_id: 'key-t' });
    expect(Object.keys(new ProfileStore(dir).all())).toEqual(['default', 'toString']);
  });

  it('a profile entry that is not an object: exit 2 naming the file and the profile, with the fix', () => {
    const dir = scratch();
    const file = path.join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({ profiles: { default: profile, work: 'oops' } }));
    expect(() => new ProfileStore(dir).all()).toThrow(new UsageError(`${file} is damaged: profile "work" is not an object`, { hint: `fix or remove ${file}` }));
  });

  it('a profile name with dots is one name, not a path', async () => {
    const dir = scratch();
    const store = new ProfileStore(dir);
    await store.set('acme.prod', profile);
    expect(JSON.parse(readFileSync(store.path, 'utf8'))).toEqual({ profiles: { 'acme.prod': profile } });
    expect(new ProfileStore(dir).get('acme.prod')).toEqual(profile);
  });

  it('a config folder that cannot be created is a usage error naming the file', async () => {
    const base = scratch();
    writeFileSync(path.join(base, 'file'), 'x');
    const dir = path.join(base, 'file', 'cfg');
    await expect(new ProfileStore(dir).set('default', profile)).rejects.toThrow(expect.objectContaining({ name: 'UsageError', message: `cannot use ${dir}/config.json (ENOTDIR)` }));
  });

  it('a config file that is a folder is a usage error naming it', () => {
    const dir = scratch();
    mkdirSync(path.join(dir, 'config.json'));
    const store = new ProfileStore(dir);
    expect(() => store.all()).toThrow(expect.objectContaining({ name: 'UsageError', message: `cannot use ${dir}/config.json (EISDIR)` }));
  });
});

describe('token freshness', () => {
  const at = (iso: string) => Date.parse(iso);
  const entry = (created: string, obtained: string): CachedToken => ({ token: 'tok-1234', created_at: created, obtained_at: obtained });

  it('cacheKey names the API root, account and key', () => {
    expect(cacheKey('http://api', { clientAccountId: 'acc', keyId: 'key' })).toBe('http://api|acc|key');
  });

  it('trusts created_at unless it is unreadable or more than a minute in our future', () => {
    expect(tokenIssuedAt(entry('2026-01-01T10:00:00Z', '2026-01-01T10:00:05Z'))).toBe(at('2026-01-01T10:00:00Z'));
    // a minute ahead is clock skew we accept; more is not
    expect(tokenIssuedAt(entry('2026-01-01T10:01:05Z', '2026-01-01T10:00:05Z'))).toBe(at('2026-01-01T10:01:05Z'));
    expect(tokenIssuedAt(entry('2026-01-01T10:01:06Z', '2026-01-01T10:00:05Z'))).toBe(at('2026-01-01T10:00:05Z'));
    expect(tokenIssuedAt(entry('yesterday-ish', '2026-01-01T10:00:05Z'))).toBe(at('2026-01-01T10:00:05Z'));
    expect(tokenIssuedAt(entry('2026-01-01T10:00:00Z', 'garbage'))).toBe(at('2026-01-01T10:00:00Z'));
    expect(tokenIssuedAt(entry('garbage', 'garbage'))).toBe(0);
  });

  it('a token is reused until five minutes before its hour is up', () => {
    expect(TOKEN_LIFETIME_MS).toBe(3_600_000);
    expect(TOKEN_REFRESH_MARGIN_MS).toBe(300_000);
    const token = entry('2026-01-01T10:00:00Z', '2026-01-01T10:00:00Z');
    const issued = at('2026-01-01T10:00:00Z');
    expect(isFresh(token, issued)).toBe(true);
    expect(isFresh(token, issued + 55 * 60_000 - 1)).toBe(true);
    expect(isFresh(token, issued + 55 * 60_000)).toBe(false);
    expect(isFresh(undefined, issued)).toBe(false);
    expect(isFresh({ ...token, token: '' }, issued)).toBe(false);
  });
});

describe('TokenCache', () => {
  const KEY = 'http://api|acc|key';
  const NOW = Date.parse('2026-03-01T12:00:00Z');

  function issuer(tokens: string[]) {
    const calls: number[] = [];
    const issue = async () => {
      calls.push(calls.length);
      return { token: tokens[calls.length - 1]!, created_at: '2026-03-01T12:00:00Z' };
    };
    return { issue, calls };
  }

  it('store, read, entries and remove work on one 0600 file; read tokens are redacted from then on', async () => {
    const dir = scratch();
    const cache = new TokenCache(dir);
    expect(cache.file).toBe(path.join(dir, 'tokens.json'));
    expect(await cache.entries()).toEqual({});
    await cache.store(KEY, { token: 'stored-token-1', created_at: '2026-03-01T11:00:00Z' }, NOW);
    await cache.store('other', { token: 'stored-token-2', created_at: '2026-03-01T11:30:00Z' }, NOW);
    expect(mode(cache.file)).toBe(0o600);
    expect(await new TokenCache(dir).read(KEY)).toEqual({
      token: 'stored-token-1',
      created_at: '2026-03-01T11:00:00Z',
      obtained_at: '2026-03-01T12:00:00.000Z',
    });
    expect(redactor.redact('x stored-token-1 y')).toBe('x [REDACTED] y');
    await cache.remove(KEY);
    expect(Object.keys(await cache.entries())).toEqual(['other']);
    expect(await cache.read(KEY)).toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual(['tokens.json']);
  });

  it('a token stored or newly created is redacted at once, before anything reads it back', async () => {
    const dir = scratch();
    const cache = new TokenCache(dir);
    await cache.store(KEY, { token: 'kept-from-login-5678', created_at: '2026-03-01T11:00:00Z' }, NOW);
    expect(redactor.redact('a kept-from-login-5678 b')).toBe('a [REDACTED] b');
    await cache.obtain('other', async () => ({ token: 'issued-now-5678', created_at: '2026-03-01T12:00:00Z' }), { now: () => NOW });
    expect(redactor.redact('a issued-now-5678 b')).toBe('a [REDACTED] b');
    expect(await cache.entries()).toEqual({
      [KEY]: { token: 'kept-from-login-5678', created_at: '2026-03-01T11:00:00Z', obtained_at: '2026-03-01T12:00:00.000Z' },
      other: { token: 'issued-now-5678', created_at: '2026-03-01T12:00:00Z', obtained_at: '2026-03-01T12:00:00.000Z' },
    });
  });

  it('obtain: a fresh cached token is used as it is; a missing, stale or refused one is replaced once', async () => {
    const dir = scratch();
    const cache = new TokenCache(dir);
    const { issue, calls } = issuer(['new-token-aaaa', 'new-token-bbbb', 'new-token-cccc']);
    const now = () => NOW;
    expect(await cache.obtain(KEY, issue, { now })).toEqual({ token: 'new-token-aaaa', created: true });
    expect(await cache.read(KEY)).toMatchObject({ token: 'new-token-aaaa', obtained_at: '2026-03-01T12:00:00.000Z' });
    expect(await cache.obtain(KEY, issue, { now })).toEqual({ token: 'new-token-aaaa', created: false });
    expect(calls).toHaveLength(1);
    // refused by the API although it looks fresh
    expect(await cache.obtain(KEY, issue, { now, rejected: 'new-token-aaaa' })).toEqual({ token: 'new-token-bbbb', created: true });
    // a refusal of an older token does not throw away the current one
    expect(await cache.obtain(KEY, issue, { now, rejected: 'new-token-aaaa' })).toEqual({ token: 'new-token-bbbb', created: false });
    // 55 minutes later it is due for renewal
    expect(await cache.obtain(KEY, issue, { now: () => NOW + 55 * 60_000 })).toEqual({ token: 'new-token-cccc', created: true });
    expect(calls).toHaveLength(3);
  });

  it('two callers at once: the second waits for the lock (and says so), then takes the token the first created', async () => {
    const dir = scratch();
    const notes: string[] = [];
    const first = new TokenCache(dir);
    const second = new TokenCache(dir, { debug: (message) => notes.push(message) });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let issued = 0;
    const slowIssue = async () => {
      issued += 1;
      await gate;
      return { token: 'only-token-1234', created_at: new Date().toISOString() };
    };
    const one = first.obtain(KEY, slowIssue);
    // the first holds the lock while it waits for its token
    while (issued === 0) await new Promise((resolve) => setImmediate(resolve));
    const waited = new Promise<void>((resolve) => {
      const check = () => (notes.length > 0 ? resolve() : setImmediate(check));
      check();
    });
    const two = second.obtain(KEY, slowIssue);
    await waited;
    expect(notes).toEqual(['  waiting for the token cache lock: another tcb process is creating a token']);
    release();
    expect(await one).toEqual({ token: 'only-token-1234', created: true });
    expect(await two).toEqual({ token: 'only-token-1234', created: false });
    expect(issued).toBe(1);
    expect(existsSync(path.join(dir, 'tokens.lock'))).toBe(false);
  });

  it('a token another process wrote is redacted as soon as it is read', async () => {
    const dir = scratch();
    writeFileSync(
      path.join(dir, 'tokens.json'),
      JSON.stringify({ [KEY]: { token: 'written-elsewhere-9876', created_at: '2026-03-01T12:00:00Z', obtained_at: '2026-03-01T12:00:00Z' } }),
    );
    expect(redactor.redact('t written-elsewhere-9876')).toBe('t written-elsewhere-9876');
    expect((await new TokenCache(dir).read(KEY))?.token).toBe('written-elsewhere-9876');
    expect(redactor.redact('t written-elsewhere-9876')).toBe('t [REDACTED]');
  });

  it('a fresh cached token is used without waiting for a lock another process holds', async () => {
    const dir = scratch();
    const holder = new TokenCache(dir);
    await holder.store(KEY, { token: 'fresh-cached-4321', created_at: new Date().toISOString() });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let held!: () => void;
    const holding = new Promise<void>((resolve) => (held = resolve));
    const busy = holder.withLock(async () => {
      held();
      await gate;
    });
    await holding;
    let waited = false;
    // Were it to wait for the lock, the wait would free the holder (so the test ends) and be noticed.
    const reader = new TokenCache(dir, {
      debug: () => {
        waited = true;
        release();
      },
    });
    const { issue, calls } = issuer(['not-needed-1']);
    expect(await reader.obtain(KEY, issue)).toEqual({ token: 'fresh-cached-4321', created: false });
    expect(waited).toBe(false);
    expect(calls).toHaveLength(0);
    release();
    await busy;
  });

  it('a cache folder that cannot be used is a usage error naming the file', async () => {
    const base = scratch();
    writeFileSync(path.join(base, 'file'), 'x');
    const cache = new TokenCache(path.join(base, 'file', 'cfg'));
    await expect(cache.obtain(KEY, issuer(['t-123456']).issue)).rejects.toThrow(UsageError);
  });

  it('an old file where the lock folder goes cannot be cleared: a usage error naming the cache, nothing issued', async () => {
    const dir = scratch();
    const cache = new TokenCache(dir);
    const lock = path.join(dir, 'tokens.lock');
    writeFileSync(lock, 'not a lock folder');
    const old = new Date(Date.now() - 60 * 60_000);
    utimesSync(lock, old, old);
    const { issue, calls } = issuer(['never-issued-1']);
    await expect(cache.obtain(KEY, issue)).rejects.toThrow(
      new UsageError(`cannot use ${cache.file} (ENOTDIR)`, { hint: 'set TCB_CONFIG_DIR to a directory this user can write, or fix the permissions' }),
    );
    expect(calls).toHaveLength(0);
  });

  it('the lock is released when creating the token fails', async () => {
    const dir = scratch();
    const cache = new TokenCache(dir);
    const failing = async (): Promise<never> => {
      throw new TransientError('token endpoint down');
    };
    await expect(cache.obtain(KEY, failing)).rejects.toThrow('token endpoint down');
    expect(existsSync(path.join(dir, 'tokens.lock'))).toBe(false);
    expect(await cache.obtain(KEY, issuer(['after-failure-1']).issue)).toEqual({ token: 'after-failure-1', created: true });
  });
});

describe('CachedTokenSource', () => {
  const KEY = 'http://api|acc|key';

  it('loads once, then serves from memory until the token is due; renew replaces a refused token', async () => {
    const dir = scratch();
    const cache = new TokenCache(dir);
    let n = 0;
    const issue = async () => {
      n += 1;
      return { token: `source-token-${n}`, created_at: new Date().toISOString() };
    };
    const source = new CachedTokenSource(cache, KEY, issue);
    expect(await source.current()).toBe('source-token-1');
    // Another process renews the token in the file: this one keeps its own until it is due.
    await cache.store(KEY, { token: 'elsewhere-token', created_at: new Date().toISOString() });
    expect(await source.current()).toBe('source-token-1');
    expect(await source.renew('source-token-1')).toBe('elsewhere-token');
    expect(await source.renew('elsewhere-token')).toBe('source-token-2');
    expect(await source.current()).toBe('source-token-2');
    expect(n).toBe(2);
  });

  it('a token created over an hour ago in the cache is replaced on first use', async () => {
    const dir = scratch();
    const cache = new TokenCache(dir);
    const old = new Date(Date.now() - 2 * 3_600_000).toISOString();
    await cache.store(KEY, { token: 'old-token-1234', created_at: old }, Date.now() - 2 * 3_600_000);
    const source = new CachedTokenSource(cache, KEY, async () => ({ token: 'fresh-token-1234', created_at: new Date().toISOString() }));
    expect(await source.current()).toBe('fresh-token-1234');
  });

  it('re-reads the cache when its token is due (55 minutes after it was created), not a moment before', async () => {
    const start = Date.parse('2026-03-01T12:00:00Z');
    vi.useFakeTimers({ toFake: ['Date'], now: start });
    try {
      const dir = scratch();
      const cache = new TokenCache(dir);
      const issued: string[] = [];
      const issue = async () => {
        const token = `due-token-${issued.length + 1}`;
        issued.push(token);
        return { token, created_at: new Date().toISOString() };
      };
      const source = new CachedTokenSource(cache, KEY, issue);
      expect(await source.current()).toBe('due-token-1');
      // Another process renews the token shortly before this one is due.
      vi.setSystemTime(start + 50 * 60_000);
      await cache.store(KEY, { token: 'renewed-elsewhere', created_at: new Date().toISOString() });
      vi.setSystemTime(start + 55 * 60_000 - 1);
      expect(await source.current()).toBe('due-token-1');
      vi.setSystemTime(start + 55 * 60_000);
      expect(await source.current()).toBe('renewed-elsewhere');
      expect(issued).toEqual(['due-token-1']);
    } finally {
      vi.useRealTimers();
    }
  });

  it('when the cache does not hold the token it was given, looks again a minute later', async () => {
    const start = Date.parse('2026-03-01T12:00:00Z');
    vi.useFakeTimers({ toFake: ['Date'], now: start });
    try {
      let handed = 0;
      // A cache whose file another process rewrites at once: it never shows the token handed out.
      const cache = {
        obtain: async () => ({ token: `handed-${(handed += 1)}`, created: true }),
        read: async () => undefined,
      } as unknown as TokenCache;
      const source = new CachedTokenSource(cache, KEY, async () => ({ token: 'unused', created_at: '' }));
      expect(await source.current()).toBe('handed-1');
      vi.setSystemTime(start + 60_000 - 1);
      expect(await source.current()).toBe('handed-1');
      vi.setSystemTime(start + 60_000);
      expect(await source.current()).toBe('handed-2');
    } finally {
      vi.useRealTimers();
    }
  });

  it('when the cache already holds another token than the one given, also looks again a minute later', async () => {
    const start = Date.parse('2026-03-01T12:00:00Z');
    vi.useFakeTimers({ toFake: ['Date'], now: start });
    try {
      let handed = 0;
      const cache = {
        obtain: async () => ({ token: `given-${(handed += 1)}`, created: true }),
        read: async () => ({ token: 'someone-elses', created_at: new Date(start).toISOString(), obtained_at: new Date(start).toISOString() }),
      } as unknown as TokenCache;
      const source = new CachedTokenSource(cache, KEY, async () => ({ token: 'unused', created_at: '' }));
      expect(await source.current()).toBe('given-1');
      vi.setSystemTime(start + 60_000);
      expect(await source.current()).toBe('given-2');
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('RunTokenSource (no usable cache folder)', () => {
  it('one token for every request of the run, created on first use and redacted', async () => {
    let calls = 0;
    const source = new RunTokenSource(async () => {
      calls += 1;
      return { token: `run-token-${calls}-abcd`, created_at: '2026-03-01T12:00:00Z' };
    });
    expect(calls).toBe(0);
    expect(await Promise.all([source.current(), source.current(), source.current()])).toEqual(['run-token-1-abcd', 'run-token-1-abcd', 'run-token-1-abcd']);
    expect(await source.current()).toBe('run-token-1-abcd');
    expect(calls).toBe(1);
    expect(redactor.redact('x run-token-1-abcd y')).toBe('x [REDACTED] y');
  });

  it('renew replaces the refused token once; a refusal of an older token keeps the current one', async () => {
    let calls = 0;
    const source = new RunTokenSource(async () => {
      calls += 1;
      return { token: `renewed-token-${calls}`, created_at: '2026-03-01T12:00:00Z' };
    });
    expect(await source.current()).toBe('renewed-token-1');
    expect(await source.renew('renewed-token-1')).toBe('renewed-token-2');
    expect(await source.renew('renewed-token-1')).toBe('renewed-token-2');
    expect(await source.current()).toBe('renewed-token-2');
    expect(calls).toBe(2);
  });

  it('a failure to create the token is not kept: the next request tries again', async () => {
    let calls = 0;
    const source = new RunTokenSource(async () => {
      calls += 1;
      if (calls === 1) throw new TransientError('token endpoint down');
      return { token: 'second-try-token', created_at: '2026-03-01T12:00:00Z' };
    });
    await expect(source.current()).rejects.toThrow('token endpoint down');
    expect(await source.current()).toBe('second-try-token');
    expect(calls).toBe(2);
  });
});
