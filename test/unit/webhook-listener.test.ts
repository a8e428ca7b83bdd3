import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import { redactor } from '../../src/output/redact.js';
import {
  clientAddress,
  keyChecker,
  maskTarget,
  queryParameter,
  parseTrustedProxies,
  startWebhookListener,
  type ListenerHandle,
} from '../../src/services/webhooks/listener.js';
import { createDaemonLog, escapeField, type LogDestination } from '../../src/services/webhooks/log.js';
import type { EventSink, EventToStore, InsertResult, WritableCheck } from '../../src/services/webhooks/store-types.js';
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

  it('reads the key parameter exactly as URLSearchParams does', () => {
    const queries = ['key=abc', 'a=1&key=x=y', 'key', 'key=', 'keys=1&key=2', 'a=1', '&&key=z&', 'k=1&key=%41', 'key=a+b', '', '=x&key=1', '%6Bey=1', 'key=1&key=2', 'KEY=1'];
    for (const query of queries) expect(queryParameter(query, 'key'), query).toBe(new URLSearchParams(query).get('key'));
  });

  it('masks key-like query values, judging the name after percent-decoding', () => {
    expect(maskTarget(`/hook?key=${KEY}&x=1`)).toBe('/hook?key=[REDACTED]&x=1');
    expect(maskTarget(`/hook?a=1&KEY=${KEY}`)).toBe('/hook?a=1&KEY=[REDACTED]');
    expect(maskTarget(`/hook?%6Bey=${KEY}`)).toBe('/hook?%6Bey=[REDACTED]');
    expect(maskTarget(`/hook?k%65%79=${KEY}#frag`)).toBe('/hook?k%65%79=[REDACTED]#frag');
    expect(maskTarget(`/hook?api%5Fkey=${KEY}&token=t&keys=fine`)).toBe('/hook?api%5Fkey=[REDACTED]&token=[REDACTED]&keys=fine');
    expect(maskTarget(`/hook?%zzkey=1`)).toBe('/hook?%zzkey=1');
    expect(maskTarget(undefined)).toBe('/');
    // The redactor (every stderr write) catches a key= value even if a caller forgot maskTarget.
    expect(redactor.redact(`127.0.0.1 "POST /tcbiz-webhook?key=${KEY}" 200`)).toBe('127.0.0.1 "POST /tcbiz-webhook?key=[REDACTED]" 200');
  });

  it('escapes control characters, quotes, line separators and C1 controls, and cuts long fields', () => {
    expect(escapeField('a\nb\r\t\u0000\u001b[31m"q"\\\u0085\u2028')).toBe('a\\nb\\r\\t\\u0000\\u001b[31m\\"q\\"\\\\\\u0085\\u2028');
    expect(escapeField('x'.repeat(10), 4)).toBe('xxxx…');
    expect(escapeField(null)).toBe('');
  });
});

describe('client address behind proxies', () => {
  const loopback = parseTrustedProxies('loopback');
  it('ignores X-Forwarded-For unless the peer is a trusted proxy', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.9', undefined)).toBe('127.0.0.1');
    expect(clientAddress('198.51.100.7', '203.0.113.9', loopback)).toBe('198.51.100.7');
  });
  it('takes the right-most hop that is not a trusted proxy', () => {
    expect(clientAddress('127.0.0.1', '203.0.113.9', loopback)).toBe('203.0.113.9');
    expect(clientAddress('::ffff:127.0.0.1', 'spoofed, 203.0.113.9, 127.0.0.2', loopback)).toBe('203.0.113.9');
    expect(clientAddress('::1', ['10.0.0.1', '203.0.113.9'], loopback)).toBe('203.0.113.9');
    expect(clientAddress('127.0.0.1', '127.0.0.5, 127.0.0.6', loopback)).toBe('127.0.0.5');
    const lan = parseTrustedProxies('10.0.0.0/8, 2001:db8::/32, 192.0.2.1');
    expect(clientAddress('10.1.2.3', '203.0.113.9, 192.0.2.1, 2001:db8::5', lan)).toBe('203.0.113.9');
  });
  it('refuses what is not an address or range', () => {
    expect(() => parseTrustedProxies('')).toThrow(/no addresses/);
    expect(() => parseTrustedProxies('proxy.local')).toThrow(/not an IP address/);
    expect(() => parseTrustedProxies('10.0.0.0/33')).toThrow(/bad prefix/);
  });
});

