import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BlockList, isIP, type AddressInfo, type Socket } from 'node:net';
import { GroupCommitter } from './group-commit.js';
import type { DaemonLog } from './log.js';
import type { EventSink, InsertResult, WritableCheck } from './store-types.js';
import { classifyDelivery } from './validate.js';

/**
 * The webhook receiver: a node:http server that classifies each authenticated event, stores it
 * durably (group commit, see group-commit.ts) and answers 200 only after the commit.
 *
 *   POST <any path>?key=KEY  → 200 stored / duplicate / conflict / unrecognised (stored all the same),
 *                              400 not storable (not JSON, not an object, no string event_id),
 *                              401 wrong key, 413 too large, 503 + Retry-After when the store fails
 *   GET|HEAD /healthz        → 200 {"status":"ok"} when a write to the store succeeds (checked at
 *                              most once a second), else 503 with the reason; no key needed
 *
 * Connections: one that sends no request within the idle timeout is closed (408), as is a keep-alive
 * connection idle that long; a request must be complete within the request timeout (408); headers
 * over 16 KiB get 431. Past the connection limit the oldest idle connection is closed to admit the
 * new one. A refused request (401, 405, 413) is answered with `Connection: close` and its socket
 * destroyed once the answer is out: nothing more of its body is read.
 */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
export const DEFAULT_IDLE_TIMEOUT_MS = 5_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
export const HEALTH_PATHS = new Set(['/healthz', '/health']);
const MAX_HEADER_BYTES = 16 * 1024;
/** How long close() lets in-flight requests finish before cutting the connections. */
const DEFAULT_GRACE_MS = 10_000;
const HEALTH_CACHE_MS = 1_000;
const RETRY_AFTER_SECONDS = '30';

/** Retry-After for a store failure: the store's own estimate (a database backing off) when it has one. */
export function retryAfter(error: unknown): string {
  const seconds = (error as { retryAfterSeconds?: unknown } | null)?.retryAfterSeconds;
  return typeof seconds === 'number' && Number.isFinite(seconds) && seconds >= 1 ? String(Math.ceil(seconds)) : RETRY_AFTER_SECONDS;
}
/** At most one "connection limit reached" warning this often. */
const LIMIT_WARNING_MS = 10_000;

export interface ListenerOptions {
  port: number;
  host: string;
  sink: EventSink;
  /** The shared secret expected in the `key` query parameter. */
  key: string;
  log: DaemonLog;
  maxBodyBytes?: number;
  /** Close a connection with no request in progress after this long (new or keep-alive). */
  idleTimeoutMs?: number;
  /** A request (headers and body) must be complete within this. */
  requestTimeoutMs?: number;
  /** Most open connections; past it the oldest idle one is closed (default: from the fd limit). */
  maxConnections?: number;
  /** Peers (proxies) whose X-Forwarded-For is believed; without it the header is ignored. */
  trustProxy?: BlockList;
  graceMs?: number;
  /** Most events per transaction (default 1000); 1 turns group commit off (benchmark baseline). */
  maxBatch?: number;
}

export interface ListenerStats {
  requests: number;
  stored: number;
  duplicates: number;
  conflicts: number;
  unrecognised: number;
  rejected: number;
  unauthorized: number;
  failed: number;
  aborted: number;
  timeouts: number;
}

export interface ListenerHandle {
  /** A URL that reaches the listener from this machine, e.g. http://127.0.0.1:41234/ */
  url: string;
  host: string;
  port: number;
  stats: ListenerStats;
  committer: GroupCommitter;
  maxConnections: number;
  /** Open connections now. */
  connections(): number;
  /** Stop accepting, let in-flight requests finish, commit, close the store. Idempotent. */
  close(): Promise<void>;
}

/** SHA-256 of a string: the one-shot crypto.hash where Node has it (20.12+), else a Hash object. */
const sha256: (text: string) => Buffer =
  typeof (crypto as { hash?: unknown }).hash === 'function'
    ? (text) => (crypto as unknown as { hash(algorithm: string, data: string, encoding: 'buffer'): Buffer }).hash('sha256', text, 'buffer')
    : (text) => crypto.createHash('sha256').update(text, 'utf8').digest();

