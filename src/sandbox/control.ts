// /__sandbox/* endpoints: inspect and steer the sandbox over HTTP. They need
// no auth, are never rate limited, delayed or failed, and are not counted.
import type { IncomingHttpHeaders } from 'node:http';
import type { LoggedRequest, RouteResponse, SandboxCounters, SandboxKnobs } from './types.js';
import type { PlannedFailure } from './failures.js';
import { InjectionError } from './failures.js';
import { HoldError, type HoldInfo } from './holds.js';
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
  hold(spec: unknown): HoldInfo;
  holds(): HoldInfo[];
  /** Releases one hold by id, or every hold; returns how many requests were let go. */
  release(id?: number): number;
  expireTokens(): number;
  completeBatches(batchId?: string): number;
  finishNumberChanges(failed?: string[]): number;
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
    if (error instanceof KnobError || error instanceof InjectionError || error instanceof HoldError || error instanceof ControlError) {
      return invalidInput(error.message);
    }
    throw error;
  }
}

class ControlError extends Error {}

function objectBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new ControlError('body must be a JSON object');
  return body as Record<string, unknown>;
}

function optionalId(body: Record<string, unknown>): number | undefined {
  const { id } = body;
  if (id === undefined) return undefined;
  if (typeof id !== 'number' || !Number.isInteger(id)) throw new ControlError('id must be the id of a hold (GET /__sandbox/holds)');
  return id;
}

function optionalString(body: Record<string, unknown>, name: string): string | undefined {
  const value = body[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value === '') throw new ControlError(`${name} must be a string`);
  return value;
}

function stringList(body: Record<string, unknown>, name: string): string[] {
  const value = body[name] ?? [];
  if (!Array.isArray(value) || value.some((item) => typeof item !== 'string')) throw new ControlError(`${name} must be an array of strings`);
  return value as string[];
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
    case `GET ${CONTROL_PREFIX}/holds`:
      return ok({ holds: controls.holds() });
    case `POST ${CONTROL_PREFIX}/holds`:
      return withJsonBody(rawBody, (spec) => ok({ hold: controls.hold(spec), holds: controls.holds() }));
    case `POST ${CONTROL_PREFIX}/holds/release`:
      return withJsonBody(rawBody, (body) => ok({ released: controls.release(optionalId(objectBody(body))), holds: controls.holds() }));
    case `POST ${CONTROL_PREFIX}/tokens/expire`:
      return ok({ expired: controls.expireTokens() });
    case `POST ${CONTROL_PREFIX}/batches/complete`:
      return withJsonBody(rawBody, (body) => ok({ completed: controls.completeBatches(optionalString(objectBody(body), 'batch_id')) }));
    case `POST ${CONTROL_PREFIX}/numbers/finish`:
      return withJsonBody(rawBody, (body) => ok({ finished: controls.finishNumberChanges(stringList(objectBody(body), 'failed')) }));
    case `POST ${CONTROL_PREFIX}/reset`:
      controls.reset();
      return ok({ reset: true, counters: controls.counters() });
    default:
      return slugResponse(
        404,
        'not-found',
        `unknown control endpoint ${method} ${pathname}; try GET /__sandbox/counters, GET|POST /__sandbox/config, POST /__sandbox/inject, GET /__sandbox/requests, GET|POST /__sandbox/holds, POST /__sandbox/holds/release, POST /__sandbox/tokens/expire, POST /__sandbox/batches/complete, POST /__sandbox/numbers/finish, POST /__sandbox/reset, any method on /__sandbox/echo`,
      );
  }
}
