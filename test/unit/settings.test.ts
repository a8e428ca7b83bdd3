import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BASE_URL,
  resolveColor,
  resolveConfigDir,
  resolveCredentialSources,
  resolveSettings,
  type Terminal,
} from '../../src/config/settings.js';

const tty: Terminal = { stdinIsTTY: true, stdoutIsTTY: true, stderrIsTTY: true };
const pipe: Terminal = { stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false };

describe('settings precedence: flag > env > profile > default', () => {
  it('base URL', () => {
    const profile = { base_url: 'http://profile.test' };
    expect(resolveSettings({}, {}, pipe, undefined).baseUrl).toBe(DEFAULT_BASE_URL);
    expect(resolveSettings({}, {}, pipe, profile).baseUrl).toBe('http://profile.test');
    expect(resolveSettings({}, { TCB_BASE_URL: 'http://env.test/' }, pipe, profile).baseUrl).toBe('http://env.test');
    expect(resolveSettings({ baseUrl: 'http://flag.test' }, { TCB_BASE_URL: 'http://env.test' }, pipe, profile).baseUrl).toBe(
      'http://flag.test',
    );
  });

  it('profile name', () => {
    expect(resolveSettings({}, {}, pipe, undefined).profileName).toBe('default');
    expect(resolveSettings({}, { TCB_PROFILE: 'ops' }, pipe, undefined).profileName).toBe('ops');
    expect(resolveSettings({ profile: 'cli' }, { TCB_PROFILE: 'ops' }, pipe, undefined).profileName).toBe('cli');
  });

  it('format: table on a TTY, json otherwise; env and flags override; --json with another --format conflicts', () => {
    expect(resolveSettings({}, {}, tty, undefined).format).toBe('table');
    expect(resolveSettings({}, {}, pipe, undefined).format).toBe('json');
    expect(resolveSettings({}, { TCB_FORMAT: 'csv' }, tty, undefined).format).toBe('csv');
    expect(resolveSettings({ format: 'ndjson' }, { TCB_FORMAT: 'csv' }, tty, undefined).format).toBe('ndjson');
    expect(() => resolveSettings({ json: true, format: 'csv' }, {}, tty, undefined)).toThrow(/--json and --format csv conflict/);
    expect(resolveSettings({ json: true, format: 'json' }, {}, tty, undefined).format).toBe('json');
    expect(resolveSettings({ json: true }, { TCB_FORMAT: 'csv' }, tty, undefined)).toMatchObject({ format: 'json', formatSource: 'flag' });
    expect(resolveSettings({}, { TCB_FORMAT: 'csv' }, tty, undefined).formatSource).toBe('env');
    expect(() => resolveSettings({}, { TCB_FORMAT: 'xml' }, tty, undefined)).toThrow(/TCB_FORMAT/);
  });

  it('timeout in seconds, flag over env, rejects nonsense', () => {
    expect(resolveSettings({}, {}, pipe, undefined).timeoutMs).toBe(30_000);
    expect(resolveSettings({}, { TCB_TIMEOUT: '5' }, pipe, undefined).timeoutMs).toBe(5000);
    expect(resolveSettings({ timeout: '1.5' }, { TCB_TIMEOUT: '5' }, pipe, undefined).timeoutMs).toBe(1500);
    expect(() => resolveSettings({ timeout: '-1' }, {}, pipe, undefined)).toThrow(/--timeout/);
    expect(() => resolveSettings({ timeout: '0.0001' }, {}, pipe, undefined)).toThrow(/--timeout/);
    expect(() => resolveSettings({ timeout: '99999999' }, {}, pipe, undefined)).toThrow(/--timeout/);
  });

  it('verbose from flag or TCB_DEBUG=1; interactive needs both TTYs and no CI', () => {
    expect(resolveSettings({}, { TCB_DEBUG: '1' }, pipe, undefined).verbose).toBe(true);
    expect(resolveSettings({}, { TCB_DEBUG: '0' }, pipe, undefined).verbose).toBe(false);
    expect(resolveSettings({}, {}, tty, undefined).interactive).toBe(true);
    expect(resolveSettings({}, { CI: 'true' }, tty, undefined).interactive).toBe(false);
    expect(resolveSettings({}, {}, { ...tty, stdinIsTTY: false }, undefined).interactive).toBe(false);
  });

  it('rejects a base URL that is not http(s)', () => {
    expect(() => resolveSettings({ baseUrl: 'ftp://x' }, {}, pipe, undefined)).toThrow(/http/);
    expect(() => resolveSettings({ baseUrl: 'not a url' }, {}, pipe, undefined)).toThrow(/valid URL/);
  });
});

describe('colour', () => {
  it('follows the TTY, NO_COLOR and --no-color turn it off, FORCE_COLOR on', () => {
    expect(resolveColor({}, {}, true)).toBe(true);
    expect(resolveColor({}, {}, false)).toBe(false);
    expect(resolveColor({}, { NO_COLOR: '1' }, true)).toBe(false);
    expect(resolveColor({ color: false }, { FORCE_COLOR: '1' }, true)).toBe(false);
    expect(resolveColor({}, { FORCE_COLOR: '1' }, false)).toBe(true);
    expect(resolveColor({}, { FORCE_COLOR: '0' }, true)).toBe(false);
  });
});

describe('config dir', () => {
  it('TCB_CONFIG_DIR, else XDG_CONFIG_HOME/tcb, else ~/.config/tcb (no -nodejs suffix)', () => {
    expect(resolveConfigDir({ TCB_CONFIG_DIR: '/tmp/x' }, 'linux', '/home/u')).toBe('/tmp/x');
    expect(resolveConfigDir({ XDG_CONFIG_HOME: '/xdg' }, 'linux', '/home/u')).toBe('/xdg/tcb');
    expect(resolveConfigDir({}, 'linux', '/home/u')).toBe('/home/u/.config/tcb');
  });
});

describe('credentials', () => {
  const profile = { client_account_id: 'acc-p', key_id: 'key-p', api_key: 'secret-p' };
  it('env overrides the profile field by field', () => {
    expect(resolveCredentialSources({}, profile)).toMatchObject({ clientAccountId: 'acc-p', origin: 'profile' });
    expect(resolveCredentialSources({ TCB_KEY_ID: 'key-e' }, profile)).toMatchObject({ keyId: 'key-e', apiKey: 'secret-p', origin: 'mixed' });
    expect(
      resolveCredentialSources({ TCB_CLIENT_ACCOUNT_ID: 'a', TCB_KEY_ID: 'k', TCB_API_KEY: 's' }, undefined),
    ).toEqual({ clientAccountId: 'a', keyId: 'k', apiKey: 's', origin: 'environment' });
    expect(resolveCredentialSources({}, undefined).origin).toBe('none');
  });
});
