import http from 'node:http';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';

/**
 * A fetch() for ky and the log downloads, on node:http and node:https.
 *
 * Node's own fetch (undici) parses HTTP with a WebAssembly build of llhttp: the first request of
 * a process compiles it, which costs more time and memory than the rest of a tcb command. This
 * one speaks the same contract to its callers: a Request or URL in, a standard Response out,
 * TypeError('fetch failed', { cause }) for network failures (the socket error code in `cause`),
 * the signal's reason when aborted, redirects per `redirect`, gzip/deflate/br bodies decoded,
 * connections kept alive, and undici's default headers and connect/idle timeouts.
 */

export type FetchFunction = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

export interface HttpFetchOptions {
  /** A new connection not made in this time fails as "never sent" (undici's default: 10 s). */
  connectTimeoutMs?: number;
  /** No byte from the server for this long, before or during the body, fails the request (undici: 300 s). */
  idleTimeoutMs?: number;
}
const MAX_REDIRECTS = 20;
const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const NULL_BODY_STATUSES = new Set([101, 204, 205, 304]);
/** What undici's fetch sends when the caller does not; servers see the same request as before. */
const DEFAULT_HEADERS: Record<string, string> = {
  accept: '*/*',
  'accept-language': '*',
  'sec-fetch-mode': 'cors',
  'user-agent': 'node',
  'accept-encoding': 'gzip, deflate',
};

// TLS and zlib are loaded when a request needs them (the sandbox is plain HTTP; most answers are not compressed).
const builtin = createRequire(import.meta.url);
let https: typeof import('node:https') | undefined;
let zlib: typeof import('node:zlib') | undefined;

// As Node's global agent: an idle socket is closed after 5 s, or 1 s before the server's Keep-Alive
// timeout, so a request is not written onto a connection the server is closing (without `timeout`,
// the agent ignores the server's hint). Free sockets are unref'd: an idle pool never holds the process.
const AGENT_OPTIONS = { keepAlive: true, scheduling: 'lifo', timeout: 5000 } as const;
let httpAgent: http.Agent | undefined;
let httpsAgent: http.Agent | undefined;

function transportFor(url: URL): { transport: typeof http | typeof import('node:https'); agent: http.Agent } {
  if (url.protocol === 'https:') {
    https ??= builtin('node:https') as typeof import('node:https');
    return { transport: https, agent: (httpsAgent ??= new https.Agent(AGENT_OPTIONS)) };
  }
  return { transport: http, agent: (httpAgent ??= new http.Agent(AGENT_OPTIONS)) };
}

interface Outgoing {
  url: URL;
  method: string;
  headers: Record<string, string>;
  body: Buffer | undefined;
  signal: AbortSignal | undefined;
  redirect: RequestRedirect;
}

/** A socket failure, shaped like undici's: the code callers map to retry decisions is on `cause`. */
function fetchFailed(cause: unknown): TypeError {
  return new TypeError('fetch failed', { cause });
}

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

function headerRecord(headers: HeadersInit | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  if (!headers) return record;
  if (typeof (headers as Headers).forEach === 'function' && !Array.isArray(headers)) {
    (headers as Headers).forEach((value, name) => {
      record[name.toLowerCase()] = value;
    });
  } else {
    const pairs = Array.isArray(headers) ? headers : Object.entries(headers as Record<string, string>);
    for (const [name, value] of pairs) record[name!.toLowerCase()] = String(value);
  }
  return record;
}

function bodyBuffer(body: BodyInit | null | undefined): Buffer | undefined {
  if (body === null || body === undefined) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (body instanceof ArrayBuffer) return Buffer.from(body);
  throw new TypeError('httpFetch: a body must be a string, a Uint8Array or an ArrayBuffer');
}

export function createHttpFetch({ connectTimeoutMs = 10_000, idleTimeoutMs = 300_000 }: HttpFetchOptions = {}): FetchFunction {
  return (input, init) => start(input, init ?? {}, { connectTimeoutMs, idleTimeoutMs });
}

/** fetch(input, init): ky passes a Request (its body already encoded), other callers a URL. */
export const httpFetch: FetchFunction = createHttpFetch();

