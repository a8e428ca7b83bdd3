import { Readable, Transform, pipeline } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, AuthError, TransientError, isTcbError } from '../errors.js';
import type { ApiClient, HttpLogger } from './client.js';
import { readErrorBody } from './error-mapping.js';
import { httpFetch } from './http-fetch.js';
import { DEFAULT_RETRY_POLICY, decideRetry, isBeforeSendCode, networkCode, parseRetryAfter, type FailureKind, type RetryPolicy } from './retry.js';

/**
 * The deprecated log-download endpoints (api/README.md §7.4, §7.5): cmb-logs-v1 and
 * user-feedback-logs-v1. Their answer is undocumented beyond "a URL through which the logs can be
 * downloaded" or {"message":"No CMB found for client Id"} with an unknown status, so the answer is
 * interpreted generously (interpretLogAnswer) and the download is fetched here, with its own rules:
 * the API's Authorization header only ever goes to the API's own origin.
 */

export type LogAnswer =
  /** "No CMB found for client Id" (whatever the status), or an empty body. */
  | { kind: 'empty'; message: string }
  /** A link to follow. */
  | { kind: 'download'; url: URL; field: string }
  /** The answer is the CSV itself. */
  | { kind: 'csv'; text: string }
  /** The answer is the data itself, as JSON objects. */
  | { kind: 'records'; records: Record<string, unknown>[] };

/** "No CMB found for client Id", and the like ("No records found"), but not "survey not found". */
const NOTHING_FOUND = /\bno\s+[\w-]+(?:\s+[\w-]+)?\s+found\b/i;

export function isNothingFoundMessage(message: string | undefined): boolean {
  return message !== undefined && NOTHING_FOUND.test(message);
}

const ABSOLUTE_URL = /^https?:\/\/[^\s]+$/i;
const URL_FIELD_HINT = /url|link|download|file|report|location|href/i;

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function urlFieldOf(record: Record<string, unknown>, prefix: string): { url: URL; field: string } | undefined {
  const candidates: { url: URL; field: string; hinted: boolean }[] = [];
  for (const [key, value] of Object.entries(record)) {
    if (typeof value !== 'string' || !ABSOLUTE_URL.test(value.trim())) continue;
    try {
      candidates.push({ url: new URL(value.trim()), field: `${prefix}${key}`, hinted: URL_FIELD_HINT.test(key) });
    } catch {
      // not a URL after all
    }
  }
  const chosen = candidates.find((c) => c.hinted) ?? candidates[0];
  return chosen ? { url: chosen.url, field: chosen.field } : undefined;
}

function isRecordArray(value: unknown): value is Record<string, unknown>[] {
  return Array.isArray(value) && value.every((item) => asRecord(item) !== undefined);
}

/**
 * What a log endpoint answered, read generously: a string field holding an absolute http(s) URL
 * at the top level or under `data` (its name is undocumented); a bare URL; the data itself (CSV
 * text or JSON objects); or "nothing found". Anything else is an ApiError (exit 4).
 */
export function interpretLogAnswer(body: unknown, status = 200): LogAnswer {
  if (body === undefined || body === null || (typeof body === 'string' && body.trim() === '')) {
    return { kind: 'empty', message: `the API answered ${status} with an empty body` };
  }
  if (typeof body === 'string') {
    const text = body.replace(/^\uFEFF/, '');
    const trimmed = text.trim();
    if (ABSOLUTE_URL.test(trimmed)) return { kind: 'download', url: new URL(trimmed), field: '(body)' };
    if (isNothingFoundMessage(trimmed) && !trimmed.includes('\n')) return { kind: 'empty', message: trimmed };
    if (/^<(!doctype|html|\?xml)/i.test(trimmed)) {
      throw new ApiError('the log API answered with an HTML/XML page instead of a download link or CSV', {
        httpStatus: status,
        hint: 'check --base-url; run with --verbose to see the request',
      });
    }
    return { kind: 'csv', text };
  }
  if (isRecordArray(body)) return { kind: 'records', records: body };
  const record = asRecord(body);
  if (record) {
    const top = urlFieldOf(record, '');
    if (top) return { kind: 'download', url: top.url, field: top.field };
    const data = record.data;
    const nested = asRecord(data);
    if (nested) {
      const inner = urlFieldOf(nested, 'data.');
      if (inner) return { kind: 'download', url: inner.url, field: inner.field };
    }
    if (isRecordArray(data)) return { kind: 'records', records: data };
    const message = readErrorBody(body).message;
    if (isNothingFoundMessage(message)) return { kind: 'empty', message: message! };
  }
  const keys = record ? Object.keys(record).slice(0, 10) : [];
  throw new ApiError('the log API answered without a download link or data', {
    httpStatus: status,
    hint: 'run with --verbose to see the answer; the log endpoints are deprecated, consider webhooks (tcb webhook listen)',
    details: { fields: keys },
  });
}

