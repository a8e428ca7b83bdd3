import { ApiError, AuthError, TransientError, type TcbError } from '../errors.js';

/**
 * The API answers errors in several shapes (api/README.md §3.5):
 * slug envelope, status_info envelope (wrapped or flat, snake or camel case),
 * v1 status envelope, and a bare message. This reads any of them.
 */
export interface ApiErrorBody {
  message?: string;
  slug?: string;
  field?: string;
}

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

export function readErrorBody(body: unknown): ApiErrorBody {
  if (typeof body === 'string') return { message: str(body.trim().slice(0, 500)) };
  const record = asRecord(body);
  if (!record) return {};
  const statusInfo = asRecord(record.status_info) ?? asRecord(record.statusInfo);
  if (statusInfo) {
    return { message: str(statusInfo.message), field: str(statusInfo.field), slug: str(record.slug) };
  }
  const nested = asRecord(record.error);
  if (nested) return readErrorBody(nested);
  return {
    message: str(record.message) ?? str(record.error) ?? str(record.detail),
    slug: str(record.slug),
    field: str(record.field),
  };
}

/** v1 call-personalisation answers embed the batch id in the message: "... BatchID: <uuid>". */
export function batchIdFromMessage(message: string | undefined): string | undefined {
  return message ? /BatchID:\s*([A-Za-z0-9-]+)/i.exec(message)?.[1] : undefined;
}

export interface HttpFailure {
  status: number;
  body: unknown;
  method: string;
  url: string;
  retryAfterMs?: number;
  endpoint?: string;
}

const SLUG_AUTH = new Set(['authorization-error', 'forbidden-error', 'unauthorized', 'forbidden']);

/** HTTP status + body → the error class of design.md §5, with the API's own message. */
export function mapHttpError(failure: HttpFailure): TcbError {
  const { status } = failure;
  const parsed = readErrorBody(failure.body);
  const apiMessage = parsed.message ?? `HTTP ${status}`;
  const base = { httpStatus: status, slug: parsed.slug, field: parsed.field };

  if (failure.endpoint === 'token-create' && status === 429) {
    const wait = failure.retryAfterMs !== undefined ? Math.ceil(failure.retryAfterMs / 1000) : undefined;
    return new AuthError(
      `token quota reached: the API allows 10 tokens per 30 minutes (${apiMessage})`,
      {
        ...base,
        code: 'token_quota_exceeded',
        hint:
          wait !== undefined
            ? `retry in ${wait} s (after ${new Date(Date.now() + wait * 1000).toISOString()}); tcb caches tokens, so check for other clients using this key`
            : 'retry within 30 minutes; tcb caches tokens, so check for other clients using this key',
        details: wait !== undefined ? { retry_after_seconds: wait } : undefined,
      },
    );
  }
  if (status === 401) {
    return new AuthError(`authentication failed: ${apiMessage}`, {
      ...base,
      code: 'unauthorized',
      hint:
        failure.endpoint === 'token-create'
          ? 'check the key id and secret API key (tcb auth login), and the client account id'
          : 'the token was refused; run `tcb auth login` again or check the credentials',
    });
  }
  if (status === 403) {
    return new AuthError(`not authorised: ${apiMessage}`, {
      ...base,
      code: 'forbidden',
      hint: 'the API key lacks the access level for this feature; create a key with it under Manage API Keys in the console',
    });
  }
  if (status === 408 || status === 429 || status >= 500) {
    return new TransientError(`the API is unavailable (HTTP ${status}): ${apiMessage}`, {
      ...base,
      code: status === 429 ? 'rate_limited' : status === 408 ? 'timeout' : 'server_error',
      hint: 'the request was retried; try again later',
    });
  }
  if (parsed.slug && SLUG_AUTH.has(parsed.slug)) {
    return new AuthError(`not authorised: ${apiMessage}`, { ...base, code: 'unauthorized' });
  }
  const where = parsed.field ? ` (field ${parsed.field})` : '';
  return new ApiError(`the API rejected the request${where}: ${apiMessage}`, base);
}
