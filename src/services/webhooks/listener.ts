import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { openWebhookStore, type WebhookStore } from './store.js';
import { StoreWriter } from './writer.js';
import { parseEvent } from './validate.js';

/**
 * The webhook receiver: an HTTP server that validates each event, stores it durably (group commit
 * on a worker thread, see writer.ts) and answers 200 only after the commit. No printing here:
 * access-log lines go to `log`.
 *
 *   POST <any path>?key=KEY   an event → 200 stored / 200 duplicate, 400 malformed, 401 wrong key,
 *                             413 too large, 503 store failure (Truecaller retries)
 *   GET  /healthz             200 {"status":"ok"} while the store answers, else 503 (no key needed)
 */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
export const HEALTH_PATHS = new Set(['/healthz', '/health']);
/** How long close() lets in-flight requests finish before cutting the connections. */
const DEFAULT_GRACE_MS = 10_000;

export interface ListenerOptions {
  port: number;
  host: string;
  storeFile: string;
  /** The shared secret expected in the `key` query parameter. */
  key: string;
  maxBodyBytes?: number;
  /** One line per request; the key is already masked. Leave it out when nothing would show it. */
  log?: (line: string) => void;
  /** Problems worth an operator's attention (store failures). */
  warn?: (line: string) => void;
  graceMs?: number;
  /** Most events per transaction (default 1000); 1 turns group commit off (benchmark baseline). */
  maxBatch?: number;
}

export interface ListenerStats {
  requests: number;
  stored: number;
  duplicates: number;
  rejected: number;
  unauthorized: number;
  failed: number;
}

export interface ListenerHandle {
  /** A URL that reaches the listener from this machine, e.g. http://127.0.0.1:41234/ */
  url: string;
  host: string;
  port: number;
  /** The listener's own connection: schema, counts, health. Events are written by `writer`. */
  store: WebhookStore;
  writer: StoreWriter;
  stats: ListenerStats;
  /** Stop accepting, let in-flight requests finish, commit, close the store. Idempotent. */
  close(): Promise<void>;
}

/** Constant-time key check: both sides are hashed to equal-length digests first. */
export function keyChecker(expected: string): (provided: string | null | undefined) => boolean {
  const expectedDigest = createHash('sha256').update(expected, 'utf8').digest();
  return (provided) => {
    const digest = createHash('sha256').update(provided ?? '', 'utf8').digest();
    const same = timingSafeEqual(digest, expectedDigest);
    return same && typeof provided === 'string';
  };
}

/** The request target for the log, with any key-like query value masked (the redactor does it again). */
export function loggableTarget(rawUrl: string | undefined): string {
  return (rawUrl ?? '/').replace(/([?&](?:key|api_key|token|access_token)=)[^&#\s]*/gi, '$1[REDACTED]');
}

function localUrl(host: string, port: number): string {
  const reachable = host === '0.0.0.0' || host === '' ? '127.0.0.1' : host === '::' ? '::1' : host;
  const shown = reachable.includes(':') ? `[${reachable}]` : reachable;
  return `http://${shown}:${port}/`;
}

class BodyTooLarge extends Error {}

function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        done = true;
        reject(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!done) {
        done = true;
        resolve(Buffer.concat(chunks, size));
      }
    });
    req.on('error', (error) => {
      if (!done) {
        done = true;
        reject(error);
      }
    });
  });
}