interface Timeouts {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

async function start(input: string | URL | Request, init: RequestInit, timeouts: Timeouts): Promise<Response> {
  let outgoing: Outgoing;
  if (typeof input === 'string' || input instanceof URL) {
    outgoing = {
      url: new URL(input),
      method: (init.method ?? 'GET').toUpperCase(),
      headers: headerRecord(init.headers),
      body: bodyBuffer(init.body),
      signal: init.signal ?? undefined,
      redirect: init.redirect ?? 'follow',
    };
  } else {
    const body = input.body ? Buffer.from(await input.arrayBuffer()) : undefined;
    outgoing = {
      url: new URL(input.url),
      method: input.method.toUpperCase(),
      headers: headerRecord(input.headers),
      body,
      signal: input.signal,
      redirect: input.redirect,
    };
  }
  for (const [name, value] of Object.entries(DEFAULT_HEADERS)) outgoing.headers[name] ??= value;
  return send(outgoing, 0, timeouts);
}

/** Methods a server may see twice without harm (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE']);

/**
 * One request. `fresh`: a retry of an idempotent request whose kept-alive connection turned out to
 * be closed by the server before it answered (as Node's docs advise: sent once more, on a new
 * connection). A POST is not resent: the server may have acted on it, so the caller's retry rules
 * decide (an upload batch becomes "outcome unknown", never a silent duplicate).
 */
function send(outgoing: Outgoing, redirects: number, timeouts: Timeouts, fresh = false): Promise<Response> {
  const { connectTimeoutMs, idleTimeoutMs } = timeouts;
  const { url, method, body, signal } = outgoing;
  // Checked on every hop: a redirect may point anywhere (file:, ftp:, data:).
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return Promise.reject(fetchFailed(new Error(`URL scheme must be a HTTP(S) scheme: ${url.protocol}`)));
  }
  if (signal?.aborted) return Promise.reject(abortReason(signal));
  return new Promise<Response>((resolve, reject) => {
    const headers = { ...outgoing.headers };
    if (body) headers['content-length'] = String(body.length);
    const { transport, agent } = transportFor(url);
    const request = transport.request(url, fresh ? { method, headers, agent: false } : { method, headers, agent });
    let answered = false;
    let body$: Readable | undefined;
    let idle: NodeJS.Timeout | undefined;
    let settled = false;

    const cleanup = () => {
      clearTimeout(idle);
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: unknown) => {
      cleanup();
      if (!settled) {
        settled = true;
        reject(error);
      }
    };
    /** No byte for idleTimeoutMs, before or after the headers: the request is given up. */
    const touch = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        const error = codedError(`no data for ${idleTimeoutMs / 1000} s`, body$ ? 'UND_ERR_BODY_TIMEOUT' : 'UND_ERR_HEADERS_TIMEOUT');
        request.destroy(error);
        body$?.destroy(fetchFailed(error));
      }, idleTimeoutMs);
      idle.unref();
    };
    function onAbort() {
      const reason = abortReason(signal!);
      request.destroy(reason as Error);
      body$?.destroy(reason as Error);
      fail(reason);
    }
    signal?.addEventListener('abort', onAbort, { once: true });

    request.on('socket', (socket) => {
      if (!socket.connecting) return;
      // The code undici uses: the retry rules treat it as "never sent", like a refused connection.
      const connectTimer = setTimeout(
        () => request.destroy(codedError(`connect timed out after ${connectTimeoutMs / 1000} s`, 'UND_ERR_CONNECT_TIMEOUT')),
        connectTimeoutMs,
      );
      connectTimer.unref();
      // For https the connection is made when the TLS handshake is done, as undici counts it.
      socket.once(url.protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(connectTimer));
      socket.once('close', () => clearTimeout(connectTimer));
    });
    request.on('error', (error: NodeJS.ErrnoException) => {
      if (signal?.aborted) return fail(abortReason(signal));
      const closedBeforeAnswer =
        !answered && !fresh && request.reusedSocket && IDEMPOTENT.has(method) && (error.code === 'ECONNRESET' || error.code === 'EPIPE');
      if (closedBeforeAnswer && !settled) {
        cleanup();
        settled = true;
        resolve(send(outgoing, redirects, timeouts, true));
        return;
      }
      fail(fetchFailed(error));
    });
    request.on('response', (incoming) => {
      answered = true;
      const status = incoming.statusCode ?? 0;
      const location = incoming.headers.location;
      if (REDIRECT_STATUSES.has(status) && location !== undefined && outgoing.redirect !== 'manual') {
        incoming.resume();
        cleanup();
        settled = true;
        if (outgoing.redirect === 'error') return reject(fetchFailed(new Error(`unexpected redirect to ${location}`)));
        if (redirects >= MAX_REDIRECTS) return reject(fetchFailed(new Error('redirect count exceeded')));
        let next: URL;
        try {
          next = new URL(location, url);
        } catch (error) {
          return reject(fetchFailed(error));
        }
        resolve(send(redirected(outgoing, next, status), redirects + 1, timeouts));
        return;
      }
      if (status < 200 || status > 599) {
        incoming.resume();
        return fail(fetchFailed(new Error(`invalid HTTP status ${status}`)));
      }
      const responseHeaders = new Headers();
      const raw = incoming.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        try {
          responseHeaders.append(raw[i]!, raw[i + 1]!);
        } catch {
          // A header value Headers refuses (control characters): undici drops it too.
        }
      }
      const hasBody = method !== 'HEAD' && !NULL_BODY_STATUSES.has(status);
      let stream: ReadableStream<Uint8Array> | null = null;
      if (hasBody) {
        body$ = decoded(incoming);
        stream = webStream(body$, signal, cleanup, touch);
      } else {
        incoming.resume();
        cleanup();
      }
      settled = true;
      resolve(new Response(stream, { status, statusText: validReason(incoming.statusMessage), headers: responseHeaders }));
    });

    touch();
    request.end(body);
  });
}