describe('daemon log', () => {
  const capture = () => {
    const lines: string[] = [];
    const listeners: Record<string, (value: unknown) => void> = {};
    const destination: LogDestination = {
      write: (line) => lines.push(line),
      on: (event, listener) => (listeners[event] = listener),
    };
    return { lines, destination, emit: (event: string) => listeners[event]!(new Error('EPIPE')) };
  };
  const entry = { client: '127.0.0.1', method: 'POST', path: '/h?key=[REDACTED]', status: 200, ms: 1.25, event_id: 'e\n1', outcome: 'stored' };

  it('json: one object a line with an ISO time; warnings always, the access log only when on', () => {
    const { lines, destination } = capture();
    const log = createDaemonLog({ format: 'json', accessLog: false, destination });
    log.access(entry);
    log.info('hidden');
    log.warn('careful\u0085', { event_id: 'x' });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/\u0085/);
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'warn', msg: 'careful\u0085', event_id: 'x', time: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) });
    const on = capture();
    createDaemonLog({ format: 'json', accessLog: true, destination: on.destination }).access(entry);
    expect(JSON.parse(on.lines[0]!)).toMatchObject({ level: 'info', msg: 'request', ...entry, ms: 1.3 });
  });

  it('text: a timestamp first, every field escaped, the key redacted', () => {
    const { lines, destination } = capture();
    const log = createDaemonLog({ format: 'text', accessLog: true, destination, now: () => new Date(Date.UTC(2026, 0, 2, 3, 4, 5)) });
    log.access(entry);
    log.error(`could not store: boom ?key=${KEY}`);
    expect(lines).toEqual([
      '2026-01-02T03:04:05.000Z ACCESS 127.0.0.1 "POST /h?key=[REDACTED]" 200 1.3ms stored event_id="e\\n1"\n',
      '2026-01-02T03:04:05.000Z ERROR could not store: boom ?key=[REDACTED]\n',
    ]);
  });

  it('a write error (the reader went away) stops the log, never the caller; lines are counted as dropped', () => {
    const { lines, destination, emit } = capture();
    const log = createDaemonLog({ format: 'text', accessLog: true, destination });
    log.warn('one');
    emit('error');
    log.warn('two');
    log.access(entry);
    expect(lines).toHaveLength(1);
    expect(log.dropped).toBe(2);
    const throwing = createDaemonLog({ format: 'json', accessLog: true, destination: { write: () => { throw new Error('EPIPE'); } } });
    expect(() => throwing.warn('x')).not.toThrow();
    expect(throwing.dropped).toBe(1);
  });
});

/** A store in memory whose commits and health the test controls. */
class FakeSink implements EventSink {
  readonly location = 'memory';
  events: EventToStore[] = [];
  failWith: string | undefined;
  writable: WritableCheck = { ok: true };
  checks = 0;
  async insertBatch(events: readonly EventToStore[]): Promise<InsertResult[]> {
    if (this.failWith) throw new Error(this.failWith);
    return events.map((event) => {
      const at = this.events.findIndex((e) => e.event_id === event.event_id);
      if (at === -1) {
        this.events.push(event);
        return { seq: this.events.length, outcome: 'stored', deliveries: 1, conflicts: 0 };
      }
      return { seq: at + 1, outcome: 'duplicate', deliveries: 2, conflicts: 0 };
    });
  }
  async checkWritable(): Promise<WritableCheck> {
    this.checks += 1;
    return this.writable;
  }
  async count(): Promise<number> {
    return this.events.length;
  }
  async close(): Promise<void> {}
}

