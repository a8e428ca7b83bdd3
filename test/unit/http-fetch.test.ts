// The fetch tcb hands to ky and the log downloads (node:http instead of undici): the fetch
// contract its callers rely on, against local servers on port 0.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import ky from 'ky';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpFetch, httpFetch } from '../../src/api/http-fetch.js';
import { networkCode } from '../../src/api/retry.js';

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

/** A server on port 0 that records each request and answers with handler. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse, seen: Seen) => void): Promise<{ url: string; seen: Seen[] }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      const entry = { method: req.method!, url: req.url!, headers: req.headers, body };
      seen.push(entry);
      handler(req, res, entry);
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('httpFetch', () => {
  it('through ky: sends the JSON body with its length and the default headers, returns status, headers and body', async () => {
    const { url, seen } = await serve((_req, res) => {
      res.setHeader('Set-Cookie', ['a=1', 'b=2']);
      res.writeHead(201, 'Created', { 'Content-Type': 'application/json', 'X-Request-Id': 'r-1' });
      res.end('{"ok":true}');
    });
    const response = await ky(`${url}/v2/things?x=1`, {
      method: 'POST',
      json: { name: 'ünïcode' },
      headers: { Authorization: 'Bearer t0k' },
      retry: 0,
      throwHttpErrors: false,
      fetch: httpFetch,
    });
    expect(response.status).toBe(201);
    expect(response.statusText).toBe('Created');
    expect(response.headers.get('x-request-id')).toBe('r-1');
    expect(response.headers.getSetCookie()).toEqual(['a=1', 'b=2']);
    expect(await response.json()).toEqual({ ok: true });
    expect(seen).toHaveLength(1);
    expect(seen[0]!.method).toBe('POST');
    expect(seen[0]!.url).toBe('/v2/things?x=1');
    expect(seen[0]!.body).toBe('{"name":"ünïcode"}');
    expect(seen[0]!.headers['content-length']).toBe(String(Buffer.byteLength('{"name":"ünïcode"}')));
    expect(seen[0]!.headers['content-type']).toBe('application/json');
    expect(seen[0]!.headers.authorization).toBe('Bearer t0k');
    expect(seen[0]!.headers['user-agent']).toBe('node');
    expect(seen[0]!.headers['accept-encoding']).toBe('gzip, deflate');
  });

  it('decodes gzip, deflate and br bodies', async () => {
    const text = 'id,name\n1,Ada\n'.repeat(1000);
    const encoders: Record<string, (b: Buffer) => Buffer> = { gzip: gzipSync, deflate: deflateSync, br: brotliCompressSync };
    const { url } = await serve((req, res) => {
      const encoding = req.url!.slice(1);
      res.writeHead(200, { 'Content-Encoding': encoding });
      res.end(encoders[encoding]!(Buffer.from(text)));
    });
    for (const encoding of Object.keys(encoders)) {
      const response = await httpFetch(new URL(`${url}/${encoding}`));
      expect(await response.text()).toBe(text);
    }
  });

  it('204 and HEAD answers have no body', async () => {
    const { url } = await serve((req, res) => {
      res.writeHead(req.method === 'HEAD' ? 200 : 204, { 'Content-Length': req.method === 'HEAD' ? '5' : '0' });
      res.end();
    });
    const empty = await httpFetch(url, { method: 'DELETE' });
    expect(empty.status).toBe(204);
    expect(empty.body).toBeNull();
    const head = await httpFetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBeNull();
  });

  it('follows redirects: 302 turns a POST into a GET without body, 307 keeps both', async () => {
    const { url, seen } = await serve((req, res) => {
      if (req.url === '/found') return res.writeHead(302, { Location: '/target' }).end();
      if (req.url === '/temporary') return res.writeHead(307, { Location: '/target' }).end();
      res.end(`${req.method} ${req.url}`);
    });
    const found = await httpFetch(`${url}/found`, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    expect(await found.text()).toBe('GET /target');
    expect(seen[1]!.body).toBe('');
    expect(seen[1]!.headers['content-type']).toBeUndefined();
    const temporary = await httpFetch(`${url}/temporary`, { method: 'POST', body: 'payload' });
    expect(await temporary.text()).toBe('POST /target');
    expect(seen[3]!.body).toBe('payload');
  });

  it('a redirect to another origin does not carry the Authorization header; the same origin does', async () => {
    const other = await serve((_req, res) => res.end('other'));
    const { url, seen } = await serve((req, res) => {
      if (req.url === '/away') return res.writeHead(302, { Location: `${other.url}/x` }).end();
      if (req.url === '/home') return res.writeHead(302, { Location: '/x' }).end();
      res.end('home');
    });
    await (await httpFetch(`${url}/away`, { headers: { Authorization: 'Bearer secret' } })).text();
    expect(other.seen[0]!.headers.authorization).toBeUndefined();
    await (await httpFetch(`${url}/home`, { headers: { Authorization: 'Bearer secret' } })).text();
    expect(seen.at(-1)!.headers.authorization).toBe('Bearer secret');
  });

  it("redirect: 'manual' returns the 3xx with its Location; a redirect loop fails after 20 hops", async () => {
    const { url } = await serve((req, res) => {
      res.writeHead(302, { Location: req.url === '/loop' ? '/loop' : 'https://storage.invalid/file.csv' }).end();
    });
    const manual = await httpFetch(`${url}/once`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect(manual.headers.get('location')).toBe('https://storage.invalid/file.csv');
    const error = await httpFetch(`${url}/loop`).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(((error as TypeError).cause as Error).message).toMatch(/redirect count/);
  });

  it('a refused connection is a TypeError whose cause carries ECONNREFUSED, as with undici', async () => {
    const { url } = await serve((_req, res) => res.end());
    const closed = servers.pop()!;
    await new Promise((resolve) => closed.close(resolve));
    const error = await httpFetch(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(networkCode(error)).toBe('ECONNREFUSED');
  });

  it('an abort before the answer rejects with the signal reason and closes the connection', async () => {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
    const controller = new AbortController();
    const { url } = await serve((req) => {
      req.socket.on('close', closed);
      controller.abort(new Error('stop now'));
    });
    const error = await httpFetch(url, { signal: controller.signal }).catch((e: unknown) => e);
    expect((error as Error).message).toBe('stop now');
    await connectionClosed;
  });

  it('an abort while the body streams errors the body with the signal reason', async () => {
    const controller = new AbortController();
    const { url } = await serve((_req, res) => {
      res.writeHead(200);
      res.write('first chunk');
    });
    const response = await httpFetch(url, { signal: controller.signal });
    const reader = response.body!.getReader();
    expect(Buffer.from((await reader.read()).value!).toString()).toBe('first chunk');
    const reason = new Error('idle');
    controller.abort(reason);
    await expect(reader.read()).rejects.toBe(reason);
  });

  it('a connection dropped mid-body errors the body with a TypeError (a network failure)', async () => {
    const { url } = await serve((req, res) => {
      res.writeHead(200, { 'Content-Length': '100' });
      res.write('only part', () => req.socket.destroy());
    });
    const response = await httpFetch(url);
    const error = await response.text().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
  });

  it('a server that never answers fails after the idle timeout, as a headers timeout', async () => {
    const { url } = await serve(() => {});
    const error = await createHttpFetch({ idleTimeoutMs: 50 })(url).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TypeError);
    expect(networkCode(error)).toBe('UND_ERR_HEADERS_TIMEOUT');
  });

  it("closes an idle kept-alive connection before the server's announced Keep-Alive timeout", async () => {
    // If the client kept it, the server would close it first, racing the next request (ECONNRESET).
    let clientEnded!: (how: string) => void;
    const ended = new Promise<string>((resolve) => (clientEnded = resolve));
    const { url } = await serve((_req, res) => res.end('ok'));
    const server = servers.at(-1)!;
    server.keepAliveTimeout = 2000; // announced as Keep-Alive: timeout=2
    server.on('connection', (socket) => {
      socket.once('end', () => clientEnded('client closed it'));
      socket.once('close', () => clientEnded('server closed it'));
    });
    expect(await (await httpFetch(url)).text()).toBe('ok');
    expect(await ended).toBe('client closed it');
  });

  it('refuses a protocol other than http(s)', async () => {
    await expect(httpFetch('ftp://127.0.0.1/file')).rejects.toBeInstanceOf(TypeError);
  });
});

describe('httpFetch: the requests it sends', () => {
  it("sends undici's default headers when the caller gives none, and the caller's own when it does", async () => {
    const { url, seen } = await serve((_req, res) => res.end('ok'));
    await (await httpFetch(`${url}/a`)).text();
    expect(seen[0]!.headers).toMatchObject({
      accept: '*/*',
      'accept-language': '*',
      'sec-fetch-mode': 'cors',
      'user-agent': 'node',
      'accept-encoding': 'gzip, deflate',
    });
    await (await httpFetch(`${url}/b`, { headers: { Accept: 'application/json', 'User-Agent': 'tcb' } })).text();
    expect(seen[1]!.headers).toMatchObject({ accept: 'application/json', 'user-agent': 'tcb', 'accept-language': '*' });
  });

  it('sends string, Uint8Array and ArrayBuffer bodies with their length; refuses any other body before sending', async () => {
    const { url, seen } = await serve((_req, res) => res.end('ok'));
    const bytes = new TextEncoder().encode('xxhello');
    for (const body of ['héllo', bytes.subarray(2), new TextEncoder().encode('hello').buffer]) {
      await (await httpFetch(url, { method: 'PUT', body })).text();
    }
    expect(seen.map((s) => [s.body, s.headers['content-length']])).toEqual([
      ['héllo', '6'],
      ['hello', '5'],
      ['hello', '5'],
    ]);
    const error = await Promise.resolve()
      .then(() => httpFetch(url, { method: 'PUT', body: new ReadableStream() }))
      .catch((e: unknown) => e);
    expect(error).toEqual(new TypeError('httpFetch: a body must be a string, a Uint8Array or an ArrayBuffer'));
    expect(seen).toHaveLength(3);
  });

  it("303 turns any method but HEAD into a GET without body; 301 and 302 only a POST; content headers go with the body", async () => {
    const { url, seen } = await serve((req, res) => {
      const status = Number(req.url!.slice(1, 4));
      if (status >= 300) return res.writeHead(status, { Location: '/target' }).end();
      res.end();
    });
    const headers = { 'content-type': 'text/plain', 'content-language': 'en' };
    await httpFetch(`${url}/303`, { method: 'PUT', body: 'payload', headers });
    await httpFetch(`${url}/303`, { method: 'HEAD' });
    await httpFetch(`${url}/301`, { method: 'POST', body: 'payload', headers });
    await httpFetch(`${url}/301`, { method: 'PUT', body: 'payload', headers });
    const targets = seen.filter((s) => s.url === '/target');
    expect(targets.map((s) => [s.method, s.body, s.headers['content-type'] ?? null, s.headers['content-language'] ?? null])).toEqual([
      ['GET', '', null, null],
      ['HEAD', '', null, null],
      ['GET', '', null, null],
      ['PUT', 'payload', 'text/plain', 'en'],
    ]);
  });

  it('a redirect to another origin carries no Cookie and no Proxy-Authorization either', async () => {
    const other = await serve((_req, res) => res.end('other'));
    const { url } = await serve((_req, res) => res.writeHead(307, { Location: `${other.url}/x` }).end());
    const headers = { Cookie: 'session=1', 'Proxy-Authorization': 'Basic abc', 'X-Kept': 'yes' };
    await (await httpFetch(`${url}/away`, { headers })).text();
    expect(other.seen[0]!.headers.cookie).toBeUndefined();
    expect(other.seen[0]!.headers['proxy-authorization']).toBeUndefined();
    expect(other.seen[0]!.headers['x-kept']).toBe('yes');
  });

  it("follows 20 redirects and fails on the 21st; redirect: 'error' fails on the first", async () => {
    const { url } = await serve((req, res) => {
      const left = Number(req.url!.slice(1));
      if (left > 0) return res.writeHead(302, { Location: `/${left - 1}` }).end();
      res.end('arrived');
    });
    expect(await (await httpFetch(`${url}/20`)).text()).toBe('arrived');
    const tooMany = await httpFetch(`${url}/21`).catch((e: unknown) => e);
    expect(tooMany).toEqual(new TypeError('fetch failed'));
    expect(((tooMany as TypeError).cause as Error).message).toBe('redirect count exceeded');
    const refused = await httpFetch(`${url}/1`, { redirect: 'error' }).catch((e: unknown) => e);
    expect(((refused as TypeError).cause as Error).message).toBe('unexpected redirect to /0');
  });

  it('a status outside 200–599 is a network failure naming it', async () => {
    const { url } = await serve((_req, res) => res.writeHead(600).end());
    const error = await httpFetch(url).catch((e: unknown) => e);
    expect(error).toEqual(new TypeError('fetch failed'));
    expect(((error as TypeError).cause as Error).message).toBe('invalid HTTP status 600');
  });

  it('an idle timeout names its length in seconds', async () => {
    const { url } = await serve(() => {});
    const error = await createHttpFetch({ idleTimeoutMs: 50 })(url).catch((e: unknown) => e);
    expect(((error as TypeError).cause as Error).message).toBe('no data for 0.05 s');
    expect(networkCode(error)).toBe('UND_ERR_HEADERS_TIMEOUT');
  });
});

