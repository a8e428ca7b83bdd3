import { TransientError, UsageError } from '../errors.js';
import { redactor } from '../output/redact.js';
import { mapHttpError } from './error-mapping.js';
import type { FetchFunction } from './http-fetch.js';
import { RateLimiterRegistry, systemClock, type Clock } from './rate-limiter.js';
import {
  DEFAULT_RETRY_POLICY,
  decideRetry,
  isBeforeSendCode,
  isIdempotent,
  networkCode,
  parseRetryAfter,
  type FailureKind,
  type RetryPolicy,
} from './retry.js';

/** The vendor media type the OpenAPI renderings show as optional; sending it is harmless. */
export const VENDOR_ACCEPT = 'application/vnd.api+json; version=1.0';

/** The API uses GET and POST; the others are for `tcb api`, which may meet endpoints tcb does not know. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'HEAD';

/** What a caller learns about each response as it arrives (before its body is read). */
export interface ResponseInfo {
  status: number;
  statusText: string;
  headers: Headers;
  /** 0 for the first attempt. */
  attempt: number;
}

export interface RequestSpec {
  /** Endpoint id from api/endpoints.json: names the rate limiter and the error mapping. */
  endpoint: string;
  method: HttpMethod;
  /** Path below the base URL, starting with '/'. */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  json?: unknown;
  /**
   * A body sent byte for byte instead of `json` (`tcb api --input`). Its Content-Type is
   * application/json unless `headers` name another.
   */
  body?: string | Uint8Array;
  /** Bearer token needed (default true). */
  auth?: boolean;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /**
   * Called synchronously just before each attempt goes on the wire (after the rate limiter). An
   * upload journals its intent here; throwing stops the request before anything is sent.
   */
  onSend?: (attempt: number) => void;
  /** Called with every response, retried ones included (`tcb api --include`). */
  onResponse?: (response: ResponseInfo) => void;
  /** Statuses handed back instead of thrown (default: 2xx). A 401 is still renewed once first. */
  acceptStatus?: (status: number) => boolean;
  /** Keep the response bytes as well (ApiResponse.bytes), for callers that print them unchanged. */
  raw?: boolean;
  /** On an error status, keep the parsed response body in the error's details (as `body`). */
  keepErrorBody?: boolean;
  /** With --verbose, also log request and response headers (through the redacting logger). */
  logHeaders?: boolean;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  headers: Headers;
  requestId?: string;
  /** The body exactly as received; only with `raw`. */
  bytes?: Uint8Array;
}

/** Hands out bearer tokens; renew() is called once after a 401 on the given token. */
export interface TokenSource {
  current(): Promise<string>;
  renew(rejected: string): Promise<string>;
}

export interface HttpLogger {
  debug(message: string): void;
}

export interface ApiClientOptions {
  baseUrl: string;
  timeoutMs: number;
  logger: HttpLogger;
  tokens?: TokenSource;
  retryPolicy?: RetryPolicy;
  rateLimiters?: RateLimiterRegistry;
  clock?: Clock;
  random?: () => number;
}

/** ky and the HTTP stack load with the first request: commands that never call the API do not pay for them. */
let kyModule: typeof import('ky') | undefined;
let transport: Promise<{ ky: typeof import('ky').default; fetch: FetchFunction }> | undefined;
function loadTransport(): Promise<{ ky: typeof import('ky').default; fetch: FetchFunction }> {
  transport ??= Promise.all([import('ky'), import('./http-fetch.js')]).then(([loaded, { httpFetch }]) => {
    kyModule = loaded;
    return { ky: loaded.default, fetch: httpFetch };
  });
  return transport;
}

function isTimeout(error: unknown): boolean {
  return kyModule !== undefined && error instanceof kyModule.TimeoutError;
}

const REQUEST_ID_HEADERS = ['x-request-id', 'x-amzn-requestid', 'x-correlation-id', 'request-id'];

function requestIdOf(headers: Headers): string | undefined {
  for (const name of REQUEST_ID_HEADERS) {
    const value = headers.get(name);
    if (value) return value;
  }
  return undefined;
}

export function buildUrl(baseUrl: string, path: string, query?: RequestSpec['query']): URL {
  const url = new URL(baseUrl.replace(/\/+$/, '') + path);
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== '') url.searchParams.set(key, String(value));
  }
  return url;
}

function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

