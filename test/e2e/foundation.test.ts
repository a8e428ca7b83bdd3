import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli.js';
import { BIN, ROOT, baseEnv, errorEnvelope, runTcb, startHarness, tempDir, type Harness } from '../helpers/cli.js';

const ANSI = /\u001b\[\d+m/;

function leafCommands(): string[][] {
  const result: string[][] = [];
  const walk = (command: ReturnType<typeof buildProgram>, prefix: string[]) => {
    for (const sub of command.commands) {
      const name = [...prefix, sub.name()];
      if (sub.commands.length === 0) result.push(name);
      else walk(sub, name);
    }
  };
  walk(buildProgram(), []);
  return result;
}

/** Runs a shell pipeline, returning the exit status of tcb (the first command). */
function pipeline(command: string, env: Record<string, string>): Promise<{ status: string; out: string; err: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `${command}; echo "status=\${PIPESTATUS[0]}" >&2`], { env: baseEnv(env), cwd: ROOT });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    child.on('close', () => resolve({ status: /status=(\d+)/.exec(err)?.[1] ?? '?', out, err }));
  });
}

describe('tcb foundation, end to end against the sandbox', () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  describe('auth', () => {
    let dir: ReturnType<typeof tempDir>;
    let env: Record<string, string>;
    beforeAll(() => {
      dir = tempDir();
      env = { TCB_CONFIG_DIR: dir.dir };
    });
    afterAll(() => dir.cleanup());

    it('login (flags + --api-key-stdin) proves the key, stores a 0600 profile and token cache', async () => {
      const before = h.sandbox.counters().tokensCreated;
      const { credentials } = h.sandbox;
      const result = await runTcb(
        ['auth', 'login', '--base-url', h.sandbox.url, '--client-account-id', credentials.clientAccountId, '--key-id', credentials.keyId, '--api-key-stdin'],
        { env, input: `${credentials.apiKey}\n` },
      );
      expect(result.stderr).toBe('');
      expect(result.code).toBe(0);
      const body = JSON.parse(result.stdout);
      expect(body).toMatchObject({ profile: 'default', key_id: credentials.keyId, base_url: h.sandbox.url });
      expect(result.stdout).not.toContain(credentials.apiKey);
      expect(h.sandbox.counters().tokensCreated).toBe(before + 1);
      for (const file of ['config.json', 'tokens.json']) {
        expect(statSync(path.join(dir.dir, file)).mode & 0o777).toBe(0o600);
      }
    });

    it('status shows the profile and token age, never a secret', async () => {
      const result = await runTcb(['auth', 'status'], { env });
      expect(result.code).toBe(0);
      const status = JSON.parse(result.stdout);
      expect(status.active_profile).toBe('default');
      expect(status.profiles[0]).toMatchObject({ name: 'default', active: true, has_secret: true });
      expect(status.profiles[0].token.fresh).toBe(true);
      expect(result.stdout).not.toContain(h.sandbox.credentials.apiKey);
      const token = JSON.parse(readFileSync(path.join(dir.dir, 'tokens.json'), 'utf8'));
      const cached = Object.values(token as Record<string, { token: string }>)[0]!.token;
      expect(result.stdout).not.toContain(cached);
    });

    it('token prints the cached token, reused across processes', async () => {
      const before = h.sandbox.counters().tokensCreated;
      const first = await runTcb(['auth', 'token'], { env });
      const second = await runTcb(['auth', 'token'], { env });
      const labels = await runTcb(['labels', 'list'], { env });
      expect(first.code).toBe(0);
      expect(first.stdout.trim()).toMatch(/^[A-Za-z0-9]{64}$/);
      expect(second.stdout).toBe(first.stdout);
      expect(labels.code).toBe(0);
      expect(h.sandbox.counters().tokensCreated).toBe(before);
      const json = await runTcb(['auth', 'token', '--json'], { env });
      expect(JSON.parse(json.stdout)).toEqual({ token: first.stdout.trim() });
      const cron = await runTcb(['auth', 'token'], { env: { ...env, TCB_FORMAT: 'json' } });
      expect(cron.stdout).toBe(first.stdout);
    });

    it('logout forgets the secret and the cached token; commands then fail with exit 3', async () => {
      const result = await runTcb(['auth', 'logout'], { env });
      expect(result.code).toBe(0);
      expect(JSON.parse(result.stdout)).toEqual({ profile: 'default', secret_removed: true, token_removed: true });
      const config = readFileSync(path.join(dir.dir, 'config.json'), 'utf8');
      expect(config).not.toContain(h.sandbox.credentials.apiKey);
      expect(config).toContain(h.sandbox.credentials.keyId);
      const after = await runTcb(['labels', 'list'], { env });
      expect(after.code).toBe(3);
      expect(errorEnvelope(after.stderr)).toMatchObject({ code: 'missing_credentials', exit_code: 3 });
    });

    it('a wrong secret exits 3 with the JSON envelope and stores nothing', async () => {
      const other = tempDir();
      const result = await runTcb(
        ['auth', 'login', '--base-url', h.sandbox.url, '--client-account-id', h.sandbox.credentials.clientAccountId, '--key-id', h.sandbox.credentials.keyId, '--api-key-stdin'],
        { env: { TCB_CONFIG_DIR: other.dir }, input: 'not-the-secret-at-all' },
      );
      expect(result.code).toBe(3);
      const envelope = errorEnvelope(result.stderr);
      expect(envelope).toMatchObject({ http_status: 401, slug: 'authorization-error', exit_code: 3 });
      expect(result.stderr).not.toContain('not-the-secret-at-all');
      expect(existsSync(path.join(other.dir, 'config.json'))).toBe(false);
      other.cleanup();
    });

    it('without a TTY, a value that would be prompted for exits 2 naming the flag, sending nothing', async () => {
      const before = h.sandbox.counters().requests['token-create'] ?? 0;
      const other = tempDir();
      const noIds = await runTcb(['auth', 'login', '--base-url', h.sandbox.url], { env: { TCB_CONFIG_DIR: other.dir } });
      expect(noIds.code).toBe(2);
      expect(errorEnvelope(noIds.stderr).message).toContain('--client-account-id');
      const noSecret = await runTcb(
        ['auth', 'login', '--base-url', h.sandbox.url, '--client-account-id', 'abc-123', '--key-id', 'def-456'],
        { env: { TCB_CONFIG_DIR: other.dir } },
      );
      expect(noSecret.code).toBe(2);
      expect(errorEnvelope(noSecret.stderr).message).toContain('--api-key-stdin');
      expect(h.sandbox.counters().requests['token-create'] ?? 0).toBe(before);
      other.cleanup();
    });
  });

  describe('mistakes and interruptions', () => {
    it('a secret typed as --api-key=VALUE is refused without echoing it, pointing to --api-key-stdin', async () => {
      const secret = h.sandbox.credentials.apiKey;
      const result = await runTcb(['auth', 'login', `--api-key=${secret}`]);
      expect(result.code).toBe(2);
      expect(result.stderr).not.toContain(secret);
      const envelope = errorEnvelope(result.stderr);
      expect(envelope.message).toContain('--api-key=…');
      expect(envelope.hint).toContain('--api-key-stdin');
    });

    it('Ctrl-C at a prompt exits 130 and stores nothing', async () => {
      const dir = tempDir();
      // `script` gives tcb a real terminal; ^C is typed once the prompt is on screen.
      const child = spawn('script', ['-qec', `node ${BIN} auth login; echo RC=$?`, '/dev/null'], {
        env: baseEnv({ TCB_CONFIG_DIR: dir.dir }),
        cwd: ROOT,
      });
      let out = '';
      let typed = false;
      child.stdout.on('data', (chunk) => {
        out += chunk;
        if (!typed && out.includes('Client account id')) {
          typed = true;
          child.stdin.write('\u0003');
        }
      });
      const guard = setTimeout(() => child.kill('SIGKILL'), 20_000);
      await new Promise((resolve) => child.on('close', resolve));
      clearTimeout(guard);
      expect(typed).toBe(true);
      expect(out).toContain('stopped at the prompt');
      expect(out).toContain('RC=130');
      expect(existsSync(path.join(dir.dir, 'config.json'))).toBe(false);
      dir.cleanup();
    });

    it('a damaged config file or an unusable config dir exits 2 naming the path', async () => {
      const dir = tempDir();
      writeFileSync(path.join(dir.dir, 'config.json'), '{bad');
      const corrupt = await runTcb(['auth', 'status'], { env: { TCB_CONFIG_DIR: dir.dir } });
      expect(corrupt.code).toBe(2);
      const envelope = errorEnvelope(corrupt.stderr);
      expect(envelope.message).toContain(path.join(dir.dir, 'config.json'));
      expect(envelope.hint).toMatch(/fix or remove/);
      const notADir = path.join(dir.dir, 'config.json', 'nested');
      const unusable = await h.run(['labels', 'list'], { env: { TCB_CONFIG_DIR: notADir } });
      expect(unusable.code).toBe(2);
      expect(errorEnvelope(unusable.stderr).message).toContain(notADir);
      dir.cleanup();
    });

    it('secrets echoed by the API in an error body are redacted on stderr', async () => {
      const dir = tempDir();
      const env = { TCB_CONFIG_DIR: dir.dir };
      const token = (await h.run(['auth', 'token'], { env })).stdout.trim();
      const apiKey = h.sandbox.credentials.apiKey;
      h.sandbox.inject({
        endpoint: 'labels-get',
        status: 400,
        body: { slug: 'invalid-input', message: `bad request with token ${token} for key ${apiKey}` },
      });
      const result = await h.run(['labels', 'list', '--verbose'], { env });
      dir.cleanup();
      expect(result.code).toBe(4);
      expect(result.stderr).toContain('[REDACTED]');
      expect(result.stderr).not.toContain(token);
      expect(result.stderr).not.toContain(apiKey);
    });
  });

  describe('token cache', () => {
    it('env-only mode needs no config file', async () => {
      const dir = tempDir();
      const result = await h.run(['labels', 'list'], { env: { TCB_CONFIG_DIR: dir.dir } });
      expect(result.code).toBe(0);
      expect(existsSync(path.join(dir.dir, 'config.json'))).toBe(false);
      expect(statSync(path.join(dir.dir, 'tokens.json')).mode & 0o777).toBe(0o600);
      dir.cleanup();
    });

    it('an expired token is refused with 401, replaced once, and the request repeated', async () => {
      const short = await startHarness();
      try {
        expect((await short.run(['labels', 'list'])).code).toBe(0);
        // The cached token still looks fresh to tcb; only the API knows it has expired.
        expect(short.sandbox.expireTokens()).toBe(1);
        const result = await short.run(['labels', 'list', '--verbose']);
        expect(result.code).toBe(0);
        expect(result.stderr).toContain('← 401');
        expect(short.sandbox.counters().tokensCreated).toBe(2);
        expect(JSON.parse(result.stdout)).toHaveLength(short.sandbox.state.labels.length);
      } finally {
        await short.close();
      }
    });

    it('the token quota (429 on token creation) exits 3 saying so and when to retry', async () => {
      const tight = await startHarness({ tokenQuota: 1 });
      try {
        expect((await tight.run(['labels', 'list'])).code).toBe(0);
        const dir = tempDir();
        const result = await tight.run(['labels', 'list'], { env: { TCB_CONFIG_DIR: dir.dir } });
        dir.cleanup();
        expect(result.code).toBe(3);
        const envelope = errorEnvelope(result.stderr);
        expect(envelope.code).toBe('token_quota_exceeded');
        expect(envelope.message).toMatch(/token quota/);
        expect(envelope.hint).toMatch(/retry in \d+ s/);
        expect(tight.sandbox.counters().tokensCreated).toBe(1);
      } finally {
        await tight.close();
      }
    });
  });

  describe('HTTP policy', () => {
    it('a GET retries injected 503s and succeeds', async () => {
      const before = h.sandbox.counters().requests['labels-get'] ?? 0;
      h.sandbox.inject({ endpoint: 'labels-get', status: 503, count: 2, retryAfterSeconds: 0 });
      const result = await h.run(['labels', 'list']);
      expect(result.code).toBe(0);
      expect(h.sandbox.counters().requests['labels-get']).toBe(before + 3);
    });

    it('a Retry-After longer than the cap fails fast with exit 5 naming the wait', async () => {
      h.sandbox.inject({ endpoint: 'feature-sets-get', status: 429, count: 1, retryAfterSeconds: 3600 });
      const result = await h.run(['feature-sets', 'list']);
      expect(result.code).toBe(5);
      const envelope = errorEnvelope(result.stderr);
      expect(envelope.code).toBe('retry_after_too_long');
      expect(envelope.message).toContain('3600 s');
    });

    it('a POST answered 500 is not retried (its outcome is unknown)', async () => {
      const dir = tempDir();
      const before = h.sandbox.counters().requests['token-create'] ?? 0;
      h.sandbox.inject({ endpoint: 'token-create', status: 500, count: 1 });
      const result = await h.run(['labels', 'list'], { env: { TCB_CONFIG_DIR: dir.dir } });
      dir.cleanup();
      expect(result.code).toBe(5);
      expect(h.sandbox.counters().requests['token-create']).toBe(before + 1);
    });

    it('a forbidden key (403) exits 3 with the API message and a hint about access levels', async () => {
      const dir = tempDir();
      const result = await h.run(['labels', 'list'], {
        env: { TCB_CONFIG_DIR: dir.dir, TCB_KEY_ID: h.sandbox.restrictedCredentials.keyId, TCB_API_KEY: h.sandbox.restrictedCredentials.apiKey },
      });
      dir.cleanup();
      expect(result.code).toBe(3);
      const envelope = errorEnvelope(result.stderr);
      expect(envelope).toMatchObject({ http_status: 403, slug: 'forbidden-error' });
      expect(envelope.message).toContain('not authorized. please contact your admin.');
      expect(envelope.hint).toMatch(/access level/);
    });

    it('--verbose logs method, URL, status and timing, with the secrets an API echoes redacted', async () => {
      const dir = tempDir();
      const env = { TCB_CONFIG_DIR: dir.dir };
      const created = await h.run(['auth', 'token', '--verbose'], { env });
      expect(created.stderr).toMatch(/→ POST http:\/\/127\.0\.0\.1:\d+\/clients\/[^/]+\/token\n/);
      const token = created.stdout.trim();
      const apiKey = h.sandbox.credentials.apiKey;
      // The request id is logged; this API echoes both secrets in it.
      h.sandbox.inject({ endpoint: 'labels-get', status: 503, retryAfterSeconds: 0, headers: { 'X-Request-Id': `echo-${token}-${apiKey}` } });
      const result = await h.run(['labels', 'list', '--verbose'], { env });
      dir.cleanup();
      expect(result.code).toBe(0);
      expect(result.stderr).toMatch(/→ GET http:\/\/127\.0\.0\.1:\d+\/clients\/[^/]+\/labels\?page=1\n/);
      expect(result.stderr).toMatch(/← 503 GET \/clients\/[^ ]+\/labels\?page=1 \d+ms request-id=echo-\[REDACTED\]-\[REDACTED\]\n/);
      expect(result.stderr).toMatch(/← 200 GET \/clients\/[^ ]+\/labels\?page=1 \d+ms request-id=[0-9a-f-]{36}\n/);
      expect(result.stderr).not.toContain(token);
      expect(result.stderr).not.toContain(apiKey);
    });
  });

  describe('lists', () => {
    it('labels in every format; --all across small pages equals the seeded data', async () => {
      const ids = h.sandbox.state.labels.map((label: { id: string }) => label.id);
      const json = await h.run(['labels', 'list', '--all', '--limit', '2', '--format', 'json']);
      expect(json.code).toBe(0);
      expect(JSON.parse(json.stdout).map((l: { id: string }) => l.id)).toEqual(ids);
      const ndjson = await h.run(['labels', 'list', '--all', '--limit', '2', '--format', 'ndjson']);
      expect(ndjson.stdout.trim().split('\n').map((line) => JSON.parse(line).id)).toEqual(ids);
      const csv = await h.run(['labels', 'list', '--format', 'csv']);
      const lines = csv.stdout.trim().split('\n');
      expect(lines[0]).toBe('id,name,logo_url,category,sub_category,created_by_email,created_at,label_type');
      expect(lines).toHaveLength(ids.length + 1);
      const table = await h.run(['labels', 'list', '--format', 'table']);
      expect(table.stdout).toContain('Name');
      for (const label of h.sandbox.state.labels as Array<{ name: string }>) expect(table.stdout).toContain(label.name);
    });

    it('feature sets in every format, with filters, paging and the pagination_info envelope', async () => {
      const all = h.sandbox.state.featureSets as Array<{ id: string; department_id: string }>;
      const json = await h.run(['feature-sets', 'list', '--all', '--limit', '3']);
      expect(JSON.parse(json.stdout).map((f: { id: string }) => f.id)).toEqual(all.map((f) => f.id));
      const department = all[0]!.department_id;
      const filtered = await h.run(['feature-sets', 'list', '--all', '--department-id', department, '--format', 'ndjson']);
      const rows = filtered.stdout.trim().split('\n').map((line) => JSON.parse(line));
      expect(rows.length).toBe(all.filter((f) => f.department_id === department).length);
      expect(rows.every((row: { department_id: string }) => row.department_id === department)).toBe(true);
      const page2 = await h.run(['feature-sets', 'list', '--page', '2', '--limit', '3']);
      expect(JSON.parse(page2.stdout).map((f: { id: string }) => f.id)).toEqual(all.slice(3, 6).map((f) => f.id));
      const csv = await h.run(['feature-sets', 'list', '--all', '--format', 'csv']);
      expect(csv.stdout.trim().split('\n')).toHaveLength(all.length + 1);
      const table = await h.run(['feature-sets', 'list', '--format', 'table']);
      expect(table.stdout).toContain('Department');
    });

    it('bad paging flags exit 2 naming the flag, before any request', async () => {
      const result = await h.run(['labels', 'list', '--limit', 'ten']);
      expect(result.code).toBe(2);
      expect(errorEnvelope(result.stderr).message).toContain('--limit');
      const format = await h.run(['labels', 'list', '--format', 'xml']);
      expect(format.code).toBe(2);
    });

    it('`| head -1` ends quietly with status 0', async () => {
      const slow = await startHarness({ latencyMs: 150 });
      try {
        const result = await pipeline(
          `node ${BIN} feature-sets list --all --limit 1 --format ndjson | head -1`,
          slow.env,
        );
        expect(result.status).toBe('0');
        expect(result.out.trim().split('\n')).toHaveLength(1);
        expect(result.err.replace(/status=\d+\n?/, '')).toBe('');
      } finally {
        await slow.close();
      }
    });
  });

  describe('colour', () => {
    it('off without a TTY, on with FORCE_COLOR, off again with --no-color', async () => {
      const plain = await h.run(['labels', 'list', '--format', 'table']);
      expect(plain.stdout).not.toMatch(ANSI);
      const forced = await h.run(['labels', 'list', '--format', 'table'], { env: { FORCE_COLOR: '1' } });
      expect(forced.stdout).toMatch(ANSI);
      const off = await h.run(['labels', 'list', '--format', 'table', '--no-color'], { env: { FORCE_COLOR: '1' } });
      expect(off.stdout).not.toMatch(ANSI);
    });

    it('on a real terminal: colour by default, none with NO_COLOR', async () => {
      const onTty = (extra: Record<string, string>) =>
        pipeline(`script -qec "node ${BIN} labels list" /dev/null`, { ...h.env, ...extra });
      const coloured = await onTty({});
      expect(coloured.status).toBe('0');
      expect(coloured.out).toMatch(ANSI);
      const noColor = await onTty({ NO_COLOR: '1' });
      expect(noColor.out).toContain('FlowerEra');
      expect(noColor.out).not.toMatch(ANSI);
    });
  });

  describe('help and usage', () => {
    it('every command has an example in its --help', async () => {
      expect.hasAssertions();
      const commands = leafCommands();
      expect(commands.length).toBeGreaterThanOrEqual(7);
      const results = await Promise.all(commands.map((command) => runTcb([...command, '--help'])));
      results.forEach((result, index) => {
        expect(result.code, commands[index]!.join(' ')).toBe(0);
        const examples = result.stdout.split('Examples:\n')[1] ?? '';
        expect(examples, commands[index]!.join(' ')).toMatch(new RegExp(`^ {2}\\$ tcb ${commands[index]!.join(' ')}`, 'm'));
      });
    });

    it('--version prints the package version; an unknown command exits 2 with the envelope', async () => {
      const version = await runTcb(['--version']);
      expect(version.stdout.trim()).toBe(JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')).version);
      const bare = await runTcb(['auth']);
      expect(bare.code).toBe(2);
      expect(bare.stderr).toContain('Usage: tcb auth');
      expect(bare.stderr).not.toContain('"error"');
      const unknown = await runTcb(['frobnicate']);
      expect(unknown.code).toBe(2);
      expect(errorEnvelope(unknown.stderr).message).toContain('frobnicate');
    });
  });
});
