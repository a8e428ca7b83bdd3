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
  const { endpoint, status = 503, count = 1, retryAfterSeconds, mode = 'respond' } = failure;
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
  return {
    endpoint,
    status,
    remaining: count,
    body: failure.body !== undefined ? failure.body : defaultBodyForStatus(status, retryAfterSeconds),
    retryAfterSeconds,
    mode: mode as FailureMode,
  };
}

export class FailureInjector {
  private queue: PlannedFailure[] = [];

  add(failure: PlannedFailure): void {
    this.queue.push(failure);
  }

  /** Takes one use of the first failure aimed at this endpoint, if any. */
  take(endpointId: string): PlannedFailure | undefined {
    const index = this.queue.findIndex((f) => f.endpoint === endpointId || f.endpoint === '*');
    if (index === -1) return undefined;
    const failure = this.queue[index]!;
    failure.remaining -= 1;
    if (failure.remaining === 0) this.queue.splice(index, 1);
    return failure;
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
  };
}
