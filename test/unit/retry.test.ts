import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  decideRetry,
  isBeforeSendCode,
  isRetryable,
  parseRetryAfter,
} from '../../src/api/retry.js';

describe('retry classification', () => {
  it('GET retries 408, 429, 5xx, network errors and timeouts, but not other 4xx', () => {
    for (const status of [408, 429, 500, 502, 503, 504]) expect(isRetryable('GET', { kind: 'status', status })).toBe(true);
    for (const status of [400, 401, 403, 404, 409, 422]) expect(isRetryable('GET', { kind: 'status', status })).toBe(false);
    expect(isRetryable('GET', { kind: 'network', beforeSend: false })).toBe(true);
    expect(isRetryable('GET', { kind: 'timeout' })).toBe(true);
  });

  it('POST retries only 429, 503 and failures before sending', () => {
    expect(isRetryable('POST', { kind: 'status', status: 429 })).toBe(true);
    expect(isRetryable('POST', { kind: 'status', status: 503 })).toBe(true);
    for (const status of [408, 500, 502, 504, 400]) expect(isRetryable('POST', { kind: 'status', status })).toBe(false);
    expect(isRetryable('POST', { kind: 'network', beforeSend: true })).toBe(true);
    expect(isRetryable('POST', { kind: 'network', beforeSend: false })).toBe(false);
    expect(isRetryable('POST', { kind: 'timeout' })).toBe(false);
  });

  it('knows which socket errors happen before sending', () => {
    expect(isBeforeSendCode('ECONNREFUSED')).toBe(true);
    expect(isBeforeSendCode('ENOTFOUND')).toBe(true);
    expect(isBeforeSendCode('ECONNRESET')).toBe(false);
    expect(isBeforeSendCode(undefined)).toBe(false);
  });
});

describe('backoff and Retry-After', () => {
  it('grows exponentially with jitter inside [ceiling/2, ceiling], capped', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(0, policy, () => 0)).toBe(50);
    expect(backoffDelay(0, policy, () => 1)).toBe(100);
    expect(backoffDelay(3, policy, () => 1)).toBe(800);
    expect(backoffDelay(10, policy, () => 1)).toBe(1000);
  });

  it('parses delta seconds and HTTP dates', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter('0.5')).toBe(500);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:10 GMT', now)).toBe(10_000);
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
  });

  it('honours Retry-After up to the cap, then fails fast; stops when retries are exhausted', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxRetries: 2, maxRetryAfterMs: 10_000 };
    const status429 = { kind: 'status', status: 429 } as const;
    expect(decideRetry('GET', status429, 0, 2000, policy, () => 0)).toEqual({ retry: true, delayMs: 2000 });
    expect(decideRetry('GET', status429, 0, 60_000, policy)).toEqual({ retry: false, reason: 'retry-after-too-long', retryAfterMs: 60_000 });
    expect(decideRetry('GET', status429, 2, undefined, policy)).toMatchObject({ retry: false, reason: 'exhausted' });
    expect(decideRetry('POST', { kind: 'status', status: 500 }, 0, undefined, policy)).toEqual({ retry: false, reason: 'not-retryable' });
  });
});
