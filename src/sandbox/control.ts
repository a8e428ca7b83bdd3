// /__sandbox/* endpoints: inspect and steer the sandbox over HTTP. They need
// no auth, are never rate limited, delayed or failed, and are not counted.
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
        `unknown control endpoint ${method} ${pathname}; try GET /__sandbox/counters, GET|POST /__sandbox/config, POST /__sandbox/inject, GET /__sandbox/requests, POST /__sandbox/reset`,
      );
  }
}