/** Constant-time key check: both sides are hashed to equal-length digests first. */
export function keyChecker(expected: string): (provided: string | null | undefined) => boolean {
  const expectedDigest = sha256(expected);
  return (provided) => {
    const same = crypto.timingSafeEqual(sha256(provided ?? ''), expectedDigest);
    return same && typeof provided === 'string';
  };
}

/**
 * The first value of a query parameter, read as URLSearchParams reads it. Most queries need no
 * decoding (no '%' or '+'), and are split here without building a URLSearchParams per request.
 */
export function queryParameter(query: string, name: string): string | null {
  if (query.includes('%') || query.includes('+')) return new URLSearchParams(query).get(name);
  let start = 0;
  while (start <= query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    const equals = query.indexOf('=', start);
    const nameEnd = equals === -1 || equals > end ? end : equals;
    if (nameEnd - start === name.length && query.startsWith(name, start)) return nameEnd === end ? '' : query.slice(nameEnd + 1, end);
    start = end + 1;
  }
  return null;
}

const SECRET_PARAMETERS = new Set(['key', 'api_key', 'token', 'access_token']);

/** A query parameter name as URLSearchParams reads it ('+' is a space, %XX decoded leniently). */
function decodedName(rawName: string): string {
  const first = new URLSearchParams(`${rawName}=`).keys().next();
  return first.done ? rawName : first.value;
}

/**
 * The request target for the log: the value of every key-like parameter masked, the name judged
 * after percent-decoding (`?%6Bey=` is the key too). Escaping is the log's job.
 */
export function maskTarget(rawUrl: string | undefined): string {
  const target = rawUrl ?? '/';
  const queryAt = target.indexOf('?');
  if (queryAt === -1) return target;
  const hashAt = target.indexOf('#', queryAt);
  const query = target.slice(queryAt + 1, hashAt === -1 ? undefined : hashAt);
  const masked = query
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      const name = equals === -1 ? pair : pair.slice(0, equals);
      return SECRET_PARAMETERS.has(decodedName(name).toLowerCase()) ? `${name}=[REDACTED]` : pair;
    })
    .join('&');
  return `${target.slice(0, queryAt)}?${masked}${hashAt === -1 ? '' : target.slice(hashAt)}`;
}

