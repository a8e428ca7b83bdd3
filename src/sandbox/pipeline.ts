// The path every API request takes:
// route → auth → account → access level → rate limit → injected/random failure → handler.
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteContext, RouteDefinition, RouteResponse, SandboxCounters, SandboxKnobs } from './types.js';
import type { SandboxState } from './state.js';
import type { Router } from './router.js';
import type { FailureInjector, PlannedFailure } from './failures.js';
import { randomServiceUnavailable } from './failures.js';
import { type SlidingWindowLimiter, retryAfterSeconds } from './sliding-window.js';
import { authenticate } from './auth.js';
import { SandboxHttpError, forbidden, invalidInput, slugResponse, tooManyRequests } from './errors.js';
import { bumpExtra, countRequest } from './counters.js';
import { parseJsonBody } from './http-io.js';
import type { RequestHolds, RequestWatch } from './holds.js';

export interface SandboxRuntime {
  router: Router;
  state: SandboxState;
  counters: SandboxCounters;
  injector: FailureInjector;
  /** Per token and endpoint. */
  rateLimiter: SlidingWindowLimiter;
  holds: RequestHolds;
  watch: RequestWatch;
  knobs(): SandboxKnobs;
  baseUrl(): string;
}

export interface ApiRequest {
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
  rawBody: Buffer;
  /** Aborted when the client hangs up before it is answered. */
  signal?: AbortSignal;
}

/** What to do with the connection: answer, hang up without a word, or nothing (the client left). */
export type ApiOutcome = { kind: 'respond'; response: RouteResponse } | { kind: 'drop' } | { kind: 'gone' };

const respond = (response: RouteResponse): ApiOutcome => ({ kind: 'respond', response });

function failureResponse(failure: PlannedFailure): RouteResponse {
  const headers: Record<string, string> = { ...failure.headers };
  if (failure.retryAfterSeconds !== undefined) headers['Retry-After'] = String(failure.retryAfterSeconds);
  return { status: failure.status, json: failure.body, headers };
}

async function runHandler(route: RouteDefinition, ctx: Omit<RouteContext, 'body'>, rawBody: Buffer): Promise<RouteResponse> {
  const parsed = parseJsonBody(rawBody);
  if (!parsed.ok) return invalidInput(parsed.error);
  try {
    return await route.handler({ ...ctx, body: parsed.value });
  } catch (error) {
    if (error instanceof SandboxHttpError) return error.response;
    // A bug in a route module: answer like the real API's 500s instead of crashing the sandbox.
    return slugResponse(500, 'internal-server-error', `sandbox handler failed: ${(error as Error).message}`);
  }
}

export async function handleApiRequest(runtime: SandboxRuntime, request: ApiRequest): Promise<ApiOutcome> {
  const { state, counters, router } = runtime;
  const knobs = runtime.knobs();
  const now = Date.now() + knobs.clockOffsetMs;

  const match = router.match(request.method, request.url.pathname);
  if (match.kind === 'not-found') {
    return respond(slugResponse(404, 'not-found', `no such endpoint: ${request.method} ${request.url.pathname}`));
  }
  if (match.kind === 'method-not-allowed') {
    return respond(
      slugResponse(405, 'method-not-allowed', `${request.method} is not allowed on ${request.url.pathname}`, {
        Allow: match.allowed.join(', '),
      }),
    );
  }
  const { route, params } = match;
  countRequest(counters, route.id);
  runtime.watch.notify();

  let auth: { token: RouteContext['token']; key: RouteContext['key'] } = { token: undefined, key: undefined };
  if (route.auth !== 'none') {
    const result = authenticate(request.headers.authorization, state, now);
    if (!result.ok) return respond(result.response);
    // A token only opens its own account's paths.
    if (params.clientAccountId !== undefined && params.clientAccountId !== result.token.clientAccountId) {
      return respond(forbidden());
    }
    if (route.access && (!result.key.access.has(route.access) || knobs.deniedAccess.includes(route.access))) {
      return respond(forbidden());
    }
    const limit = knobs.rateLimits[route.id];
    if (limit) {
      const admission = runtime.rateLimiter.tryAdmit(`${result.token.token} ${route.id}`, limit.limit, limit.windowMs, now);
      if (!admission.admitted) return respond(tooManyRequests(retryAfterSeconds(admission.retryAfterMs)));
    }
    auth = { token: result.token, key: result.key };
  }

  // A held request is admitted but not processed until released; if its client hung up
  // meanwhile, it is never processed.
  if ((await runtime.holds.pass(route.id, request.signal)) && request.signal?.aborted) {
    bumpExtra(counters, 'heldRequestsAbandoned');
    return { kind: 'gone' };
  }

  const failure =
    runtime.injector.take(route.id) ??
    (route.randomFailures !== false && Math.random() < knobs.failureRate ? randomServiceUnavailable() : undefined);
  if (failure?.mode === 'drop-connection') return { kind: 'drop' };
  if (failure?.mode === 'respond') return respond(failureResponse(failure));

  const ctx: Omit<RouteContext, 'body'> = {
    route,
    params,
    query: request.url.searchParams,
    headers: request.headers,
    ...auth,
    state,
    counters,
    knobs,
    baseUrl: runtime.baseUrl(),
    bump: (name, by) => bumpExtra(counters, name, by),
    now,
  };
  const response = await runHandler(route, ctx, request.rawBody);
  // after-processing: the work is done, but the client is told it failed.
  return respond(failure ? failureResponse(failure) : response);
}