/** A failed request whose API message says "nothing found" is an empty result, whatever its status. */
function emptyFromError(error: unknown): LogAnswer | undefined {
  if (isTcbError(error) && error.httpStatus !== undefined && isNothingFoundMessage(error.message)) {
    return { kind: 'empty', message: error.message.replace(/^.*?:\s*(?=no\s)/i, '') };
  }
  return undefined;
}

async function requestLog(client: ApiClient, spec: Parameters<ApiClient['request']>[0]): Promise<LogAnswer> {
  try {
    const response = await client.request<unknown>({
      ...spec,
      headers: { Accept: 'application/json, text/csv;q=0.9, */*;q=0.5', ...spec.headers },
    });
    return interpretLogAnswer(response.body, response.status);
  } catch (error) {
    const empty = emptyFromError(error);
    if (empty) return empty;
    throw error;
  }
}

export interface CmbLogQuery {
  /** Sent as given: the caller has already converted to the unit the server wants. */
  from: number;
  to: number;
  signal?: AbortSignal;
}

export function requestCmbLogs(client: ApiClient, accountId: string, query: CmbLogQuery): Promise<LogAnswer> {
  return requestLog(client, {
    endpoint: 'cmb-logs-v1',
    method: 'GET',
    path: `/clients/${encodeURIComponent(accountId)}/openapi/callback-logs/summary`,
    query: { from: String(query.from), to: String(query.to) },
    signal: query.signal,
  });
}

export interface FeedbackLogQuery {
  surveyId: string;
  /** Sent as given (only a start is documented). */
  fromDate: number;
  signal?: AbortSignal;
}

export function requestFeedbackLogs(client: ApiClient, accountId: string, query: FeedbackLogQuery): Promise<LogAnswer> {
  return requestLog(client, {
    endpoint: 'user-feedback-logs-v1',
    method: 'GET',
    path: `/clients/${encodeURIComponent(accountId)}/openapi/feedback_stack/${encodeURIComponent(query.surveyId)}/export_report`,
    query: { from_date: String(query.fromDate) },
    signal: query.signal,
  });
}

// --- the download ---------------------------------------------------------------------------

export interface DownloadOptions {
  /** The API's base URL: only a download on this origin gets the Authorization header. */
  apiBaseUrl: string;
  /** A bearer token for same-origin downloads. */
  token: () => Promise<string>;
  /** Aborts when no byte arrives for this long (connect, headers and between chunks). */
  idleTimeoutMs: number;
  logger: HttpLogger;
  retryPolicy?: RetryPolicy;
  signal?: AbortSignal;
  maxRedirects?: number;
  /** For tests: the fetch to use. */
  fetch?: typeof fetch;
}

export interface Download {
  /** Where the bytes finally came from (after redirects). */
  url: URL;
  contentType: string;
  /** The body as a Node stream; it errors with a TransientError if the idle timeout fires. */
  body: Readable;
  /** Whether the Authorization header went with the final request. */
  authorizationSent: boolean;
}

/** Same scheme, host and port: the only place the API's token may go. */
export function isSameOrigin(url: URL, apiBaseUrl: string): boolean {
  try {
    return url.origin === new URL(apiBaseUrl).origin;
  } catch {
    return false;
  }
}

/** A download URL for logs: no query string (it may hold a signature). */
export function describeDownloadUrl(url: URL): string {
  return `${url.origin}${url.pathname}${url.search ? '?…' : ''}`;
}

class IdleTimeout extends Error {
  constructor(ms: number) {
    super(`no data for ${Math.round(ms / 1000)} s`);
    this.name = 'IdleTimeout';
  }
}

