// /__sandbox/* endpoints: inspect and steer the sandbox over HTTP. They need
// no auth, are never rate limited, delayed or failed, and are not counted.
import type { IncomingHttpHeaders } from 'node:http';
import type { LoggedRequest, RouteResponse, SandboxCounters, SandboxKnobs } from './types.js';
import type { PlannedFailure } from './failures.js';
import { InjectionError } from './failures.js';
import { KnobError } from './knobs.js';
import { invalidInput, slugResponse } from './errors.js';
import { parseJsonBody } from './http-io.js';

export const CONTROL_PREFIX = '/__sandbox';

export interface SandboxControls {
  counters(): SandboxCounters;
  knobs(): SandboxKnobs;
  configure(patch: unknown): SandboxKnobs;
  inject(failure: unknown): PlannedFailure;
  pendingFailures(): PlannedFailure[];
  requests(): LoggedRequest[];
  reset(): void;
}

export function isControlPath(pathname: string): boolean {
  return pathname === CONTROL_PREFIX || pathname.startsWith(`${CONTROL_PREFIX}/`);
}

export const ECHO_PATH = `${CONTROL_PREFIX}/echo`;

export function isEchoPath(pathname: string): boolean {
  return pathname === ECHO_PATH || pathname.startsWith(`${ECHO_PATH}/`);
}

/**
 * Any method on /__sandbox/echo[/…] answers with the request as received: method, path, query,
 * headers and body (text, and base64 when it is not UTF-8). It also hands the bearer token back
 * bare in an X-Echo-Token header, so tests can prove a client never shows a secret it is handed
 * on stderr, even where no "Authorization"/"Bearer" pattern would give it away.
 */
export function echoRequest(method: string, url: URL, headers: IncomingHttpHeaders, rawBody: Buffer): RouteResponse {
  const text = rawBody.toString('utf8');
  const isUtf8 = Buffer.from(text, 'utf8').equals(rawBody);
  const echoed: Record<string, string> = {};
  const bearer = /^Bearer\s+(\S+)/i.exec(headers.authorization ?? '');
  if (bearer) echoed['X-Echo-Token'] = bearer[1]!;
  return {
    status: 200,
    json: {
      method,
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers,
      body: isUtf8 ? text : null,
      body_base64: isUtf8 ? undefined : rawBody.toString('base64'),
    },
    headers: echoed,
  };
}

const ok = (json: unknown): RouteResponse => ({ status: 200, json });

function withJsonBody(rawBody: Buffer, use: (body: unknown) => RouteResponse): RouteResponse {
  const parsed = parseJsonBody(rawBody);
  if (!parsed.ok) return invalidInput(parsed.error);
  try {
    return use(parsed.value ?? {});
  } catch (error) {
    if (error instanceof KnobError || error instanceof InjectionError) return invalidInput(error.message);
    throw error;
  }
}

export function handleControlRequest(controls: SandboxControls, method: string, pathname: string, rawBody: Buffer): RouteResponse {
  const action = `${method} ${pathname.replace(/\/+$/, '')}`;
  switch (action) {
    case `GET ${CONTROL_PREFIX}/counters`:
      return ok(controls.counters());
    case `GET ${CONTROL_PREFIX}/config`:
      return ok(controls.knobs());
    case `POST ${CONTROL_PREFIX}/config`:
      return withJsonBody(rawBody, (patch) => ok(controls.configure(patch)));
    case `GET ${CONTROL_PREFIX}/inject`:
      return ok({ pending: controls.pendingFailures() });
    case `POST ${CONTROL_PREFIX}/inject`:
      return withJsonBody(rawBody, (failure) => ok({ injected: controls.inject(failure), pending: controls.pendingFailures() }));
    case `GET ${CONTROL_PREFIX}/requests`:
      return ok({ requests: controls.requests() });
    case `POST ${CONTROL_PREFIX}/reset`:
      controls.reset();
      return ok({ reset: true, counters: controls.counters() });
    default:
      return slugResponse(
        404,
        'not-found',
        `unknown control endpoint ${method} ${pathname}; try GET /__sandbox/counters, GET|POST /__sandbox/config, POST /__sandbox/inject, GET /__sandbox/requests, POST /__sandbox/reset, any method on /__sandbox/echo`,
      );
  }
}
