import { describe, expect, it } from 'vitest';
import { RateLimiter, RateLimiterRegistry, parseRateLimit, type Clock } from '../../src/api/rate-limiter.js';

/** A fake clock: sleep advances time instantly, so the test measures scheduling, not wall time. */
function fakeClock(): Clock & { sent: number[] } {
  let now = 0;
  const sent: number[] = [];
  return {
    sent,
    now: () => now,
    sleep: async (ms) => {
      now += ms;
    },
  };
}

function maxInWindow(times: number[], windowMs: number): number {
  let max = 0;
  for (let i = 0; i < times.length; i += 1) {
    const inWindow = times.filter((t) => t > times[i]! - windowMs && t <= times[i]!).length;
    max = Math.max(max, inWindow);
  }
  return max;
}

describe('rate limit parsing', () => {
  it('reads N/min, N/s, N/10s and bare numbers as per minute', () => {
    expect(parseRateLimit('60/min')).toEqual({ limit: 60, windowMs: 60_000 });
    expect(parseRateLimit('100/s')).toEqual({ limit: 100, windowMs: 1000 });
    expect(parseRateLimit('10/10s')).toEqual({ limit: 10, windowMs: 10_000 });
    expect(parseRateLimit('600')).toEqual({ limit: 600, windowMs: 60_000 });
    expect(() => parseRateLimit('fast')).toThrow(/rate limit/);
    expect(() => parseRateLimit('0/min')).toThrow(/positive/);
  });
});

describe('RateLimiter', () => {
  it('never lets a sliding window hold more than the limit, and keeps close to it', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 60, windowMs: 60_000 }, clock);
    const times: number[] = [];
    for (let i = 0; i < 180; i += 1) {
      await limiter.acquire();
      times.push(clock.now());
    }
    expect(maxInWindow(times, 60_000)).toBeLessThanOrEqual(60);
    expect(maxInWindow(times, 60_000)).toBeGreaterThanOrEqual(59);
  });

  it('slows down after a 429 and honours the wait it was given', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 10, windowMs: 1000 }, clock, 0);
    await limiter.acquire();
    const before = limiter.currentIntervalMs;
    limiter.penalize(5000);
    expect(limiter.currentIntervalMs).toBeGreaterThan(before);
    const start = clock.now();
    await limiter.acquire();
    expect(clock.now() - start).toBeGreaterThanOrEqual(5000);
    for (let i = 0; i < 200; i += 1) limiter.reward();
    expect(limiter.currentIntervalMs).toBeCloseTo(before, 5);
  });

  it('keeps one limiter per endpoint per token, and none for unlimited endpoints', () => {
    const registry = new RateLimiterRegistry({ 'cp-batch-v2': { limit: 60, windowMs: 60_000 } });
    expect(registry.get('labels-get', 't1')).toBeUndefined();
    const a = registry.get('cp-batch-v2', 't1');
    expect(registry.get('cp-batch-v2', 't1')).toBe(a);
    expect(registry.get('cp-batch-v2', 't2')).not.toBe(a);
    registry.setLimit('cp-batch-v2', { limit: 600, windowMs: 60_000 });
    expect(registry.get('cp-batch-v2', 't1')!.rate.limit).toBe(600);
  });
});