/** An AbortController that fires after `ms` without activity; touch() restarts the clock. */
function idleController(ms: number, outer?: AbortSignal) {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => controller.abort(new IdleTimeout(ms)), ms);
    timer.unref?.();
  };
  const onOuter = () => controller.abort(outer!.reason);
  if (outer?.aborted) controller.abort(outer.reason);
  else outer?.addEventListener('abort', onOuter, { once: true });
  arm();
  return {
    signal: controller.signal,
    touch: arm,
    dispose: () => {
      if (timer) clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

function downloadFailure(status: number, url: URL, sameOrigin: boolean, body: string): Error {
  const where = describeDownloadUrl(url);
  const apiMessage = readErrorBody(tryJson(body)).message;
  const suffix = apiMessage ? `: ${apiMessage}` : '';
  if ((status === 401 || status === 403) && sameOrigin) {
    return new AuthError(`the log download was refused (HTTP ${status})${suffix}`, {
      httpStatus: status,
      code: status === 401 ? 'unauthorized' : 'forbidden',
      hint: 'the API key needs the access level for these logs; create one under Manage API Keys in the console',
    });
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new TransientError(`the log download failed (HTTP ${status}) at ${where}${suffix}`, {
      httpStatus: status,
      code: 'download_failed',
      hint: 'the download was retried; run the export again later',
    });
  }
  return new ApiError(`the log download was refused (HTTP ${status}) at ${where}${suffix}`, {
    httpStatus: status,
    hint: 'download links expire quickly: run the export again',
  });
}

function tryJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/**
 * Follows a log download link and returns its body as a stream. Redirects are followed by hand
 * (at most 5) so that the Authorization header goes only to the API's own origin, hop by hop;
 * a signed storage URL on another host never sees the bearer token. Failures before the body
 * starts are retried like any GET (408/429/5xx/network); an idle timeout ends a stalled body.
 */
export async function openDownload(url: URL, options: DownloadOptions): Promise<Download> {
  const policy = options.retryPolicy ?? DEFAULT_RETRY_POLICY;
  const doFetch = options.fetch ?? httpFetch;
  const maxRedirects = options.maxRedirects ?? 5;
  for (let attempt = 0; ; ) {
    let current = url;
    let failure: FailureKind;
    let retryAfterMs: number | undefined;
    let lastError: Error;
    const idle = idleController(options.idleTimeoutMs, options.signal);
    try {
      for (let hop = 0; ; hop += 1) {
        const sameOrigin = isSameOrigin(current, options.apiBaseUrl);
        const headers: Record<string, string> = { Accept: 'text/csv, application/json;q=0.9, */*;q=0.5' };
        if (sameOrigin) headers.Authorization = `Bearer ${await options.token()}`;
        options.logger.debug(`→ GET ${describeDownloadUrl(current)} (download; ${sameOrigin ? 'bearer token sent: same origin as the API' : 'no bearer token: not the API\'s origin'})`);
        const started = Date.now();
        const response = await doFetch(current, { method: 'GET', headers, redirect: 'manual', signal: idle.signal });
        options.logger.debug(`← ${response.status} GET ${describeDownloadUrl(current)} ${Date.now() - started}ms`);
        if (response.status >= 300 && response.status < 400 && response.headers.get('location')) {
          await response.body?.cancel().catch(() => {});
          if (hop >= maxRedirects) throw new ApiError(`the log download redirected more than ${maxRedirects} times`);
          current = new URL(response.headers.get('location')!, current);
          continue;
        }
        if (!response.ok) {
          const text = await response.text().catch(() => '');
          lastError = downloadFailure(response.status, current, sameOrigin, text);
          failure = { kind: 'status', status: response.status };
          retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
          break;
        }
        const web = response.body as unknown as WebReadableStream<Uint8Array> | null;
        const source = web ? Readable.fromWeb(web) : Readable.from([]);
        // Every chunk restarts the idle clock; a timeout or interruption errors the stream.
        const tap = new Transform({
          transform(chunk, _encoding, callback) {
            idle.touch();
            callback(null, chunk);
          },
        });
        pipeline(source, tap, () => idle.dispose());
        return {
          url: current,
          contentType: response.headers.get('content-type') ?? '',
          body: tap,
          authorizationSent: sameOrigin,
        };
      }
    } catch (error) {
      idle.dispose();
      if (isTcbError(error)) throw error;
      if (options.signal?.aborted) throw error;
      const timedOut = idle.signal.aborted && idle.signal.reason instanceof IdleTimeout;
      const code = networkCode(error);
      failure = timedOut ? { kind: 'timeout' } : { kind: 'network', beforeSend: isBeforeSendCode(code) };
      lastError = new TransientError(
        `the log download from ${describeDownloadUrl(current)} ${timedOut ? `timed out (${(idle.signal.reason as Error).message})` : `failed (${code ?? (error as Error).message})`}`,
        { code: timedOut ? 'timeout' : 'network_error', hint: 'raise --timeout or run the export again later', cause: error },
      );
    }
    idle.dispose();
    const decision = decideRetry('GET', failure, attempt, retryAfterMs, policy);
    if (!decision.retry) throw lastError;
    options.logger.debug(`  retrying the download in ${decision.delayMs}ms (attempt ${attempt + 2} of ${policy.maxRetries + 1})`);
    await sleep(decision.delayMs, undefined, { signal: options.signal });
    attempt += 1;
  }
}

/** Wraps an error raised while a download body streams (idle timeout, reset) as a TransientError. */
export function downloadStreamError(error: unknown): Error {
  if (isTcbError(error)) return error;
  const reason = error instanceof IdleTimeout ? error : (error as { cause?: unknown })?.cause instanceof IdleTimeout ? (error as { cause: IdleTimeout }).cause : undefined;
  if (reason) {
    return new TransientError(`the log download stalled (${reason.message})`, { code: 'timeout', hint: 'raise --timeout or run the export again', cause: error });
  }
  return new TransientError(`the log download broke off: ${(error as Error)?.message ?? String(error)}`, {
    code: 'network_error',
    hint: 'run the export again; nothing was written and --since-last state was not advanced',
    cause: error,
  });
}