/** The next hop of a redirect, per the fetch standard: 303 (and POST on 301/302) becomes a GET without body. */
function redirected(outgoing: Outgoing, next: URL, status: number): Outgoing {
  const headers = { ...outgoing.headers };
  let { method, body } = outgoing;
  if (status === 303 ? method !== 'HEAD' : (status === 301 || status === 302) && method === 'POST') {
    method = 'GET';
    body = undefined;
    for (const name of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) delete headers[name];
  }
  if (next.origin !== outgoing.url.origin) {
    for (const name of ['authorization', 'proxy-authorization', 'cookie']) delete headers[name];
  }
  return { ...outgoing, url: next, method, body, headers };
}

function decoded(incoming: http.IncomingMessage): Readable {
  const encoding = String(incoming.headers['content-encoding'] ?? '').trim().toLowerCase();
  if (encoding !== 'gzip' && encoding !== 'x-gzip' && encoding !== 'deflate' && encoding !== 'br') return incoming;
  zlib ??= builtin('node:zlib') as typeof import('node:zlib');
  const flush = { flush: zlib.constants.Z_SYNC_FLUSH, finishFlush: zlib.constants.Z_SYNC_FLUSH };
  const decoder =
    encoding === 'br' ? zlib.createBrotliDecompress() : encoding === 'deflate' ? zlib.createInflate(flush) : zlib.createGunzip(flush);
  incoming.on('error', (error) => decoder.destroy(error));
  // A body cancelled or undecodable: the connection is closed, not left open unread.
  decoder.once('close', () => incoming.destroy());
  return incoming.pipe(decoder);
}

/** A web stream over the response, paused while its reader is behind (no buffering of a big body). */
function webStream(source: Readable, signal: AbortSignal | undefined, done: () => void, touch: () => void): ReadableStream<Uint8Array> {
  let finished = false;
  const finish = () => {
    finished = true;
    done();
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        source.on('data', (chunk: Buffer) => {
          touch();
          controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
          if ((controller.desiredSize ?? 0) <= 0) source.pause();
        });
        source.once('end', () => {
          if (finished) return;
          finish();
          controller.close();
        });
        source.once('error', (error) => {
          if (finished) return;
          finish();
          // An abort errors the body with the signal's reason, anything else like undici's fetch.
          controller.error(signal?.aborted && error === signal.reason ? error : error instanceof TypeError ? error : new TypeError('terminated', { cause: error }));
        });
        source.pause();
      },
      pull() {
        source.resume();
      },
      cancel() {
        finish();
        source.destroy();
      },
    },
    { highWaterMark: 64 * 1024, size: (chunk) => chunk.byteLength },
  );
}

/** Response() refuses a reason phrase with characters outside the HTTP grammar; such a phrase is dropped. */
function validReason(reason: string | undefined): string {
  return reason && /^[\t\x20-\x7e\x80-\xff]*$/.test(reason) ? reason : '';
}
