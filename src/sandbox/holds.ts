// Steering the sandbox by events instead of by time, so that a test (or a person trying tcb) can
// put a request in flight and decide what happens next:
//  - holds: matching requests pass auth and rate limiting, then wait unprocessed until released.
//    A client that hangs up while its request is held leaves it unprocessed for good, like a
//    server that never got to it.
//  - request watches: a promise that resolves once an endpoint has seen N requests.
import type { SandboxCounters } from './types.js';

export interface HoldSpec {
  /** Endpoint id (e.g. "cp-batch-v2") or "*" for any endpoint. */
  endpoint: string;
  /** How many matching requests to hold (default 1). */
  count?: number;
  /** Matching requests to let through first (default 0). */
  after?: number;
}

export interface HoldInfo {
  id: number;
  endpoint: string;
  /** Requests still to catch. */
  remaining: number;
  /** Requests still to let through before catching. */
  after: number;
  /** Requests caught so far. */
  arrived: number;
  /** Requests caught and not yet released. */
  waiting: number;
  /** Caught requests whose client hung up while they waited (they will never be processed). */
  hungUp: number;
}

export class HoldError extends Error {}

function nonNegativeInteger(value: unknown, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) throw new HoldError(`${name} must be a whole number ≥ 0`);
  return value;
}

/** Validates a hold request (it may come over HTTP). */
export function planHold(input: unknown, knownEndpoints: ReadonlySet<string>): Required<HoldSpec> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw new HoldError('hold must be a JSON object');
  const spec = input as Partial<Record<keyof HoldSpec, unknown>>;
  const { endpoint } = spec;
  if (typeof endpoint !== 'string' || (endpoint !== '*' && !knownEndpoints.has(endpoint))) {
    throw new HoldError(`endpoint must be "*" or one of: ${[...knownEndpoints].join(', ')}`);
  }
  const count = nonNegativeInteger(spec.count, 'count', 1);
  if (count === 0) throw new HoldError('count must be a whole number ≥ 1');
  return { endpoint, count, after: nonNegativeInteger(spec.after, 'after', 0) };
}

/** One hold: the requests it caught, and who waits for them to arrive. */
export class Hold {
  private remaining: number;
  private after: number;
  private arrivedCount = 0;
  private hungUpCount = 0;
  private readonly waiting: Array<() => void> = [];
  private readonly arrivalWaiters: Array<{ count: number; resolve: () => void }> = [];
  private readonly hangUpWaiters: Array<{ count: number; resolve: () => void }> = [];

  constructor(
    readonly id: number,
    readonly endpoint: string,
    spec: Required<HoldSpec>,
  ) {
    this.remaining = spec.count;
    this.after = spec.after;
  }

  get arrived(): number {
    return this.arrivedCount;
  }

  /** True while it may still catch requests or has requests waiting. */
  get active(): boolean {
    return this.remaining > 0 || this.waiting.length > 0;
  }

  matches(endpointId: string): boolean {
    return this.remaining > 0 && (this.endpoint === '*' || this.endpoint === endpointId);
  }

  /** Called for a matching request: undefined lets it through, a promise holds it. */
  catch(hangUp?: AbortSignal): Promise<void> | undefined {
    if (this.after > 0) {
      this.after -= 1;
      return undefined;
    }
    this.remaining -= 1;
    this.arrivedCount += 1;
    const held = new Promise<void>((resolve) => this.waiting.push(resolve));
    hangUp?.addEventListener('abort', () => {
      this.hungUpCount += 1;
      wake(this.hangUpWaiters, this.hungUpCount);
    });
    wake(this.arrivalWaiters, this.arrivedCount);
    return held;
  }

  /** Resolves once `count` requests have been caught. */
  whenArrived(count = 1): Promise<void> {
    return waitFor(this.arrivalWaiters, this.arrivedCount, count);
  }

  /** Resolves once the clients of `count` caught requests have hung up. */
  whenHungUp(count = 1): Promise<void> {
    return waitFor(this.hangUpWaiters, this.hungUpCount, count);
  }

  /** Lets every caught request go on, and catches no more. Returns how many were waiting. */
  release(): number {
    this.remaining = 0;
    const released = this.waiting.splice(0);
    for (const resolve of released) resolve();
    return released.length;
  }

  info(): HoldInfo {
    return {
      id: this.id,
      endpoint: this.endpoint,
      remaining: this.remaining,
      after: this.after,
      arrived: this.arrivedCount,
      waiting: this.waiting.length,
      hungUp: this.hungUpCount,
    };
  }
}

type Waiters = Array<{ count: number; resolve: () => void }>;

function waitFor(waiters: Waiters, current: number, count: number): Promise<void> {
  if (current >= count) return Promise.resolve();
  return new Promise((resolve) => waiters.push({ count, resolve }));
}

function wake(waiters: Waiters, current: number): void {
  for (const waiter of waiters.filter((w) => current >= w.count)) {
    waiters.splice(waiters.indexOf(waiter), 1);
    waiter.resolve();
  }
}

export class RequestHolds {
  private holds: Hold[] = [];
  private nextId = 1;

  add(spec: Required<HoldSpec>): Hold {
    const hold = new Hold(this.nextId, spec.endpoint, spec);
    this.nextId += 1;
    this.holds.push(hold);
    return hold;
  }

  /**
   * Every matching hold sees the request in the order the holds were added; the first one that
   * catches it holds it. Resolves at once when none does.
   */
  async pass(endpointId: string, hangUp?: AbortSignal): Promise<boolean> {
    for (const hold of this.holds) {
      if (!hold.matches(endpointId)) continue;
      const held = hold.catch(hangUp);
      if (held) {
        await held;
        this.prune();
        return true;
      }
    }
    return false;
  }

  list(): HoldInfo[] {
    this.prune();
    return this.holds.map((hold) => hold.info());
  }

  /** Releases one hold (by id) or all of them; returns the number of requests let go. */
  release(id?: number): number {
    let released = 0;
    for (const hold of this.holds) if (id === undefined || hold.id === id) released += hold.release();
    this.prune();
    return released;
  }

  private prune(): void {
    this.holds = this.holds.filter((hold) => hold.active);
  }
}

/** Promises on request counts: "resolve once cp-batch-v2-status has been asked 3 times". */
export class RequestWatch {
  private readonly waiters: Array<{ endpoint: string; count: number; resolve: () => void }> = [];

  constructor(private readonly counters: SandboxCounters) {}

  until(endpoint: string, count: number): Promise<void> {
    if ((this.counters.requests[endpoint] ?? 0) >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ endpoint, count, resolve }));
  }

  /** Called after every counted request. */
  notify(): void {
    for (const waiter of [...this.waiters]) {
      if ((this.counters.requests[waiter.endpoint] ?? 0) >= waiter.count) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }
}