async function readBody(response: Response, raw: boolean): Promise<{ body: unknown; bytes?: Uint8Array }> {
  if (!raw) return { body: parseBody(await response.text()) };
  const bytes = new Uint8Array(await response.arrayBuffer());
  return { body: parseBody(new TextDecoder().decode(bytes)), bytes };
}

/**
 * The only code that speaks HTTP to the API: base URL, Authorization, the vendor Accept header,
 * timeout, rate limiting, retries and error mapping.
 */
export class ApiClient {
  readonly baseUrl: string;
  private readonly options: ApiClientOptions;
  private readonly policy: RetryPolicy;
  private readonly clock: Clock;

  constructor(options: ApiClientOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.policy = options.retryPolicy ?? DEFAULT_RETRY_POLICY;
    this.clock = options.clock ?? systemClock;
  }

  get rateLimiters(): RateLimiterRegistry | undefined {
    return this.options.rateLimiters;
  }

  async request<T>(spec: RequestSpec): Promise<ApiResponse<T>> {
    const url = buildUrl(this.baseUrl, spec.path, spec.query);
    const needsAuth = spec.auth ?? true;
    const tokens = this.options.tokens;
    if (needsAuth && !tokens) throw new UsageError('this command needs credentials; run `tcb auth login` first');
    let token = needsAuth ? await tokens!.current() : undefined;
    let renewedAfter401 = false;

    for (let attempt = 0; ; ) {
      const limiter = token ? this.options.rateLimiters?.get(spec.endpoint, token) : undefined;
      await limiter?.acquire();
      const started = this.clock.now();
      let failure: FailureKind;
      let retryAfterMs: number | undefined;
      try {
        spec.onSend?.(attempt);
        const response = await this.send(spec, url, token);
        const duration = this.clock.now() - started;
        const requestId = requestIdOf(response.headers);
        this.log(
          `← ${response.status} ${spec.method} ${url.pathname}${url.search} ${duration}ms${requestId ? ` request-id=${requestId}` : ''}`,
        );
        if (spec.logHeaders) this.logHeaders('<', response.headers);
        spec.onResponse?.({ status: response.status, statusText: response.statusText, headers: response.headers, attempt });
        const { body, bytes } = await readBody(response, spec.raw ?? false);
        const accepted = spec.acceptStatus ? spec.acceptStatus(response.status) : response.ok;
        if (accepted && !(response.status === 401 && needsAuth && !renewedAfter401)) {
          if (response.ok) limiter?.reward();
          return { status: response.status, body: body as T, headers: response.headers, requestId, bytes };
        }
        retryAfterMs = parseRetryAfter(response.headers.get('retry-after'), Date.now());
        if (response.status === 401 && needsAuth && !renewedAfter401) {
          renewedAfter401 = true;
          this.log('  token refused (401): creating a new token and repeating the request once');
          token = await tokens!.renew(token!);
          continue;
        }
        if (response.status === 429 && limiter) {
          const before = limiter.currentIntervalMs;
          limiter.penalize(retryAfterMs);
          this.log(`  slowing ${spec.endpoint} from ${perMinute(before)} to ${perMinute(limiter.currentIntervalMs)} requests/min`);
        }
        const mapped = mapHttpError({
          status: response.status,
          body,
          method: spec.method,
          url: url.toString(),
          retryAfterMs,
          endpoint: spec.endpoint,
        });
        if (spec.keepErrorBody && body !== undefined) {
          (mapped as { details?: Record<string, unknown> }).details = { ...mapped.details, body };
        }
        if (spec.endpoint === 'token-create' && response.status === 429) throw mapped;
        failure = { kind: 'status', status: response.status };
        const decision = decideRetry(spec.method, failure, attempt, retryAfterMs, this.policy, this.options.random);
        if (!decision.retry) throw this.finalError(mapped, decision, spec, failure);
        this.log(`  retrying in ${decision.delayMs}ms (attempt ${attempt + 2} of ${this.policy.maxRetries + 1})`);
        await this.clock.sleep(decision.delayMs);
        attempt += 1;
        continue;
      } catch (error) {
        if (!isTimeout(error) && !(error instanceof TypeError) && !isFetchAbort(error)) throw error;
        if (spec.signal?.aborted) throw error;
        const duration = this.clock.now() - started;
        const code = networkCode(error);
        failure =
          isTimeout(error) ? { kind: 'timeout' } : { kind: 'network', beforeSend: isBeforeSendCode(code) };
        this.log(
          `← ${failure.kind === 'timeout' ? 'timeout' : `network error ${code ?? ''}`.trim()} ${spec.method} ${url.pathname} ${duration}ms`,
        );
        const decision = decideRetry(spec.method, failure, attempt, undefined, this.policy, this.options.random);
        if (!decision.retry) throw this.networkError(error, failure, spec, url, code);
        this.log(`  retrying in ${decision.delayMs}ms (attempt ${attempt + 2} of ${this.policy.maxRetries + 1})`);
        await this.clock.sleep(decision.delayMs);
        attempt += 1;
      }
    }
  }

