// httpFetch where undici's fetch behaves in a way its callers rely on: connect timeouts through TLS,
// connections closed under it, cancelled compressed bodies, redirects to other schemes.
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { createGzip } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpFetch, httpFetch } from '../../src/api/http-fetch.js';
import { isBeforeSendCode, networkCode } from '../../src/api/retry.js';

const servers: net.Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    (server as Server).closeAllConnections?.();
    const closed = new Promise((resolve) => server.close(resolve));
    server.emit('close');
    await closed;
  }
});

async function listen<T extends net.Server>(server: T): Promise<string> {
  servers.push(server);
  // Torn down even when a test fails with the client's side still open.
  server.on('connection', (socket: net.Socket) => server.once('close', () => socket.destroy()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('httpFetch against undici', () => {
  it('a TLS handshake that never completes fails as a connect timeout (never sent), as with undici', async () => {
    // TCP accepts; the TLS server hello never comes. undici: UND_ERR_CONNECT_TIMEOUT (retried even for a POST).
    const host = await listen(net.createServer((socket) => socket.on('error', () => {}).resume()));
    const error = await createHttpFetch({ connectTimeoutMs: 50, idleTimeoutMs: 2000 })(`https://${host}/`, { method: 'POST', body: '{}' }).catch(
      (e: unknown) => e,
    );
    expect(networkCode(error)).toBe('UND_ERR_CONNECT_TIMEOUT');
    expect(isBeforeSendCode(networkCode(error))).toBe(true);
  });

  it('cancelling a gzip body closes the connection (it is neither reused nor left open)', async () => {
    let serverSide!: net.Socket;
    const host = await listen(
      createServer((req, res) => {
        serverSide = req.socket;
        res.writeHead(200, { 'Content-Encoding': 'gzip' });
        const gzip = createGzip();
        gzip.pipe(res);
        gzip.write('a,b,c\n'.repeat(1000));
        gzip.flush();
      }),
    );
    const response = await httpFetch(`http://${host}/`);
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    const closed = new Promise<string>((resolve) => serverSide.once('close', () => resolve('closed')));
    expect(await closed).toBe('closed');
  }, 10_000);

  it('a GET, PUT, DELETE or OPTIONS sent on a kept-alive connection the server closed right after its answer is sent again on a new one', async () => {
    // Keep-alive answer without "Connection: close", then the server closes at once.
    const host = await listen(
      net.createServer((socket) => {
        socket.on('error', () => {});
        socket.once('data', () => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
          setImmediate(() => socket.destroy());
        });
      }),
    );
    const failures: string[] = [];
    for (const method of ['GET', 'PUT', 'DELETE', 'OPTIONS']) {
      for (let i = 0; i < 10; i += 1) {
        try {
          expect(await (await httpFetch(`http://${host}/`, { method })).text()).toBe('ok');
        } catch (error) {
          failures.push(`${method} ${String(networkCode(error))}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('a redirect to a non-HTTP scheme is a "fetch failed" network error, as with undici', async () => {
    const host = await listen(createServer((_req, res) => res.writeHead(302, { Location: 'file:///etc/passwd' }).end()));
    const error = await httpFetch(`http://${host}/`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect((error as Error).message).toBe('fetch failed');
  });
});
