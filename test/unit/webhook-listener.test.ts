import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactor } from '../../src/output/redact.js';
import { keyChecker, loggableTarget, startWebhookListener, type ListenerHandle } from '../../src/services/webhooks/listener.js';
import { openWebhookStore } from '../../src/services/webhooks/store.js';
import { tempDir } from '../helpers/cli.js';

const KEY = 'unit-test-key-0123456789';
const HAPPY = readFileSync(path.join(__dirname, '..', 'fixtures', 'api', 'webhook.cmb.slot-picker-happy-flow.json'), 'utf8');

describe('key check and log hygiene', () => {
  it('accepts only the exact key, whatever the length of the guess', () => {
    const matches = keyChecker(KEY);
    expect(matches(KEY)).toBe(true);
    for (const guess of [null, undefined, '', KEY.slice(0, -1), `${KEY}x`, KEY.toUpperCase(), 'x'.repeat(10_000)]) {
      expect(matches(guess)).toBe(false);
    }
  });

  it('masks key-like query values in logged targets, and the redactor masks them again', () => {
    expect(loggableTarget(`/hook?key=${KEY}&x=1`)).toBe('/hook?key=[REDACTED]&x=1');
    expect(loggableTarget(`/hook?a=1&KEY=${KEY}`)).toBe('/hook?a=1&KEY=[REDACTED]');
    expect(loggableTarget(undefined)).toBe('/');
    // The redactor (every stderr write) catches a key= value even if a caller forgot loggableTarget.
    expect(redactor.redact(`127.0.0.1 "POST /tcbiz-webhook?key=${KEY}" 200`)).toBe('127.0.0.1 "POST /tcbiz-webhook?key=[REDACTED]" 200');
  });
});

describe('webhook listener (in process)', () => {
  let dir: string;
  let cleanup: () => void;
  let handle: ListenerHandle;
  let lines: string[];

  beforeEach(async () => {
    ({ dir, cleanup } = tempDir('tcb-webhook-listener-'));
    lines = [];
    handle = await startWebhookListener({
      port: 0,
      host: '127.0.0.1',
      storeFile: path.join(dir, 'events.sqlite'),
      key: KEY,
      log: (line) => lines.push(line),
    });
  });
  afterEach(async () => {
    await handle.close();
    cleanup();
  });

  const post = (body: string, target = `tcbiz-webhook?key=${KEY}`) =>
    fetch(`${handle.url}${target}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });

  it('answers 200 only after the commit: a failing commit gives 503 and stores nothing', async () => {
    const raw = (handle.store as unknown as { db: { exec(sql: string): void } }).db;
    raw.exec("CREATE TRIGGER fail_all BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'simulated I/O error'); END");
    const failed = await post(HAPPY);
    expect(failed.status).toBe(503);
    expect(failed.headers.get('retry-after')).toBe('60');
    expect(handle.stats.failed).toBe(1);
    expect(handle.store.count()).toBe(0);
    raw.exec('DROP TRIGGER fail_all');
    const ok = await post(HAPPY);
    expect(ok.status).toBe(200);
    expect(handle.store.count()).toBe(1);
  });

  it('health on GET and HEAD; other methods on the hook get 405 with Allow', async () => {
    expect((await fetch(`${handle.url}healthz`)).status).toBe(200);
    expect((await fetch(`${handle.url}health`, { method: 'HEAD' })).status).toBe(200);
    const get = await fetch(`${handle.url}tcbiz-webhook?key=${KEY}`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
  });

  it('logs one line per request with the outcome and never the key', async () => {
    await post(HAPPY);
    await post(HAPPY);
    await post(HAPPY, 'tcbiz-webhook?key=wrong');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^127\.0\.0\.1 "POST \/tcbiz-webhook\?key=\[REDACTED\]" 200 [\d.]+ms cmb 860a7f4c-6545-40f1-85be-3655edde650f stored$/);
    expect(lines[1]).toMatch(/ 200 .* duplicate$/);
    expect(lines[2]).toMatch(/ 401 .*wrong key$/);
    expect(lines.join('\n')).not.toContain(KEY);
  });

  it('close() finishes, closes the store and is idempotent; the file is then readable', async () => {
    await post(HAPPY);
    await Promise.all([handle.close(), handle.close()]);
    const reader = openWebhookStore(path.join(dir, 'events.sqlite'), { readonly: true });
    try {
      expect(reader.count()).toBe(1);
    } finally {
      reader.close();
    }
    await expect(fetch(`${handle.url}healthz`)).rejects.toThrow();
  });
});

describe('resolveWebhookKey: TCB_WEBHOOK_KEY, else a prompt on a terminal, never argv', () => {
  const tmp = tempDir('tcb-webhook-key-');
  afterAll(() => tmp.cleanup());
  const context = async (env: Record<string, string>, tty: boolean) => {
    const { createContext } = await import('../../src/context.js');
    return createContext({}, { TCB_CONFIG_DIR: tmp.dir, ...env }, { stdinIsTTY: tty, stdoutIsTTY: tty, stderrIsTTY: false });
  };

  it('takes the environment variable without prompting', async () => {
    const { resolveWebhookKey } = await import('../../src/services/webhooks/service.js');
    const ctx = await context({ TCB_WEBHOOK_KEY: KEY }, true);
    ctx.prompts = { text: async () => 'no', secret: async () => { throw new Error('must not prompt'); }, confirm: async () => false };
    expect(await resolveWebhookKey(ctx)).toBe(KEY);
  });

  it('prompts (masked) on a terminal when the variable is unset', async () => {
    const { resolveWebhookKey } = await import('../../src/services/webhooks/service.js');
    const ctx = await context({}, true);
    const asked: string[] = [];
    ctx.prompts = { text: async () => 'no', secret: async (message) => (asked.push(message), 'typed-key-0123456789'), confirm: async () => false };
    expect(await resolveWebhookKey(ctx)).toBe('typed-key-0123456789');
    expect(asked).toHaveLength(1);
  });

  it('without a terminal: a usage error (exit 2) naming TCB_WEBHOOK_KEY', async () => {
    const { resolveWebhookKey } = await import('../../src/services/webhooks/service.js');
    const ctx = await context({}, false);
    await expect(resolveWebhookKey(ctx)).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('TCB_WEBHOOK_KEY') });
  });
});
