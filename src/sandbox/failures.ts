// Failures injected on purpose (from tests or /__sandbox/inject) and the random
// failureRate. Injected failures are consumed first-in, first-out.
import type { FailureMode, InjectedFailure } from './types.js';
import { defaultBodyForStatus, slugBody } from './errors.js';

export interface PlannedFailure {
  endpoint: string;
  status: number;
  remaining: number;
  body: unknown;
  retryAfterSeconds: number | undefined;
  mode: FailureMode;
  /** Matching requests still to let through before this failure applies. */
  after: number;
  /** Extra response headers (e.g. an X-Request-Id that echoes something). */
  headers: Record<string, string>;
}

export class InjectionError extends Error {}

const MODES: readonly FailureMode[] = ['respond', 'drop-connection', 'after-processing'];

function isPositiveInteger(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value > 0;
}

/** Validates an injection request (it may come over HTTP) and fills in defaults. */
export function planFailure(input: unknown, knownEndpoints: ReadonlySet<string>): PlannedFailure {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new InjectionError('failure must be a JSON object');
  }
  const failure = input as Partial<Record<keyof InjectedFailure, unknown>>;
  const { endpoint, status = 503, count = 1, retryAfterSeconds, mode = 'respond', after = 0 } = failure;
  if (typeof endpoint !== 'string' || (endpoint !== '*' && !knownEndpoints.has(endpoint))) {
    throw new InjectionError(`endpoint must be "*" or one of: ${[...knownEndpoints].join(', ')}`);
  }
  if (typeof status !== 'number' || !Number.isInteger(status) || status < 100 || status > 599) {
    throw new InjectionError('status must be an HTTP status code');
  }
  if (!isPositiveInteger(count)) throw new InjectionError('count must be a positive integer');
  if (retryAfterSeconds !== undefined && !(typeof retryAfterSeconds === 'number' && Number.isInteger(retryAfterSeconds) && retryAfterSeconds >= 0)) {
    throw new InjectionError('retryAfterSeconds must be a non-negative integer');
  }
  if (typeof mode !== 'string' || !MODES.includes(mode as FailureMode)) {
    throw new InjectionError(`mode must be one of: ${MODES.join(', ')}`);
  }
  if (!(typeof after === 'number' && Number.isInteger(after) && after >= 0)) {
    throw new InjectionError('after must be a non-negative integer');
  }
  const headers = failure.headers ?? {};
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers) || Object.values(headers).some((v) => typeof v !== 'string')) {
    throw new InjectionError('headers must be an object of header names to string values');
  }
  return {
    endpoint,
    status,
    remaining: count,
    body: failure.body !== undefined ? failure.body : defaultBodyForStatus(status, retryAfterSeconds),
    retryAfterSeconds,
    mode: mode as FailureMode,
    after,
    headers: { ...(headers as Record<string, string>) },
  };
}

export class FailureInjector {
  private queue: PlannedFailure[] = [];

  add(failure: PlannedFailure): void {
    this.queue.push(failure);
  }

  /**
   * Takes one use of the first failure aimed at this endpoint that is due. Every failure still
   * letting requests through (`after`) counts this request, whether or not another one answers it.
   */
  take(endpointId: string): PlannedFailure | undefined {
    let chosen: PlannedFailure | undefined;
    for (const failure of this.queue) {
      if (failure.endpoint !== endpointId && failure.endpoint !== '*') continue;
      if (failure.after > 0) failure.after -= 1;
      else chosen ??= failure;
    }
    if (!chosen) return undefined;
    chosen.remaining -= 1;
    if (chosen.remaining === 0) this.queue.splice(this.queue.indexOf(chosen), 1);
    return chosen;
  }

  pending(): PlannedFailure[] {
    return this.queue.map((f) => ({ ...f }));
  }

  clear(): void {
    this.queue = [];
  }
}

/** The failure produced by the failureRate knob. */
export function randomServiceUnavailable(): PlannedFailure {
  return {
    endpoint: '*',
    status: 503,
    remaining: 1,
    body: slugBody('service-unavailable', 'service temporarily unavailable, please retry'),
    retryAfterSeconds: undefined,
    mode: 'respond',
    after: 0,
    headers: {},
  };
}
