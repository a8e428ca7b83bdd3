// tcb doctor, run as a child process (no TTY) against the sandbox, in JSON and table form.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { errorEnvelope, startHarness, tempDir, type Harness, type RunResult } from '../helpers/cli.js';
import { WebhookStore } from '../../src/services/webhooks/store.js';

const NAMES = ['node', 'config', 'credentials', 'api', 'token', 'clock', 'access', 'webhook-store'];

interface Check {
  name: string;
  status: 'ok' | 'warn' | 'fail' | 'skip';
  detail: string;
  hint: string | null;
  [extra: string]: unknown;
}

let h: Harness;
let configDir: { dir: string; cleanup: () => void };

beforeAll(async () => {
  h = await startHarness();
});
afterAll(() => h.close());
beforeEach(async () => {
  await fetch(`${h.sandbox.url}/__sandbox/reset`, { method: 'POST' });
  h.sandbox.configure({ clockOffsetMs: 0, deniedAccess: [], tokenLifetimeSeconds: 3600 });
  // Each test starts with no cached token.
  configDir = tempDir('tcb-doctor-');
});
afterEach(() => configDir.cleanup());

function doctor(args: string[] = [], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return h.run(['doctor', ...args], { env: { TCB_CONFIG_DIR: configDir.dir, ...env } });
}

function checksOf(result: RunResult): Record<string, Check> {
  const report = JSON.parse(result.stdout) as { ok: boolean; checks: Check[] };
  expect(report.checks.map((check) => check.name)).toEqual(NAMES);
  for (const check of report.checks) {
    expect(['ok', 'warn', 'fail', 'skip']).toContain(check.status);
    expect(check).toHaveProperty('hint');
  }
  expect(report.ok).toBe(!report.checks.some((check) => check.status === 'fail'));
  return Object.fromEntries(report.checks.map((check) => [check.name, check]));
}

/** The table line of a check: its mark and name. */
function tableLine(stdout: string, name: string): string {
  const line = stdout.split('\n').find((l) => new RegExp(`^. ${name} `).test(l));
  if (!line) throw new Error(`no line for ${name} in:\n${stdout}`);
  return line;
}

function secretsIn(result: RunResult): string[] {
  const secrets = [h.sandbox.credentials.apiKey, h.sandbox.restrictedCredentials.apiKey];
  try {
    const tokens = JSON.parse(readFileSync(path.join(configDir.dir, 'tokens.json'), 'utf8')) as Record<string, { token: string }>;
    secrets.push(...Object.values(tokens).map((entry) => entry.token));
  } catch {
    // no token cached
  }
  return secrets.filter((secret) => result.stdout.includes(secret) || result.stderr.includes(secret));
}

