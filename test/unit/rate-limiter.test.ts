import { describe, expect, it } from 'vitest';
import { DOCUMENTED_RATE_LIMITS, RateLimiter, RateLimiterRegistry, parseRateLimit, type Clock } from '../../src/api/rate-limiter.js';

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

/**
 * A fake clock with real concurrency: sleep() parks the caller until the test advances time past
 * its wake-up, so several callers can be asleep at once (as in-flight batches are).
 */
function manualClock(): Clock & { advanceTo(t: number): Promise<void> } {
  let now = 0;
  const timers: { at: number; wake: () => void }[] = [];
  const settle = async () => {
    for (let i = 0; i < 10; i += 1) await Promise.resolve();
  };
  return {
    now: () => now,
    sleep: (ms) => new Promise<void>((wake) => timers.push({ at: now + ms, wake })),
    async advanceTo(t) {
      for (;;) {
        await settle();
        timers.sort((a, b) => a.at - b.at);
        const next = timers[0];
        if (!next || next.at > t) break;
        timers.shift();
        now = Math.max(now, next.at);
        next.wake();
      }
      now = t;
      await settle();
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


/** A clock whose timers fire a millisecond early (but always let some time pass), as real ones may. */
function earlyClock(): Clock {
  let now = 0;
  return {
    now: () => now,
    sleep: async (ms) => {
      now += ms > 1 ? ms - 1 : ms;
    },
  };
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

  it('a 429 holds back callers already asleep for a slot until Retry-After has passed', async () => {
    const clock = manualClock();
    // 600/min: a slot every 100 ms.
    const limiter = new RateLimiter({ limit: 600, windowMs: 60_000 }, clock, 0);
    const sentAt: number[] = [];
    const senders = Array.from({ length: 6 }, async () => {
      await limiter.acquire();
      sentAt.push(clock.now());
    });
    // The first request leaves at 0; its 429 (Retry-After: 1 s) arrives at 50 ms, while the
    // other five sleep until 100, 200, 300, 400 and 500 ms.
    await clock.advanceTo(50);
    expect(sentAt).toEqual([0]);
    limiter.penalize(1000);
    await clock.advanceTo(10_000);
    await Promise.all(senders);
    expect(sentAt).toHaveLength(6);
    for (const time of sentAt.slice(1)) expect(time).toBeGreaterThanOrEqual(1050);
    // Still spaced after the pause (and more widely: the 429 slowed the limiter down).
    const gaps = sentAt.slice(2).map((time, i) => time - sentAt[i + 1]!);
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(100);
  });

  it('a caller woken early by its timer still waits for the pause', async () => {
    const clock = earlyClock();
    const limiter = new RateLimiter({ limit: 10, windowMs: 1000 }, clock, 0);
    await limiter.acquire();
    limiter.penalize(2000);
    await limiter.acquire();
    expect(clock.now()).toBeGreaterThanOrEqual(2000);
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

describe('--rate-limit spellings', () => {
  it.each([
    ['100/ms', 100, 1],
    ['5/sec', 5, 1000],
    ['5/second', 5, 1000],
    ['5/seconds', 5, 1000],
    ['5 / 2 s', 5, 2000],
    ['30/m', 30, 60_000],
    ['30/minute', 30, 60_000],
    ['30/mins', 30, 60_000],
    ['1000/h', 1000, 3_600_000],
    ['1000/hour', 1000, 3_600_000],
    ['1000/HOURS', 1000, 3_600_000],
    ['2.5/s', 2.5, 1000],
    ['2.25/s', 2.25, 1000],
    ['10/0.5s', 10, 500],
    ['10/0.25s', 10, 250],
    [' 60 ', 60, 60_000],
  ])('%j → %d per %d ms', (input, limit, windowMs) => {
    expect(parseRateLimit(input)).toEqual({ limit, windowMs });
  });

  it('says what is wrong, quoting the input', () => {
    expect(() => parseRateLimit('fast')).toThrow(new RangeError('"fast" is not a rate limit; use N/min or N/s, e.g. 60/min'));
    expect(() => parseRateLimit('60/day')).toThrow(new RangeError('"60/day" is not a rate limit; use N/min or N/s, e.g. 60/min'));
    expect(() => parseRateLimit('x60/min')).toThrow(/is not a rate limit; use/);
    expect(() => parseRateLimit('60/minx')).toThrow(/is not a rate limit; use/);
    expect(() => parseRateLimit('-1/s')).toThrow(/is not a rate limit; use/);
    expect(() => parseRateLimit('0/min')).toThrow(new RangeError('"0/min" is not a rate limit: it must be positive'));
    expect(() => parseRateLimit('10/0s')).toThrow(new RangeError('"10/0s" is not a rate limit: it must be positive'));
  });

  it('the documented limits of the call-personalisation endpoints', () => {
    expect(DOCUMENTED_RATE_LIMITS).toEqual({
      'cp-batch-v2': { limit: 60, windowMs: 60_000 },
      'cp-realtime-v2': { limit: 100, windowMs: 1000 },
      'cp-realtime-v1': { limit: 100, windowMs: 1000 },
      'cp-bulk-v1': { limit: 10, windowMs: 1000 },
    });
  });
});

describe('RateLimiter spacing', () => {
  it('spaces requests by window/limit widened by the 1 % margin, starting at once', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 100, windowMs: 1000 }, clock);
    expect(limiter.currentIntervalMs).toBeCloseTo(10.1, 9);
    const times: number[] = [];
    for (let i = 0; i < 4; i += 1) {
      await limiter.acquire();
      times.push(clock.now());
    }
    expect(times[0]).toBe(0);
    expect(times.map((t) => Number(t.toFixed(6)))).toEqual([0, 10.1, 20.2, 30.3]);
  });

  it('a caller after a quiet spell leaves at once and the spacing restarts from it', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 1, windowMs: 1000 }, clock, 0);
    await limiter.acquire();
    await clock.sleep(5000);
    await limiter.acquire();
    expect(clock.now()).toBe(5000);
    await limiter.acquire();
    expect(clock.now()).toBe(6000);
  });

  it('each 429 slows by a quarter, never below an eighth of the configured rate; without Retry-After it pauses one interval', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 10, windowMs: 1000 }, clock, 0);
    limiter.penalize();
    expect(limiter.currentIntervalMs).toBe(125);
    await limiter.acquire();
    expect(clock.now()).toBe(125);
    limiter.penalize();
    expect(limiter.currentIntervalMs).toBe(156.25);
    for (let i = 0; i < 20; i += 1) limiter.penalize(0);
    expect(limiter.currentIntervalMs).toBe(800);
  });

  it('a shorter Retry-After never shortens a pause already in force', async () => {
    const clock = fakeClock();
    const limiter = new RateLimiter({ limit: 10, windowMs: 1000 }, clock, 0);
    limiter.penalize(3000);
    limiter.penalize(500);
    await limiter.acquire();
    expect(clock.now()).toBe(3000);
  });

  it('successes creep back 2 % at a time and stop at the configured rate', () => {
    const limiter = new RateLimiter({ limit: 10, windowMs: 1000 }, fakeClock(), 0);
    limiter.reward();
    expect(limiter.currentIntervalMs).toBe(100);
    limiter.penalize(0);
    limiter.reward();
    expect(limiter.currentIntervalMs).toBe(122.5);
    for (let i = 0; i < 20; i += 1) limiter.reward();
    expect(limiter.currentIntervalMs).toBe(100);
  });

  it('a new limit replaces the limiters of that endpoint only', () => {
    const registry = new RateLimiterRegistry({ 'cp-batch-v2': { limit: 60, windowMs: 60_000 }, 'cp-bulk-v1': { limit: 10, windowMs: 1000 } });
    const batch = registry.get('cp-batch-v2', 't1');
    const bulk = registry.get('cp-bulk-v1', 't1');
    registry.setLimit('cp-bulk-v1', { limit: 5, windowMs: 1000 });
    expect(registry.get('cp-batch-v2', 't1')).toBe(batch);
    expect(registry.get('cp-bulk-v1', 't1')).not.toBe(bulk);
    expect(registry.get('cp-bulk-v1', 't1')!.rate).toEqual({ limit: 5, windowMs: 1000 });
    registry.setLimit('raw', { limit: 1, windowMs: 1000 });
    expect(registry.get('raw', 't1')!.rate.limit).toBe(1);
  });
});

describe('RateLimiter waking early', () => {
  it('a caller whose slot is the end of the pause keeps it when its timer fires a little early', async () => {
    const clock = earlyClock();
    const limiter = new RateLimiter({ limit: 10, windowMs: 1000 }, clock, 0);
    limiter.penalize(1000);
    // Its slot is 1000 ms; the timer wakes it at 999, still in the pause: it waits the last
    // millisecond for the same slot instead of queueing behind the next one (1125 ms).
    await limiter.acquire();
    expect(clock.now()).toBe(1000);
  });
});