  private async send(spec: RequestSpec, url: URL, token: string | undefined): Promise<Response> {
    // Headers, not a plain object: a caller's `content-type` replaces ours instead of joining it.
    const headers = new Headers({ Accept: VENDOR_ACCEPT });
    if (spec.body !== undefined) headers.set('Content-Type', 'application/json');
    for (const [name, value] of Object.entries(spec.headers ?? {})) headers.set(name, value);
    if (token) {
      redactor.addSecret(token);
      headers.set('Authorization', `Bearer ${token}`);
    }
    const { ky, fetch } = await loadTransport();
    this.log(`→ ${spec.method} ${url.toString()}`);
    if (spec.logHeaders) this.logHeaders('>', headers);
    return ky(url, {
      method: spec.method,
      headers,
      json: spec.json,
      body: spec.body as BodyInit | undefined,
      timeout: this.options.timeoutMs,
      retry: 0,
      throwHttpErrors: false,
      signal: spec.signal,
      fetch,
    });
  }

  private logHeaders(direction: '>' | '<', headers: Headers): void {
    for (const [name, value] of headers) {
      this.log(`  ${direction} ${name}: ${name === 'authorization' ? value.replace(/^(\S+\s+)?.*$/, '$1[REDACTED]') : value}`);
    }
  }

  private finalError(
    mapped: Error,
    decision: { retry: false; reason: string; retryAfterMs?: number },
    spec: RequestSpec,
    failure: FailureKind,
  ): Error {
    if (decision.reason === 'retry-after-too-long' && decision.retryAfterMs !== undefined) {
      const seconds = Math.ceil(decision.retryAfterMs / 1000);
      return new TransientError(
        `the API asked to wait ${seconds} s before retrying, longer than tcb waits (${Math.round(this.policy.maxRetryAfterMs / 1000)} s)`,
        { code: 'retry_after_too_long', hint: `try again after ${new Date(Date.now() + decision.retryAfterMs).toISOString()}`, details: { retry_after_seconds: seconds }, httpStatus: failure.kind === 'status' ? failure.status : undefined },
      );
    }
    // A POST answered with a 5xx other than 503 may have been processed: say so.
    if (!isIdempotent(spec.method) && failure.kind === 'status' && failure.status >= 500 && failure.status !== 503) {
      const withDetails = mapped as { details?: Record<string, unknown> };
      withDetails.details = { ...withDetails.details, outcome: 'unknown' };
    }
    return mapped;
  }

  private networkError(error: unknown, failure: FailureKind, spec: RequestSpec, url: URL, code: string | undefined): Error {
    const outcomeUnknown = !isIdempotent(spec.method) && !(failure.kind === 'network' && failure.beforeSend);
    // undici says only "fetch failed"; the reason (a code, or e.g. "bad port") is in its cause.
    const reason = code ?? ((error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message);
    const what = failure.kind === 'timeout' ? `timed out after ${Math.round(this.options.timeoutMs / 1000)} s` : `failed (${reason})`;
    return new TransientError(`request to ${url.origin} ${what}`, {
      code: failure.kind === 'timeout' ? 'timeout' : 'network_error',
      hint: outcomeUnknown
        ? 'the request may have reached the API; its outcome is unknown, so it was not resent'
        : failure.kind === 'timeout'
          ? 'raise --timeout or try again later'
          : 'check the base URL and the network',
      details: outcomeUnknown ? { outcome: 'unknown' } : undefined,
      cause: error,
    });
  }

  private log(message: string): void {
    this.options.logger.debug(message);
  }
}

/** A request spacing as a rate people read: "2970.3". */
function perMinute(intervalMs: number): string {
  return (60_000 / intervalMs).toFixed(1);
}

function isFetchAbort(error: unknown): boolean {
  return error instanceof Error && error.name === 'AbortError';
}