/** "loopback", addresses and CIDR ranges, comma-separated, as a BlockList of trusted proxies. */
export function parseTrustedProxies(spec: string): BlockList {
  const list = new BlockList();
  const parts = spec
    .split(',')
    .map((part) => part.trim())
    .filter(Boolean);
  if (parts.length === 0) throw new Error('no addresses given');
  for (const part of parts) {
    if (part.toLowerCase() === 'loopback') {
      list.addSubnet('127.0.0.0', 8, 'ipv4');
      list.addAddress('::1', 'ipv6');
      continue;
    }
    const [address, bits, extra] = part.split('/');
    const family = isIP(address ?? '');
    if (family === 0 || extra !== undefined) throw new Error(`"${part}" is not an IP address or CIDR range`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (bits === undefined) {
      list.addAddress(address!, type);
      continue;
    }
    const prefix = Number(bits);
    if (!/^\d+$/.test(bits) || prefix > (family === 4 ? 32 : 128)) throw new Error(`"${part}" has a bad prefix length`);
    list.addSubnet(address!, prefix, type);
  }
  return list;
}

function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

function isTrusted(list: BlockList, address: string): boolean {
  const family = isIP(address);
  return family !== 0 && list.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The client of a request: the peer, or, when the peer is a trusted proxy, the right-most address
 * in X-Forwarded-For that is not itself a trusted proxy (anything left of it is the client's word).
 */
export function clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined, trusted: BlockList | undefined): string {
  const direct = plainAddress(peer ?? '-');
  if (!trusted || !isTrusted(trusted, direct) || forwardedFor === undefined) return direct;
  const hops = (Array.isArray(forwardedFor) ? forwardedFor.join(',') : forwardedFor)
    .split(',')
    .map((hop) => plainAddress(hop.trim()))
    .filter(Boolean);
  for (let i = hops.length - 1; i >= 0; i -= 1) {
    const hop = hops[i]!;
    if (!isTrusted(trusted, hop)) return hop;
  }
  return hops[0] ?? direct;
}

/** A connection limit that leaves room under the process's open-file limit (Linux), else 1024. */
export function defaultMaxConnections(): number {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8');
    const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
    if (soft && soft !== 'unlimited') return Math.max(8, Math.min(1024, Math.floor(Number(soft) * 0.8) - 32));
  } catch {
    // not Linux: keep the default
  }
  return 1024;
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
    const finish = (error: Error | undefined, body?: Buffer) => {
      if (done) return;
      done = true;
      if (error) reject(error);
      else resolve(body!);
    };
    req.on('data', (chunk: Buffer) => {
      if (done) return;
      size += chunk.length;
      if (size > limit) {
        req.pause();
        finish(new BodyTooLarge());
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => finish(undefined, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
    req.on('error', (error) => finish(error));
    // After 'end' this does nothing (and builds no Error); before it, the client went away.
    req.on('close', () => {
      if (!done) finish(new Error('aborted'));
    });
  });
}

const REASONS: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' };

/** The answer to a request that never became one (timeouts, oversized or malformed headers). */
function clientErrorStatus(code: string | undefined): number | undefined {
  if (code === 'ECONNRESET' || code === 'EPIPE') return undefined;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return 408;
  if (code === 'HPE_HEADER_OVERFLOW') return 431;
  return 400;
}

interface Connection {
  busy: boolean;
  /** Read when the connection opened: a destroyed socket no longer knows its peer. */
  peer: string | undefined;
}

export async function startWebhookListener(options: ListenerOptions): Promise<ListenerHandle> {
  const { sink, log } = options;
  const maxBody = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const idleTimeout = options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
  const requestTimeout = Math.max(options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS, idleTimeout);
  const maxConnections = options.maxConnections ?? defaultMaxConnections();
  const keyMatches = keyChecker(options.key);
  const committer = new GroupCommitter(sink, options.maxBatch);
  const stats: ListenerStats = {
    requests: 0,
    stored: 0,
    duplicates: 0,
    conflicts: 0,
    unrecognised: 0,
    rejected: 0,
    unauthorized: 0,
    failed: 0,
    aborted: 0,
    timeouts: 0,
  };
  const connections = new Map<Socket, Connection>();
  /** Sockets whose request the server timed out: their handler logs a timeout, not an abort. */
  const timedOut = new WeakSet<Socket>();
  let closing = false;
  let inFlight = 0;
  const idleWaiters: Array<() => void> = [];

  // --- store health: a real write, at most once a second; failures and recoveries are warned ---
  let health: { at: number; check: WritableCheck } | undefined;
  let healthRun: Promise<WritableCheck> | undefined;
  let storeFailing = false;
  const warnedFailures = new WeakSet<object>();
  const storeHealth = (): Promise<WritableCheck> => {
    if (health && performance.now() - health.at < HEALTH_CACHE_MS) return Promise.resolve(health.check);
    healthRun ??= sink.checkWritable().then((check) => {
      health = { at: performance.now(), check };
      healthRun = undefined;
      if (!check.ok && !storeFailing) {
        storeFailing = true;
        log.error(`the store cannot be written: ${check.reason}; events are answered 503 until it can`, { store: sink.location });
      } else if (check.ok && storeFailing) {
        storeFailing = false;
        log.warn('the store is writable again', { store: sink.location });
      }
      return check;
    });
    return healthRun;
  };
  const storeRecovered = () => {
    if (!storeFailing) return;
    storeFailing = false;
    health = undefined;
    log.warn('the store is writable again', { store: sink.location });
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = log.accessLog ? performance.now() : 0;
    const socket = req.socket;
    const connection = connections.get(socket);
    if (connection) connection.busy = true;
    stats.requests += 1;
    inFlight += 1;
    let outcome = 'error';
    let detail: string | undefined;
    let eventId: string | null = null;
    const send = (status: number, body: Record<string, unknown>, extraHeaders?: Record<string, string>) => {
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
    /**
     * Answer and hang up: with `Connection: close` Node destroys the socket once the answer is out,
     * so the rest of the body is never read. (A client still sending a large body may then see a
     * reset rather than the answer; a small body has already been read and the answer arrives.)
     */
    const refuse = (status: number, body: Record<string, unknown>, extraHeaders: Record<string, string> = {}) =>
      send(status, body, { ...extraHeaders, connection: 'close' });

    try {
      const target = req.url ?? '/';
      const queryAt = target.indexOf('?');
      const pathname = queryAt === -1 ? target : target.slice(0, queryAt);
      if (HEALTH_PATHS.has(pathname) && (req.method === 'GET' || req.method === 'HEAD')) {
        outcome = 'health';
        if (closing) {
          send(503, { status: 'stopping' });
          return;
        }
        const check = await storeHealth();
        if (check.ok) send(200, { status: 'ok' });
        else {
          send(503, { status: 'error', error: `the store cannot be written: ${check.reason}` });
          detail = check.reason;
        }
        return;
      }
      if (req.method !== 'POST') {
        outcome = 'rejected';
        refuse(405, { error: 'method not allowed: events are POSTed' }, { allow: 'POST' });
        return;
      }
      if (!keyMatches(queryAt === -1 ? null : queryParameter(target.slice(queryAt + 1), 'key'))) {
        stats.unauthorized += 1;
        outcome = 'unauthorized';
        refuse(401, { error: 'missing or wrong key' });
        return;
      }
      const declared = Number(req.headers['content-length']);
      if (declared > maxBody) {
        stats.rejected += 1;
        outcome = 'too-large';
        refuse(413, { error: `the body is larger than ${maxBody} bytes` });
        return;
      }
      let body: Buffer;
      try {
        body = await readBody(req, maxBody);
      } catch (error) {
        if (error instanceof BodyTooLarge) {
          stats.rejected += 1;
          outcome = 'too-large';
          refuse(413, { error: `the body is larger than ${maxBody} bytes` });
          return;
        }
        if (timedOut.has(socket)) {
          stats.timeouts += 1;
          outcome = 'timeout';
          res.statusCode = 408;
          detail = 'the request body did not arrive in time';
        } else {
          stats.aborted += 1;
          outcome = 'aborted';
          detail = 'the client closed the connection before the body was complete';
        }
        return;
      }
      const classified = classifyDelivery(body);
      if (!classified.ok) {
        stats.rejected += 1;
        outcome = 'rejected';
        detail = classified.reason;
        send(400, { error: classified.reason, ...(classified.field ? { field: classified.field } : {}) });
        return;
      }
      const record = classified.record;
      eventId = record.event_id;
      let result: InsertResult;
      try {
        result = await committer.add(record);
      } catch (error) {
        stats.failed += 1;
        outcome = 'store-failure';
        detail = (error as Error).message;
        // A store that reports its own outage (a database backing off) has logged it once already.
        const selfReported = typeof (error as { retryAfterSeconds?: unknown }).retryAfterSeconds === 'number';
        if (!warnedFailures.has(error as object)) {
          warnedFailures.add(error as object);
          storeFailing = true;
          health = undefined;
          if (!selfReported) log.error(`could not store events (answered 503, the sender retries): ${detail}`, { store: sink.location });
        }
        send(503, { error: 'the event could not be stored; deliver it again' }, { 'retry-after': retryAfter(error) });
        return;
      }
      if (storeFailing) storeRecovered();
      const answer: Record<string, unknown> = {
        status: 'ok',
        event_id: record.event_id,
        duplicate: result.outcome !== 'stored',
      };
      if (result.outcome === 'stored') stats.stored += 1;
      else if (result.outcome === 'duplicate') stats.duplicates += 1;
      else {
        stats.conflicts += 1;
        answer.conflict = true;
        log.warn('a redelivery of a stored event has a different body: the first is kept, this one is recorded as a conflict', {
          event_id: record.event_id,
          conflicts: result.conflicts,
          deliveries: result.deliveries,
        });
      }
      if (record.unrecognised_reason !== null) {
        answer.unrecognised = record.unrecognised_reason;
        if (result.outcome === 'stored') {
          stats.unrecognised += 1;
          log.warn('stored an event that is not a documented one (exported with its raw JSON)', {
            event_id: record.event_id,
            reason: record.unrecognised_reason,
          });
        }
      }
      outcome = record.unrecognised_reason !== null && result.outcome === 'stored' ? 'unrecognised' : result.outcome;
      send(200, answer);
    } catch (error) {
      detail = (error as Error).message;
      log.error(`unexpected error while answering a request: ${detail}`);
      if (!res.headersSent && !socket.destroyed) send(500, { error: 'internal error' });
      else res.destroy();
    } finally {
      inFlight -= 1;
      if (connection) connection.busy = false;
      if (closing && inFlight === 0) idleWaiters.splice(0).forEach((resolve) => resolve());
      if (log.accessLog) {
        log.access({
          client: clientAddress(connection?.peer ?? socket.remoteAddress, req.headers['x-forwarded-for'], options.trustProxy),
          method: req.method ?? '-',
          path: maskTarget(req.url),
          status: res.headersSent || outcome === 'timeout' ? res.statusCode : null,
          ms: performance.now() - started,
          event_id: eventId,
          // An answer that could not be delivered: the event may be stored, but the sender will retry.
          outcome: res.headersSent && !res.writableFinished && socket.destroyed ? `${outcome} (client gone before the answer)` : outcome,
          detail,
        });
      }
    }
  };

  const server: Server = createServer(
    {
      requestTimeout,
      headersTimeout: idleTimeout,
      keepAliveTimeout: idleTimeout,
      // Node checks its timeouts on this interval (30 s by default, which made them fire late).
      connectionsCheckingInterval: Math.min(1000, Math.max(25, Math.floor(idleTimeout / 4))),
      maxHeaderSize: MAX_HEADER_BYTES,
    },
    (req, res) => {
      void handle(req, res);
    },
  );
  server.keepAliveTimeout = idleTimeout;

  let lastLimitWarning = Number.NEGATIVE_INFINITY;
  server.on('connection', (socket: Socket) => {
    if (connections.size >= maxConnections) {
      let victim: Socket | undefined;
      for (const [open, state] of connections) {
        if (!state.busy) {
          victim = open;
          break;
        }
      }
      if (performance.now() - lastLimitWarning > LIMIT_WARNING_MS) {
        lastLimitWarning = performance.now();
        log.warn(`${maxConnections} connections are open (the limit): closing the oldest idle one for each new one`);
      }
      if (victim) {
        connections.delete(victim);
        victim.destroy();
      } else {
        socket.destroy();
        return;
      }
    }
    connections.set(socket, { busy: false, peer: socket.remoteAddress });
    socket.once('close', () => connections.delete(socket));
  });

  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const status = clientErrorStatus(error.code);
    const inRequest = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    if (status === 408) {
      timedOut.add(socket);
      if (!inRequest) stats.timeouts += 1;
    }
    if (status !== undefined && socket.writable && (!inRequest || !inRequest.headersSent)) {
      const text = `${JSON.stringify({ error: status === 408 ? 'request timeout' : status === 431 ? 'request headers too large' : 'bad request' })}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${REASONS[status]}\r\nconnection: close\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(text)}\r\n\r\n${text}`,
      );
      socket.destroySoon();
    } else {
      socket.destroy();
    }
    // A request in progress logs itself (its handler sees the socket go).
    if (!inRequest && status !== undefined && log.accessLog) {
      log.access({
        client: clientAddress(connections.get(socket)?.peer ?? socket.remoteAddress, undefined, undefined),
        method: '-',
        path: '-',
        status,
        ms: 0,
        event_id: null,
        outcome: status === 408 ? 'timeout' : status === 431 ? 'headers-too-large' : 'bad-request',
        detail: error.code,
      });
    }
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
    await sink.close();
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
      // Connections that never sent a request, or are idle between requests, will not carry another.
      for (const socket of connections.keys()) if (!connections.get(socket)!.busy) socket.destroy();
      server.closeIdleConnections();
      await serverClosed;
      clearTimeout(grace);
      await committer.drain();
      await sink.close();
    })();
    return closed;
  };

  return {
    url: localUrl(options.host, address.port),
    host: options.host,
    port: address.port,
    stats,
    committer,
    maxConnections,
    connections: () => connections.size,
    close,
  };
}