describe('webhook listener (in process, over a fake store)', () => {
  let handle: ListenerHandle;
  let sink: FakeSink;
  let lines: string[];

  beforeEach(async () => {
    lines = [];
    sink = new FakeSink();
    const log = createDaemonLog({ format: 'json', accessLog: true, destination: { write: (line) => lines.push(line) } });
    handle = await startWebhookListener({ port: 0, host: '127.0.0.1', sink, key: KEY, log });
  });
  afterEach(async () => {
    await handle.close();
  });

  const post = (body: string, target = `tcbiz-webhook?key=${KEY}`) =>
    fetch(`${handle.url}${target}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  const logged = () => lines.map((line) => JSON.parse(line));

  it('answers 200 only after the commit: a failing commit gives 503 + Retry-After, an error logged once, then recovery', async () => {
    sink.failWith = 'disk I/O error';
    const failed = await Promise.all([post(HAPPY), post(HAPPY.replace('860a', '960a'))]);
    expect(failed.map((r) => r.status)).toEqual([503, 503]);
    expect(failed[0]!.headers.get('retry-after')).toBe('30');
    expect(handle.stats.failed).toBe(2);
    expect(sink.events).toHaveLength(0);
    expect(logged().filter((l) => l.level === 'error')).toHaveLength(1);
    sink.failWith = undefined;
    expect((await post(HAPPY)).status).toBe(200);
    expect(sink.events).toHaveLength(1);
    expect(logged().find((l) => l.msg === 'the store is writable again')).toBeDefined();
  });

  it('health: a real write check, cached, 503 with the reason when nothing can be stored', async () => {
    expect((await fetch(`${handle.url}healthz`)).status).toBe(200);
    expect((await fetch(`${handle.url}health`, { method: 'HEAD' })).status).toBe(200);
    expect(sink.checks).toBe(1); // the second answer came from the cache
    sink.writable = { ok: false, reason: 'database or disk is full' };
    const failedCommit = await (sink.failWith = 'database or disk is full', post(HAPPY));
    expect(failedCommit.status).toBe(503); // a failed commit also drops the cached "ok"
    const health = await fetch(`${handle.url}healthz`);
    expect(health.status).toBe(503);
    expect(await health.json()).toEqual({ status: 'error', error: 'the store cannot be written: database or disk is full' });
  });

  it('other methods on the hook get 405 with Allow, and the connection is closed', async () => {
    const get = await fetch(`${handle.url}tcbiz-webhook?key=${KEY}`);
    expect(get.status).toBe(405);
    expect(get.headers.get('allow')).toBe('POST');
    expect(get.headers.get('connection')).toBe('close');
  });

  it('logs one entry per request with the outcome and never the key', async () => {
    await post(HAPPY);
    await post(HAPPY);
    await post(HAPPY, 'tcbiz-webhook?key=wrong');
    const requests = logged().filter((l) => l.msg === 'request');
    expect(requests.map((r) => [r.status, r.outcome, r.event_id])).toEqual([
      [200, 'stored', '860a7f4c-6545-40f1-85be-3655edde650f'],
      [200, 'duplicate', '860a7f4c-6545-40f1-85be-3655edde650f'],
      [401, 'unauthorized', null],
    ]);
    expect(lines.join('\n')).not.toContain(KEY);
  });

  it('close() finishes and is idempotent; nothing listens afterwards', async () => {
    await post(HAPPY);
    await Promise.all([handle.close(), handle.close()]);
    expect(sink.events).toHaveLength(1);
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
    expect((await resolveWebhookKey(ctx)).key).toBe(KEY);
  });

  it('prompts (masked) on a terminal when the variable is unset', async () => {
    const { resolveWebhookKey } = await import('../../src/services/webhooks/service.js');
    const ctx = await context({}, true);
    const asked: string[] = [];
    ctx.prompts = { text: async () => 'no', secret: async (message) => (asked.push(message), 'typed-key-0123456789'), confirm: async () => false };
    expect((await resolveWebhookKey(ctx)).key).toBe('typed-key-0123456789');
    expect(asked).toHaveLength(1);
  });

  it('without a terminal: a usage error (exit 2) naming TCB_WEBHOOK_KEY', async () => {
    const { resolveWebhookKey } = await import('../../src/services/webhooks/service.js');
    const ctx = await context({}, false);
    await expect(resolveWebhookKey(ctx)).rejects.toMatchObject({ exitCode: 2, message: expect.stringContaining('TCB_WEBHOOK_KEY') });
  });
});