export async function startWebhookListener(options: ListenerOptions): Promise<ListenerHandle> {
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const log = options.log;
  const warn = options.warn ?? log ?? (() => {});
  const keyMatches = keyChecker(options.key);
  const store = openWebhookStore(options.storeFile);
  let writer: StoreWriter;
  try {
    writer = await StoreWriter.open(store.file, options.maxBatch);
  } catch (error) {
    store.close();
    throw error;
  }
  const stats: ListenerStats = { requests: 0, stored: 0, duplicates: 0, rejected: 0, unauthorized: 0, failed: 0 };
  let closing = false;
  let inFlight = 0;

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    stats.requests += 1;
    inFlight += 1;
    let note = '';
    const send = (status: number, body: Record<string, unknown>, extraHeaders: Record<string, string> = {}) => {
      const text = `${JSON.stringify(body)}\n`;
      const headers: Record<string, string | number> = {
        'content-type': 'application/json; charset=utf-8',
        'content-length': Buffer.byteLength(text),
        'cache-control': 'no-store',
        ...extraHeaders,
      };
      if (closing) headers.connection = 'close';
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : text);
    };
    try {
      const target = req.url ?? '/';
      const queryAt = target.indexOf('?');
      const pathname = queryAt === -1 ? target : target.slice(0, queryAt);
      if (HEALTH_PATHS.has(pathname) && (req.method === 'GET' || req.method === 'HEAD')) {
        try {
          store.ping();
          if (!writer.healthy && !closing) throw new Error('the store writer stopped');
          send(closing ? 503 : 200, { status: closing ? 'stopping' : 'ok' });
        } catch (error) {
          send(503, { status: 'error', error: 'the store does not answer' });
          note = (error as Error).message;
        }
        return;
      }
      if (req.method !== 'POST') {
        req.resume();
        send(405, { error: 'method not allowed: events are POSTed' }, { allow: 'POST' });
        return;
      }
      const query = new URLSearchParams(queryAt === -1 ? '' : target.slice(queryAt + 1));
      if (!keyMatches(query.get('key'))) {
        stats.unauthorized += 1;
        req.resume();
        send(401, { error: 'missing or wrong key' });
        note = 'wrong key';
        return;
      }
      const declared = Number(req.headers['content-length']);
      if (Number.isFinite(declared) && declared > maxBody) {
        stats.rejected += 1;
        send(413, { error: `the body is larger than ${maxBody} bytes` }, { connection: 'close' });
        note = 'too large';
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(req, maxBody);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          stats.rejected += 1;
          send(413, { error: `the body is larger than ${maxBody} bytes` }, { connection: 'close' });
          note = 'too large';
          return;
        }
        throw error;
      }
      const parsed = parseEvent(body.toString('utf8'));
      if (!parsed.ok) {
        stats.rejected += 1;
        send(400, { error: parsed.reason, ...(parsed.field ? { field: parsed.field } : {}) });
        note = `rejected: ${parsed.reason}`;
        return;
      }
      let result;
      try {
        result = await writer.add(parsed.record);
      } catch (error) {
        stats.failed += 1;
        warn(`could not store event ${parsed.record.event_id}: ${(error as Error).message}`);
        send(503, { error: 'the event could not be stored; deliver it again' }, { 'retry-after': '60' });
        note = 'store failure';
        return;
      }
      if (result.duplicate) stats.duplicates += 1;
      else stats.stored += 1;
      send(200, { status: 'ok', event_id: parsed.record.event_id, duplicate: result.duplicate });
      note = `${parsed.record.event_type} ${parsed.record.event_id} ${result.duplicate ? 'duplicate' : 'stored'}`;
    } catch (error) {
      note = `error: ${(error as Error).message}`;
      if (!res.headersSent) send(500, { error: 'internal error' });
      else res.destroy();
    } finally {
      inFlight -= 1;
      if (closing && inFlight === 0) idleWaiters.splice(0).forEach((resolve) => resolve());
      if (!log) return;
      const ms = (performance.now() - started).toFixed(1);
      const forwarded = req.headers['x-forwarded-for'];
      const remote = typeof forwarded === 'string' ? forwarded.split(',')[0]!.trim() : req.socket.remoteAddress ?? '-';
      log(`${remote} "${req.method} ${loggableTarget(req.url)}" ${res.statusCode} ${ms}ms${note ? ` ${note}` : ''}`);
    }
  };

  const idleWaiters: Array<() => void> = [];
  const server: Server = createServer({ requestTimeout: 60_000, headersTimeout: 20_000, keepAliveTimeout: 65_000 }, (req, res) => {
    void handle(req, res);
  });
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    else socket.destroy();
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (error) {
    await writer.close();
    store.close();
    throw error;
  }
  const address = server.address() as AddressInfo;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = setTimeout(() => server.closeAllConnections(), options.graceMs ?? DEFAULT_GRACE_MS);
      if (inFlight > 0) await new Promise<void>((resolve) => idleWaiters.push(resolve));
      // Keep-alive connections that are idle now will not carry another request.
      server.closeIdleConnections();
      await serverClosed;
      clearTimeout(grace);
      await writer.close();
      store.close();
    })();
    return closed;
  };

  return { url: localUrl(options.host, address.port), host: options.host, port: address.port, store, writer, stats, close };
}
