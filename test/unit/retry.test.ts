import { describe, expect, it } from 'vitest';
import {
  DEFAULT_RETRY_POLICY,
  backoffDelay,
  decideRetry,
  isBeforeSendCode,
  isIdempotent,
  isRetryable,
  networkCode,
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

describe('what counts as sent, and as idempotent', () => {
  it.each(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])(
    '%s means the request never left: even a POST is retried',
    (code) => {
      expect(isBeforeSendCode(code)).toBe(true);
      expect(isRetryable('POST', { kind: 'network', beforeSend: isBeforeSendCode(code) })).toBe(true);
    },
  );

  it.each(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'ETIMEDOUT', ''])('%j may have reached the server', (code) => {
    expect(isBeforeSendCode(code)).toBe(false);
  });

  it('finds the socket code of a failed fetch, up to four causes deep', () => {
    expect(networkCode({ code: 'ECONNRESET' })).toBe('ECONNRESET');
    const fetchFailed = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    expect(networkCode(fetchFailed)).toBe('ECONNREFUSED');
    const deep = { cause: { cause: { cause: { code: 'EAI_AGAIN' } } } };
    expect(networkCode(deep)).toBe('EAI_AGAIN');
    expect(networkCode({ cause: deep })).toBeUndefined();
    // A numeric code (an HTTP status, say) is not a socket code: look further down.
    expect(networkCode({ code: 500, cause: { code: 'EPIPE' } })).toBe('EPIPE');
    expect(networkCode(new Error('plain'))).toBeUndefined();
    expect(networkCode(undefined)).toBeUndefined();
  });

  it('GET, HEAD, OPTIONS, PUT and DELETE are idempotent in any case; POST and PATCH are not', () => {
    for (const method of ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE', 'get', 'delete']) expect(isIdempotent(method)).toBe(true);
    for (const method of ['POST', 'PATCH', 'post']) expect(isIdempotent(method)).toBe(false);
    // Which is what decides the retry of a dropped connection.
    expect(isRetryable('put', { kind: 'network', beforeSend: false })).toBe(true);
    expect(isRetryable('PATCH', { kind: 'timeout' })).toBe(false);
    expect(isRetryable('DELETE', { kind: 'status', status: 408 })).toBe(true);
  });
});

describe('retry timing', () => {
  it('the default policy: 4 retries from 500 ms, at most 20 s apart, Retry-After up to 60 s', () => {
    expect(DEFAULT_RETRY_POLICY).toEqual({ maxRetries: 4, baseDelayMs: 500, maxDelayMs: 20_000, maxRetryAfterMs: 60_000 });
  });

  it('backoff: half the ceiling plus jitter up to the other half, rounded', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, baseDelayMs: 100, maxDelayMs: 1000 };
    expect(backoffDelay(2, policy, () => 0.5)).toBe(300);
    expect(backoffDelay(1, policy, () => 0.333)).toBe(133);
    expect(backoffDelay(4, policy, () => 0)).toBe(500);
  });

  it('Retry-After: seconds with surrounding space; a past date means now; empty means absent', () => {
    expect(parseRetryAfter(' 12 ')).toBe(12_000);
    expect(parseRetryAfter('1.2345')).toBe(1235);
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:59:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
    expect(parseRetryAfter('5s', now)).toBeUndefined();
    expect(parseRetryAfter('1e3', now)).toBeUndefined();
  });

  it('a Retry-After is waited with up to 250 ms of jitter; exactly the cap is still waited', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxRetries: 2, maxRetryAfterMs: 10_000 };
    const status503 = { kind: 'status', status: 503 } as const;
    expect(decideRetry('GET', status503, 0, 2000, policy, () => 1)).toEqual({ retry: true, delayMs: 2250 });
    expect(decideRetry('GET', status503, 1, 10_000, policy, () => 0.5)).toEqual({ retry: true, delayMs: 10_125 });
    expect(decideRetry('GET', status503, 1, 10_001, policy)).toEqual({ retry: false, reason: 'retry-after-too-long', retryAfterMs: 10_001 });
  });

  it('retries exactly maxRetries times, with backoff when the server names no wait', () => {
    const policy = { ...DEFAULT_RETRY_POLICY, maxRetries: 2 };
    const timeout = { kind: 'timeout' } as const;
    expect(decideRetry('GET', timeout, 1, undefined, policy, () => 1)).toEqual({ retry: true, delayMs: 1000 });
    expect(decideRetry('GET', timeout, 2, 500, policy)).toEqual({ retry: false, reason: 'exhausted', retryAfterMs: 500 });
    expect(decideRetry('POST', timeout, 0, undefined, policy)).toEqual({ retry: false, reason: 'not-retryable' });
  });
});