describe('tcb doctor, healthy', () => {
  it('--json: every check ok, one token created and then reused, no secret printed', async () => {
    const first = await doctor(['--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const checks = checksOf(first);
    for (const name of NAMES) expect(checks[name]!.status, `${name}: ${checks[name]!.detail}`).toBe('ok');
    expect(checks.credentials!.sources).toEqual({ client_account_id: 'environment', key_id: 'environment', api_key: 'environment' });
    expect(checks.token).toMatchObject({ created: true });
    expect(Math.abs(checks.clock!.skew_seconds as number)).toBeLessThanOrEqual(2);
    expect((checks.access!.areas as Array<{ status: string }>).map((area) => area.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(h.sandbox.counters().tokensCreated).toBe(1);
    expect(secretsIn(first)).toEqual([]);

    const second = await doctor(['--json']);
    expect(second.code).toBe(0);
    expect(checksOf(second).token).toMatchObject({ status: 'ok', created: false });
    expect(h.sandbox.counters().tokensCreated).toBe(1);
  });

  it('credentials from a stored profile: named as such, config files 0600, still no secret printed', async () => {
    const noEnv = { TCB_CLIENT_ACCOUNT_ID: undefined, TCB_KEY_ID: undefined, TCB_API_KEY: undefined };
    const { clientAccountId, keyId, apiKey } = h.sandbox.credentials;
    const login = await h.run(['auth', 'login', '--client-account-id', clientAccountId, '--key-id', keyId, '--api-key-stdin'], {
      env: { TCB_CONFIG_DIR: configDir.dir, ...noEnv },
      input: apiKey,
    });
    expect(login.code).toBe(0);
    const result = await doctor(['--json'], noEnv);
    expect(result.code).toBe(0);
    const checks = checksOf(result);
    expect(checks.credentials).toMatchObject({ status: 'ok', sources: { client_account_id: 'profile', key_id: 'profile', api_key: 'profile' } });
    expect(checks.credentials!.detail).toContain('secret API key from profile "default"');
    expect(checks.config).toMatchObject({ status: 'ok', profiles: ['default'] });
    expect(checks.config!.detail).toMatch(/config\.json 0600/);
    expect(checks.token).toMatchObject({ created: false });
    expect(secretsIn(result)).toEqual([]);
  });

  it('table: a ✔ line for each check and a summary', async () => {
    const result = await doctor(['--format', 'table', '--verbose']);
    expect(result.code).toBe(0);
    for (const name of NAMES) expect(tableLine(result.stdout, name)).toMatch(/^✔ /);
    expect(result.stdout).toMatch(/\nall checks passed\n$/);
    // --verbose logs the HTTP traffic on stderr, redacted.
    expect(result.stderr).toMatch(/→ POST http:\/\/127\.0\.0\.1:\d+\/clients\/[^/]+\/token/);
    expect(secretsIn(result)).toEqual([]);
  });
});

describe('tcb doctor, clock', () => {
  it('a server 10 minutes ahead fails the clock check: exit 2 (configuration)', async () => {
    h.sandbox.configure({ clockOffsetMs: 600_000 });
    const json = await doctor(['--json']);
    expect(json.code).toBe(2);
    const clock = checksOf(json).clock!;
    expect(clock.status).toBe('fail');
    expect(clock.skew_seconds as number).toBeGreaterThanOrEqual(598);
    expect(clock.skew_seconds as number).toBeLessThanOrEqual(602);
    expect(clock.hint).toMatch(/NTP/);
    expect(errorEnvelope(json.stderr)).toMatchObject({ exit_code: 2 });

    const table = await doctor(['--format', 'table']);
    expect(table.code).toBe(2);
    expect(tableLine(table.stdout, 'clock')).toMatch(/^✖ clock +the API server's clock is 6\d\d s ahead of this machine's/);
    expect(table.stdout).toMatch(/hint: set this machine's clock from NTP/);
  });

  it('a server 90 s behind warns; the run still exits 0', async () => {
    h.sandbox.configure({ clockOffsetMs: -90_000 });
    const json = await doctor(['--json']);
    expect(json.code).toBe(0);
    const clock = checksOf(json).clock!;
    expect(clock.status).toBe('warn');
    expect(clock.skew_seconds as number).toBeLessThanOrEqual(-88);
    expect(clock.skew_seconds as number).toBeGreaterThanOrEqual(-92);

    const table = await doctor(['--format', 'table']);
    expect(table.code).toBe(0);
    expect(tableLine(table.stdout, 'clock')).toMatch(/^! clock +the API server's clock is \d+ s behind/);
  });
});

describe('tcb doctor, access', () => {
  it('a forbidden area warns and names the missing access level; exit 0', async () => {
    h.sandbox.configure({ deniedAccess: ['call-me-back'] });
    const json = await doctor(['--json']);
    expect(json.code).toBe(0);
    const access = checksOf(json).access!;
    expect(access.status).toBe('warn');
    expect(access.areas).toEqual([
      expect.objectContaining({ area: 'labels', status: 'ok' }),
      expect.objectContaining({ area: 'number-management', status: 'ok' }),
      expect.objectContaining({ area: 'call-personalisation', status: 'ok' }),
      expect.objectContaining({ area: 'call-me-back', status: 'forbidden', http_status: 403, access_level: 'Call Me Back' }),
      expect.objectContaining({ area: 'user-feedback', status: 'ok' }),
    ]);
    expect(access.hint).toMatch(/lacks the "Call Me Back" access level/);

    const table = await doctor(['--format', 'table']);
    expect(table.code).toBe(0);
    expect(tableLine(table.stdout, 'access')).toMatch(/^! access +.*Call Me Back forbidden/);
    expect(table.stdout).toMatch(/hint: this key lacks the "Call Me Back" access level/);
  });

  it('the restricted key: labels and number management forbidden', async () => {
    const restricted = { TCB_KEY_ID: h.sandbox.restrictedCredentials.keyId, TCB_API_KEY: h.sandbox.restrictedCredentials.apiKey };
    const result = await doctor(['--json'], restricted);
    expect(result.code).toBe(0);
    const access = checksOf(result).access!;
    expect((access.areas as Array<{ area: string; status: string }>).filter((a) => a.status === 'forbidden').map((a) => a.area)).toEqual([
      'labels',
      'number-management',
    ]);
    expect(access.hint).toMatch(/"Labels", "Number Management" access levels/);
    expect(secretsIn(result)).toEqual([]);
  });

  it('creates at most one token even when the API refuses every token', async () => {
    h.sandbox.configure({ tokenLifetimeSeconds: 0 });
    const result = await doctor(['--json']);
    expect(result.code).toBe(3);
    const checks = checksOf(result);
    expect(checks.token).toMatchObject({ status: 'ok', created: true });
    expect(checks.access).toMatchObject({ status: 'fail' });
    expect(h.sandbox.counters().tokensCreated).toBe(1);
  });
});

describe('tcb doctor, failures', () => {
  it('an unreachable API: api fails, token/clock/access are skipped, exit 5, no token created', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = createServer();
      server.listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as { port: number };
        server.close(() => resolve(free));
      });
    });
    const env = { TCB_BASE_URL: `http://127.0.0.1:${port}` };
    const json = await doctor(['--json'], env);
    expect(json.code).toBe(5);
    const checks = checksOf(json);
    expect(checks.api).toMatchObject({ status: 'fail' });
    expect(checks.api!.detail).toMatch(/ECONNREFUSED/);
    for (const name of ['token', 'clock', 'access']) expect(checks[name]).toMatchObject({ status: 'skip', detail: 'skipped: the API is not reachable' });
    expect(errorEnvelope(json.stderr)).toMatchObject({ exit_code: 5 });
    expect(h.sandbox.counters().tokensCreated).toBe(0);

    const table = await doctor(['--format', 'table'], env);
    expect(table.code).toBe(5);
    expect(tableLine(table.stdout, 'api')).toMatch(/^✖ api +request to http:\/\/127\.0\.0\.1:\d+ failed \(ECONNREFUSED\)/);
    expect(tableLine(table.stdout, 'token')).toMatch(/^- token +skipped/);
    expect(table.stdout).toMatch(/\n1 failed, 0 warnings\n$/);
  });

  it('missing credentials: exit 3 naming the variables, the API still probed', async () => {
    const result = await doctor(['--json'], { TCB_API_KEY: undefined });
    expect(result.code).toBe(3);
    const checks = checksOf(result);
    expect(checks.credentials).toMatchObject({ status: 'fail', sources: { api_key: 'missing' } });
    expect(checks.credentials!.hint).toMatch(/TCB_API_KEY/);
    expect(checks.api!.status).toBe('ok');
    expect(checks.token!.status).toBe('skip');
  });

  it('a config directory others can read fails the config check: exit 2', async () => {
    writeFileSync(path.join(configDir.dir, 'tokens.json'), '{}', { mode: 0o644 });
    chmodSync(path.join(configDir.dir, 'tokens.json'), 0o644);
    const result = await doctor(['--json']);
    expect(result.code).toBe(2);
    const config = checksOf(result).config!;
    expect(config.status).toBe('fail');
    expect(config.detail).toContain(`${path.join(configDir.dir, 'tokens.json')} 0644`);
    expect(config.hint).toMatch(/chmod -R go-rwx/);
  });

  it('--store: a tcb store opens; any other file fails with exit 2', async () => {
    const dir = path.join(configDir.dir, 'stores');
    mkdirSync(dir, { mode: 0o700 });
    const good = path.join(dir, 'events.sqlite');
    new WebhookStore(good).close();
    const ok = await doctor(['--json', '--store', good]);
    expect(ok.code).toBe(0);
    expect(checksOf(ok)['webhook-store']).toMatchObject({ status: 'ok', events: 0 });

    const bad = path.join(dir, 'notes.txt');
    writeFileSync(bad, 'not a database', { mode: 0o600 });
    const result = await doctor(['--json', '--store', bad]);
    expect(result.code).toBe(2);
    expect(checksOf(result)['webhook-store']).toMatchObject({ status: 'fail' });

    const directory = await doctor(['--json', '--store', dir]);
    expect(directory.code).toBe(2);
    expect(checksOf(directory)['webhook-store']!.detail).toBe(`${dir} is a directory, not a webhook store`);
  });
});

const hasOpenssl = spawnSync('openssl', ['version'], { stdio: 'ignore' }).status === 0;

describe.skipIf(!hasOpenssl)('tcb doctor, TLS (skipped without the openssl command to make a certificate)', () => {
  it('names a refused certificate (exit 5), and reports a verified one', async () => {
    // Not in the config dir: a 0644 certificate there would fail the config check first.
    const certs = tempDir('tcb-doctor-tls-');
    const key = path.join(certs.dir, 'key.pem');
    const cert = path.join(certs.dir, 'cert.pem');
    const made = spawnSync('openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    ], { stdio: 'ignore' });
    expect(made.status).toBe(0);
    const server = createHttpsServer({ key: readFileSync(key), cert: readFileSync(cert) }, (_req, res) => {
      res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"slug":"not-found","message":"nothing here"}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const refused = await doctor(['--json'], { TCB_BASE_URL: url });
      expect(refused.code).toBe(5);
      const api = checksOf(refused).api!;
      expect(api).toMatchObject({ status: 'fail', tls: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
      expect(api.detail).toBe(`${url}: TLS failed (DEPTH_ZERO_SELF_SIGNED_CERT)`);
      expect(api.hint).toMatch(/NODE_EXTRA_CA_CERTS/);

      // Trusted through NODE_EXTRA_CA_CERTS, the same server passes the api check (it is no API, so the token fails).
      const trusted = await doctor(['--json'], { TCB_BASE_URL: url, NODE_EXTRA_CA_CERTS: cert });
      const checks = checksOf(trusted);
      expect(checks.api).toMatchObject({ status: 'ok', tls: true, http_status: 404 });
      expect(checks.api!.detail).toMatch(/answered HTTP 404 in \d+ ms; TLS certificate verified$/);
      expect(checks.token!.status).toBe('fail');
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      certs.cleanup();
    }
  });
});
