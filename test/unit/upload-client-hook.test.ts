import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/api/client.js';

/** The one core change the upload needs: RequestSpec.onSend, called before each attempt goes out. */
let server: Server | undefined;
afterEach(() => new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve())));

async function serve(statuses: number[]): Promise<{ url: string; hits: () => number }> {
  let hits = 0;
  server = createServer((_req, res) => {
    const status = statuses[Math.min(hits, statuses.length - 1)]!;
    hits += 1;
    res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0' }).end(JSON.stringify({ batch_id: 'b' }));
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, hits: () => hits };
}

const client = (baseUrl: string) =>
  new ApiClient({ baseUrl, timeoutMs: 5000, logger: { debug: () => {} }, retryPolicy: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 2, maxRetryAfterMs: 1000 } });

describe('RequestSpec.onSend', () => {
  it('is called before every attempt, retries included', async () => {
    const { url, hits } = await serve([503, 429, 200]);
    const attempts: number[] = [];
    const response = await client(url).request({ endpoint: 'x', method: 'POST', path: '/p', json: {}, auth: false, onSend: (a) => attempts.push(a) });
    expect(response.body).toEqual({ batch_id: 'b' });
    expect(attempts).toEqual([0, 1, 2]);
    expect(hits()).toBe(3);
  });

  it('throwing from it stops the request before anything is sent', async () => {
    const { url, hits } = await serve([503, 200]);
    let calls = 0;
    const stop = new Error('stop');
    const request = client(url).request({
      endpoint: 'x',
      method: 'POST',
      path: '/p',
      json: {},
      auth: false,
      onSend: () => {
        calls += 1;
        if (calls === 2) throw stop;
      },
    });
    await expect(request).rejects.toBe(stop);
    expect(hits()).toBe(1);
  });
});
