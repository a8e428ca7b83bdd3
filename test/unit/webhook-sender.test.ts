// `tcb webhook test` sends one event the way Truecaller does: against a scripted receiver on
// port 0, what goes on the wire, what comes back, and how each failure is worded.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { deliverWebhook } from '../../src/api/webhook-sender.js';
import { TransientError, UsageError } from '../../src/errors.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

let server: Server;
let base: string;
let seen: Seen[] = [];
let answer: (res: ServerResponse) => void = (res) => res.end();

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  seen = [];
  answer = (res) => res.end();
});

const EVENT = { event_type: 'cmb', data: { phone: '919876543210' } };

async function failure(promise: Promise<unknown>): Promise<Error & Record<string, unknown>> {
  return promise.then(
    () => {
      throw new Error('expected the delivery to fail');
    },
    (error: unknown) => error as Error & Record<string, unknown>,
  );
}

describe('deliverWebhook', () => {
  it('POSTs the event as JSON with its own user agent and reports the answer', async () => {
    answer = (res) => {
      res.writeHead(202, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('thanks');
    };
    const log: string[] = [];
    const delivery = await deliverWebhook({ url: `${base}/hooks/tc?x=1`, event: EVENT, timeoutMs: 5000, logger: { debug: (m) => log.push(m) } });
    expect(delivery).toMatchObject({ status: 202, body: 'thanks', contentType: 'text/plain; charset=utf-8' });
    expect(delivery.latencyMs).toBeGreaterThanOrEqual(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'POST', url: '/hooks/tc?x=1', body: JSON.stringify(EVENT) });
    expect(seen[0]!.headers['content-type']).toBe('application/json');
    expect(seen[0]!.headers['user-agent']).toBe('tcb-webhook-test');
    expect(log).toHaveLength(2);
    expect(log[0]).toBe(`→ POST ${base}/hooks/tc?x=1`);
    expect(log[1]).toBe(`← 202 ${base}/hooks/tc?x=1 (${delivery.latencyMs} ms)`);
  });

  it('an answer without a body or a type: empty text, null type; a redirect is reported, not followed', async () => {
    answer = (res) => {
      res.writeHead(307, { Location: `${base}/elsewhere` });
      res.end();
    };
    const delivery = await deliverWebhook({ url: `${base}/hook`, event: EVENT, timeoutMs: 5000 });
    expect(delivery).toMatchObject({ status: 307, body: '', contentType: null });
    expect(seen.map((s) => s.url)).toEqual(['/hook']);
  });

  it('keeps 2 000 characters of the answer and marks the cut', async () => {
    answer = (res) => res.end('a'.repeat(2000));
    expect((await deliverWebhook({ url: `${base}/hook`, event: EVENT, timeoutMs: 5000 })).body).toBe('a'.repeat(2000));
    answer = (res) => res.end('b'.repeat(2001));
    expect((await deliverWebhook({ url: `${base}/hook`, event: EVENT, timeoutMs: 5000 })).body).toBe(`${'b'.repeat(2000)}…`);
  });

  it('refuses a URL it cannot read, or one that is not http(s), before sending (exit 2, naming --url)', async () => {
    const bad = await failure(deliverWebhook({ url: 'not a url', event: EVENT, timeoutMs: 5000 }));
    expect(bad).toBeInstanceOf(UsageError);
    expect(bad).toMatchObject({ message: '--url is not a valid URL: "not a url"', field: 'url', exitCode: 2 });
    const ftp = await failure(deliverWebhook({ url: 'ftp://127.0.0.1/x', event: EVENT, timeoutMs: 5000 }));
    expect(ftp).toBeInstanceOf(UsageError);
    expect(ftp).toMatchObject({ message: '--url must be http or https (got ftp:)', field: 'url' });
    expect(seen).toEqual([]);
  });

  it('a receiver that is not listening: exit 5 naming where and why, without the query string', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await failure(deliverWebhook({ url: `http://127.0.0.1:${port}/hook?token=abc`, event: EVENT, timeoutMs: 5000 }));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({
      message: `the receiver at http://127.0.0.1:${port}/hook could not be reached: ECONNREFUSED`,
      code: 'network_error',
      hint: 'is the listener running and reachable from here? (tcb webhook listen --port N)',
      exitCode: 5,
    });
  });

  it('the latency is the time to the whole answer, in tenths of a millisecond', async () => {
    vi.useFakeTimers({ toFake: ['performance'] });
    try {
      vi.advanceTimersByTime(1000);
      answer = (res) => {
        vi.advanceTimersByTime(12.34);
        res.end('ok');
      };
      expect((await deliverWebhook({ url: `${base}/hook`, event: EVENT, timeoutMs: 5000 })).latencyMs).toBe(12.3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('an https receiver is accepted (here it is not listening: a network failure, not a usage error)', async () => {
    const error = await failure(deliverWebhook({ url: 'https://127.0.0.1:1/hook', event: EVENT, timeoutMs: 5000 }));
    expect(error).toBeInstanceOf(TransientError);
    // Port 1 is on fetch's list of bad ports: the reason comes from the cause's message.
    expect(error).toMatchObject({ message: 'the receiver at https://127.0.0.1:1/hook could not be reached: bad port', code: 'network_error' });
  });

  it('a receiver that never answers: a timeout naming the limit', async () => {
    answer = () => {};
    const error = await failure(deliverWebhook({ url: `${base}/slow`, event: EVENT, timeoutMs: 50 }));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ message: `the receiver at ${base}/slow could not be reached: no answer within 50 ms`, code: 'timeout' });
  });

  it("the caller's signal stops the delivery", async () => {
    answer = () => {};
    const controller = new AbortController();
    const pending = failure(deliverWebhook({ url: `${base}/held`, event: EVENT, timeoutMs: 60_000, signal: controller.signal }));
    while (seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error('interrupted by the user'));
    const error = await pending;
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ message: `the receiver at ${base}/held could not be reached: interrupted by the user`, code: 'network_error' });
  });
});
