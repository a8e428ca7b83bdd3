/**
 * Client-side rate limiter: spaces requests evenly so that no window of `windowMs` ever holds
 * more than `limit` of them (the server counts a sliding window), and slows down after a 429.
 */
export interface RateLimit {
  limit: number;
  windowMs: number;
}

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

/** "60/min", "100/s", "600/minute", "10/10s", or a bare number meaning per minute. */
export function parseRateLimit(input: string): RateLimit {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:\/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|second|m|min|minute|h|hour)s?)?\s*$/i.exec(input);
  if (!match) throw new RangeError(`"${input}" is not a rate limit; use N/min or N/s, e.g. 60/min`);
  const limit = Number(match[1]);
  const count = match[2] ? Number(match[2]) : 1;
  const unit = (match[3] ?? 'min').toLowerCase();
  const unitMs = unit === 'ms' ? 1 : unit.startsWith('s') ? 1000 : unit.startsWith('h') ? 3_600_000 : 60_000;
  if (!(limit > 0) || !(count > 0)) throw new RangeError(`"${input}" is not a rate limit: it must be positive`);
  return { limit, windowMs: count * unitMs };
}

export class RateLimiter {
  private nextSlot = 0;
  private intervalMs: number;
  private readonly baseIntervalMs: number;
  private pausedUntil = 0;

  /** `margin` widens the spacing slightly so clock jitter never pushes a window over the limit. */
  constructor(
    readonly rate: RateLimit,
    private readonly clock: Clock = systemClock,
    margin = 0.01,
  ) {
    this.baseIntervalMs = (rate.windowMs / rate.limit) * (1 + margin);
    this.intervalMs = this.baseIntervalMs;
  }

  get currentIntervalMs(): number {
    return this.intervalMs;
  }

  /**
   * Reserves the next slot and waits for it; callers may run concurrently. A 429 that arrives
   * while a caller sleeps moves the pause past its slot: on waking, the caller sees the pause and
   * takes a new slot after it, so nothing leaves before the time the server asked for.
   */
  async acquire(): Promise<void> {
    let slot = this.reserve();
    for (;;) {
      const wait = slot - this.clock.now();
      if (wait > 0) await this.clock.sleep(wait);
      if (this.clock.now() >= this.pausedUntil) return;
      // Still paused. A slot already after the pause was merely woken early by the timer: keep it.
      if (slot < this.pausedUntil) slot = this.reserve();
    }
  }

  private reserve(): number {
    const slot = Math.max(this.clock.now(), this.nextSlot, this.pausedUntil);
    this.nextSlot = slot + this.intervalMs;
    return slot;
  }

  /** The server said 429: wait what it asked for, and send more slowly from now on. */
  penalize(retryAfterMs?: number): void {
    this.intervalMs = Math.min(this.intervalMs * 1.25, this.baseIntervalMs * 8);
    const now = this.clock.now();
    const until = now + (retryAfterMs ?? this.intervalMs);
    // reserve() never hands out a slot before pausedUntil, so nextSlot need not move.
    this.pausedUntil = Math.max(this.pausedUntil, until);
  }

  /** Successes let the rate creep back towards the configured one. */
  reward(): void {
    if (this.intervalMs > this.baseIntervalMs) {
      this.intervalMs = Math.max(this.baseIntervalMs, this.intervalMs * 0.98);
    }
  }
}

/** One limiter per endpoint per token, created on first use. */
export class RateLimiterRegistry {
  private readonly limiters = new Map<string, RateLimiter>();

  constructor(
    private readonly limits: Record<string, RateLimit>,
    private readonly clock: Clock = systemClock,
  ) {}

  setLimit(endpoint: string, rate: RateLimit): void {
    this.limits[endpoint] = rate;
    for (const key of this.limiters.keys()) if (key.startsWith(`${endpoint}\u0000`)) this.limiters.delete(key);
  }

  get(endpoint: string, tokenKey: string): RateLimiter | undefined {
    const rate = this.limits[endpoint];
    if (!rate) return undefined;
    const key = `${endpoint}\u0000${tokenKey}`;
    let limiter = this.limiters.get(key);
    if (!limiter) {
      limiter = new RateLimiter(rate, this.clock);
      this.limiters.set(key, limiter);
    }
    return limiter;
  }
}

/** The documented limits (api/README.md §3.6); --rate-limit overrides per command. */
export const DOCUMENTED_RATE_LIMITS: Record<string, RateLimit> = {
  'cp-batch-v2': { limit: 60, windowMs: 60_000 },
  'cp-realtime-v2': { limit: 100, windowMs: 1000 },
  'cp-realtime-v1': { limit: 100, windowMs: 1000 },
  'cp-bulk-v1': { limit: 10, windowMs: 1000 },
};
