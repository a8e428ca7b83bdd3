// The API's "slug envelope" errors ({"slug","message"}, API reference §3.5/§9).
// Messages that the docs show verbatim are kept verbatim.
import type { RouteResponse } from './types.js';

export interface SlugBody {
  slug: string;
  message: string;
}

export const MESSAGES = {
  missingAuthorization: 'Missing authorization header',
  loginAgain: 'please login again',
  notAuthorized: 'not authorized. please contact your admin.',
  invalidKeyPair: 'invalid key_id or api_key',
} as const;

export function slugBody(slug: string, message: string): SlugBody {
  return { slug, message };
}

export function slugResponse(status: number, slug: string, message: string, headers?: Record<string, string>): RouteResponse {
  return { status, json: slugBody(slug, message), ...(headers ? { headers } : {}) };
}

export const invalidInput = (message: string): RouteResponse => slugResponse(400, 'invalid-input', message);
export const forbidden = (): RouteResponse => slugResponse(403, 'forbidden-error', MESSAGES.notAuthorized);

export function tooManyRequests(retryAfterSeconds: number, message?: string): RouteResponse {
  return slugResponse(
    429,
    'too-many-requests',
    message ?? `rate limit exceeded, retry after ${retryAfterSeconds} seconds`,
    { 'Retry-After': String(retryAfterSeconds) },
  );
}

/** A default body for a status chosen by an injected failure. */
export function defaultBodyForStatus(status: number, retryAfterSeconds?: number): SlugBody {
  switch (status) {
    case 400:
      return slugBody('invalid-input', 'invalid input (injected failure)');
    case 401:
      return slugBody('authorization-error', MESSAGES.loginAgain);
    case 403:
      return slugBody('forbidden-error', MESSAGES.notAuthorized);
    case 404:
      return slugBody('not-found', 'resource not found (injected failure)');
    case 429:
      return slugBody(
        'too-many-requests',
        retryAfterSeconds === undefined
          ? 'rate limit exceeded'
          : `rate limit exceeded, retry after ${retryAfterSeconds} seconds`,
      );
    case 500:
      return slugBody('internal-server-error', 'internal server error (injected failure)');
    case 502:
      return slugBody('bad-gateway', 'bad gateway (injected failure)');
    case 503:
      return slugBody('service-unavailable', 'service temporarily unavailable (injected failure)');
    case 504:
      return slugBody('gateway-timeout', 'upstream timed out (injected failure)');
    default:
      return slugBody(status >= 500 ? 'internal-server-error' : 'error', `injected failure with status ${status}`);
  }
}

/**
 * Thrown by handlers and helpers to answer with an error without threading
 * return values through every validation step.
 */
export class SandboxHttpError extends Error {
  constructor(readonly response: RouteResponse) {
    super(`sandbox error response ${response.status}`);
  }

  static invalidInput(message: string): SandboxHttpError {
    return new SandboxHttpError(invalidInput(message));
  }
}
