// The sandbox: an in-memory emulator of the Verified Business API on node:http.
// This module wires the parts together and is the only one other code imports.
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InjectedFailure, LoggedRequest, RouteResponse, SandboxHandle, SandboxKnobs, SandboxOptions } from './types.js';
import { createState } from './state.js';
import { cloneKnobs, defaultKnobs, mergeKnobs } from './knobs.js';
import { bumpExtra, countResponse, createCounters, resetCounters, snapshotCounters } from './counters.js';
import { FailureInjector, planFailure } from './failures.js';
import { SlidingWindowLimiter } from './sliding-window.js';
import { Router } from './router.js';
import { routes } from './routes/index.js';
import { handleApiRequest } from './pipeline.js';
import type { SandboxRuntime } from './pipeline.js';
import { echoRequest, handleControlRequest, isControlPath, isEchoPath } from './control.js';
import type { SandboxControls } from './control.js';
import { BodyTooLargeError, readBody, writeResponse } from './http-io.js';
import { slugResponse } from './errors.js';
import { SEED_FULL_ACCESS_KEY, SEED_RESTRICTED_KEY, SEED_CLIENT_ACCOUNT_ID } from './seed.js';
import { RequestHolds, RequestWatch, planHold } from './holds.js';
import { expireTokens } from './auth.js';
import { completeBatches } from './routes/call-reasons.js';
import { finishNumberChanges } from './routes/numbers.js';

export type {
  AccessArea,
  FailureMode,
  InjectedFailure,
  LoggedRequest,
  RateLimit,
  RouteContext,
  RouteDefinition,
  RouteResponse,
  SandboxCounters,
  SandboxCredentials,
  SandboxHandle,
  SandboxKnobs,
  SandboxOptions,
} from './types.js';
export type { SandboxState } from './state.js';
export type { Hold, HoldInfo, HoldSpec } from './holds.js';
export { describeSandbox } from './describe.js';

/** The request log keeps the most recent requests only, so a long-running sandbox stays small. */
export const REQUEST_LOG_LIMIT = 10_000;

export async function startSandbox(options: SandboxOptions = {}): Promise<SandboxHandle> {
  const { port = 0, host = '127.0.0.1', ...knobOptions } = options;
  let knobs = mergeKnobs(defaultKnobs(), knobOptions);
  const state = createState();
  const counters = createCounters();
  const injector = new FailureInjector();
  const holds = new RequestHolds();
  const watch = new RequestWatch(counters);
  const router = new Router(routes);
  const endpointIds = router.endpointIds();
  let url = '';
  const requestLog: LoggedRequest[] = [];

  const runtime: SandboxRuntime = {
    router,
    state,
    counters,
    injector,
    rateLimiter: new SlidingWindowLimiter(),
    holds,
    watch,
    knobs: () => knobs,
    baseUrl: () => url,
  };

  const configure = (patch: unknown): SandboxKnobs => {
    knobs = mergeKnobs(knobs, patch);
    return cloneKnobs(knobs);
  };

  const controls: SandboxControls = {
    counters: () => snapshotCounters(counters),
    knobs: () => cloneKnobs(knobs),
    configure,
    inject: (failure) => {
      const planned = planFailure(failure, endpointIds);
      injector.add(planned);
      return { ...planned };
    },
    pendingFailures: () => injector.pending(),
    requests: () => requestLog.map((entry) => ({ ...entry })),
    hold: (spec) => holds.add(planHold(spec, endpointIds)).info(),
    holds: () => holds.list(),
    release: (id) => holds.release(id),
    expireTokens: () => expireTokens(state, Date.now()),
    completeBatches: (batchId) => completeBatches(state, Date.now(), batchId),
    finishNumberChanges: (failed) => finishNumberChanges(state, Date.now(), failed),
    reset: () => {
      resetCounters(counters);
      injector.clear();
      requestLog.length = 0;
      holds.release();
    },
  };

  function logRequest(entry: LoggedRequest): void {
    requestLog.push(entry);
    if (requestLog.length > REQUEST_LOG_LIMIT) requestLog.splice(0, requestLog.length - REQUEST_LOG_LIMIT);
  }

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const receivedAt = Date.now();
    res.setHeader('X-Request-Id', randomUUID());
    // Node sends the real time; a skewed server sends its own.
    if (knobs.clockOffsetMs !== 0) res.setHeader('Date', new Date(Date.now() + knobs.clockOffsetMs).toUTCString());
    const method = req.method ?? 'GET';
    const requestUrl = new URL(req.url ?? '/', 'http://sandbox.invalid');
    const rawBody = await readBody(req);

    if (isEchoPath(requestUrl.pathname)) {
      writeResponse(res, echoRequest(method, requestUrl, req.headers, rawBody));
      return;
    }
    if (isControlPath(requestUrl.pathname)) {
      writeResponse(res, handleControlRequest(controls, method, requestUrl.pathname, rawBody));
      return;
    }

    if (knobs.latencyMs > 0) await sleep(knobs.latencyMs);
    const hangUp = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) hangUp.abort();
    });
    const outcome = await handleApiRequest(runtime, { method, url: requestUrl, headers: req.headers, rawBody, signal: hangUp.signal });
    if (outcome.kind === 'gone') return;
    const matched = router.match(method, requestUrl.pathname);
    const logged = (response: RouteResponse | undefined): LoggedRequest => {
      const entry: LoggedRequest = {
        endpoint: matched.kind === 'found' ? matched.route.id : null,
        method,
        path: requestUrl.pathname,
        receivedAt,
        status: response?.status ?? null,
        answeredAt: Date.now(),
      };
      const retryAfter = response?.headers?.['Retry-After'];
      if (retryAfter !== undefined) entry.retryAfter = retryAfter;
      return entry;
    };
    // Logged before the answer goes out, so a client can never see it earlier than answeredAt.
    if (outcome.kind === 'drop') {
      bumpExtra(counters, 'droppedConnections');
      logRequest(logged(undefined));
      req.socket.destroy();
      return;
    }
    countResponse(counters, outcome.response.status);
    logRequest(logged(outcome.response));
    writeResponse(res, outcome.response);
  }

  const server = createServer((req, res) => {
    serve(req, res).catch((error: unknown) => {
      if (res.headersSent || res.destroyed) return;
      const response =
        error instanceof BodyTooLargeError
          ? slugResponse(413, 'payload-too-large', error.message, { Connection: 'close' })
          : slugResponse(500, 'internal-server-error', `sandbox error: ${(error as Error).message}`);
      countResponse(counters, response.status);
      writeResponse(res, response);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const boundPort = (server.address() as AddressInfo).port;
  url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;

  let closing: Promise<void> | undefined;
  return {
    url,
    port: boundPort,
    credentials: { clientAccountId: SEED_CLIENT_ACCOUNT_ID, ...SEED_FULL_ACCESS_KEY },
    restrictedCredentials: { clientAccountId: SEED_CLIENT_ACCOUNT_ID, ...SEED_RESTRICTED_KEY },
    counters: controls.counters,
    configure: (patch: Partial<SandboxKnobs>) => configure(patch),
    inject: (failure: InjectedFailure) => {
      controls.inject(failure);
    },
    requests: controls.requests,
    hold: (spec) => holds.add(planHold(spec, endpointIds)),
    whenRequests: (endpoint, count) => watch.until(endpoint, count),
    expireTokens: controls.expireTokens,
    state,
    close: () => {
      // Held requests would keep their connections, and close(), open.
      holds.release();
      closing ??= new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Keep-alive sockets would otherwise hold close() open.
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
