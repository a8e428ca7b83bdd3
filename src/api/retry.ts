/**
 * When a failed request may be sent again (design.md §7). Pure, so every case is unit-tested.
 * GETs are idempotent: retry 408, 429, 5xx, network errors and timeouts.
 * POSTs retry only where the server cannot have processed the request: 429, 503, and
 * connection failures before anything was sent.
 */
export type FailureKind =
  | { kind: 'status'; status: number }
  | { kind: 'network'; beforeSend: boolean }
  | { kind: 'timeout' };

export interface RetryPolicy {
  maxRetries: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A Retry-After longer than this fails fast instead of sleeping. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 4,
  baseDelayMs: 500,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 60_000,
};

/** Error codes from Node's fetch (undici) that mean the request never left this machine. */
const BEFORE_SEND_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function isBeforeSendCode(code: string | undefined): boolean {
  return code !== undefined && BEFORE_SEND_CODES.has(code);
}

/** The socket error code of a failed fetch (undici nests it in `cause`). */
export function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

export function isIdempotent(method: string): boolean {
  return ['GET', 'HEAD', 'OPTIONS', 'PUT', 'DELETE'].includes(method.toUpperCase());
}

export function isRetryable(method: string, failure: FailureKind): boolean {
  const idempotent = isIdempotent(method);
  switch (failure.kind) {
    case 'status':
      if (idempotent) return failure.status === 408 || failure.status === 429 || failure.status >= 500;
      return failure.status === 429 || failure.status === 503;
    case 'network':
      return idempotent || failure.beforeSend;
    case 'timeout':
      return idempotent;
  }
}

/** Exponential backoff with full jitter: random in [0, min(max, base·2^attempt)]; attempt counts from 0. */
export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Retry-After: delta seconds or an HTTP date. Returns ms, or undefined when absent or unreadable. */
export function parseRetryAfter(header: string | null | undefined, now: number = Date.now()): number | undefined {
  if (!header) return undefined;
  const trimmed = header.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isFinite(date)) return Math.max(0, date - now);
  return undefined;
}

export type RetryDecision =
  | { retry: true; delayMs: number }
  | { retry: false; reason: 'not-retryable' | 'exhausted' | 'retry-after-too-long'; retryAfterMs?: number };

export function decideRetry(
  method: string,
  failure: FailureKind,
  attempt: number,
  retryAfterMs: number | undefined,
  policy: RetryPolicy,
  random: () => number = Math.random,
): RetryDecision {
  if (!isRetryable(method, failure)) return { retry: false, reason: 'not-retryable' };
  if (attempt >= policy.maxRetries) return { retry: false, reason: 'exhausted', retryAfterMs };
  if (retryAfterMs !== undefined) {
    if (retryAfterMs > policy.maxRetryAfterMs) return { retry: false, reason: 'retry-after-too-long', retryAfterMs };
    // Honour the server's wait, plus a little jitter so parallel clients do not return in step.
    return { retry: true, delayMs: retryAfterMs + Math.round(random() * 250) };
  }
  return { retry: true, delayMs: backoffDelay(attempt, policy, random) };
}
