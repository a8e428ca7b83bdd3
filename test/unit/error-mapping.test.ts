import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchIdFromMessage, mapHttpError, readErrorBody } from '../../src/api/error-mapping.js';
import { ApiError, AuthError, TransientError } from '../../src/errors.js';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'api');
const errorExamples = readdirSync(FIXTURES)
  .map((file) => ({ file, match: /^(.+?)\.response\.(\d{3})-(.+)\.json$/.exec(file) }))
  .filter((entry) => entry.match && Number(entry.match[2]) >= 400);

type Expected = {
  type: typeof ApiError | typeof AuthError | typeof TransientError;
  exitCode: number;
  code: string;
  message: string;
  slug?: string;
  field?: string;
  hint?: string;
};

const RELOGIN = 'the token was refused; run `tcb auth login` again or check the credentials';
const ACCESS_LEVEL = 'the API key lacks the access level for this feature; create a key with it under Manage API Keys in the console';
const PLEASE_LOGIN_AGAIN: Expected = {
  type: AuthError,
  exitCode: 3,
  code: 'unauthorized',
  message: 'authentication failed: please login again',
  slug: 'authorization-error',
  hint: RELOGIN,
};
const FORBIDDEN: Expected = {
  type: AuthError,
  exitCode: 3,
  code: 'forbidden',
  message: 'not authorised: not authorized. please contact your admin.',
  slug: 'forbidden-error',
  hint: ACCESS_LEVEL,
};

/** What each documented error example becomes, written out (not derived from the parser under test). */
const EXPECTED: Record<string, Expected> = {
  'cp-batch-status-v1.response.500-internal-server-error.json': {
    type: TransientError,
    exitCode: 5,
    code: 'server_error',
    message: 'the API is unavailable (HTTP 500): 500/50011 - Failed to parse token',
    slug: 'internal-server-error',
    hint: 'the request was retried; try again later',
  },
  'cp-batch-v2-status.response.401-authorization-error.json': PLEASE_LOGIN_AGAIN,
  'cp-batch-v2.response.401-authorization-error.json': PLEASE_LOGIN_AGAIN,
  'cp-bulk-v1.response.401-authorization-error.json': PLEASE_LOGIN_AGAIN,
  'cp-realtime-v1.response.401-missing-authorization-header.json': {
    ...PLEASE_LOGIN_AGAIN,
    message: 'authentication failed: Missing authorization header',
  },
  'cp-realtime-v2.response.400-ends-at-in-past.json': {
    type: ApiError,
    exitCode: 4,
    code: 'api_error',
    message: 'the API rejected the request (field ends_at): Request body is invalid: ends_at cannot be older than current time',
    field: 'ends_at',
  },
  'feature-sets-get.response.403-forbidden.json': FORBIDDEN,
  'labels-get.response.403-forbidden.json': FORBIDDEN,
  'numbers-list.response.403-forbidden.json': FORBIDDEN,
  'token-create.response.400-invalid-input.json': {
    type: ApiError,
    exitCode: 4,
    code: 'api_error',
    message: 'the API rejected the request: api_key is required',
    slug: 'invalid-input',
  },
};

describe('every documented error example maps to its error class and exit code', () => {
  it('covers every error example in the fixtures', () => {
    expect(errorExamples.map((entry) => entry.file).sort()).toEqual(Object.keys(EXPECTED).sort());
  });

  for (const { file, match } of errorExamples) {
    const status = Number(match![2]);
    const endpoint = match![1]!;
    it(`${file}`, () => {
      const body = JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8'));
      const error = mapHttpError({ status, body, method: 'GET', url: 'http://x', endpoint });
      const expected = EXPECTED[file]!;
      expect(error).toBeInstanceOf(expected.type);
      expect({ exitCode: error.exitCode, code: error.code, message: error.message, httpStatus: error.httpStatus }).toEqual({
        exitCode: expected.exitCode,
        code: expected.code,
        message: expected.message,
        httpStatus: status,
      });
      expect(error.slug).toBe(expected.slug);
      expect(error.field).toBe(expected.field);
      expect(error.hint).toBe(expected.hint);
    });
  }

  it('status_info wrapped: the field is named (realtime v2 400)', () => {
    const body = JSON.parse(readFileSync(path.join(FIXTURES, 'cp-realtime-v2.response.400-ends-at-in-past.json'), 'utf8'));
    const error = mapHttpError({ status: 400, body, method: 'POST', url: 'http://x', endpoint: 'cp-realtime-v2' });
    expect(error.field).toBe('ends_at');
    expect(error.message).toContain('field ends_at');
  });

  it('status_info flat and camelCase variants (OAS renderings)', () => {
    const flat = { status: 'error', field: 'ends_at', message: 'Request body is invalid: ends_at cannot be more than 24 hours after starts_at' };
    expect(readErrorBody(flat)).toMatchObject({ field: 'ends_at', message: flat.message });
    const camel = { statusInfo: { status: 'error', field: 'caller_number', message: 'bad number' } };
    expect(readErrorBody(camel)).toMatchObject({ field: 'caller_number', message: 'bad number' });
  });

  it('v1 status envelope: message and batch id', () => {
    const body = JSON.parse(readFileSync(path.join(FIXTURES, 'cp-bulk-v1.response.failure-ends-at-past.json'), 'utf8'));
    expect(readErrorBody(body).message).toMatch(/^ends_at cannot be older/);
    expect(batchIdFromMessage(body.message)).toBe('d30ca8f7-ae64-4c30-8700-d63f6b2f1dd6');
    const error = mapHttpError({ status: 400, body, method: 'POST', url: 'http://x', endpoint: 'cp-bulk-v1' });
    expect(error).toBeInstanceOf(ApiError);
  });

  it('bare message (log APIs) and plain-text bodies', () => {
    const body = JSON.parse(readFileSync(path.join(FIXTURES, 'cmb-logs-v1.response.no-cmb-found.json'), 'utf8'));
    expect(readErrorBody(body).message).toBe('No CMB found for client Id');
    expect(mapHttpError({ status: 404, body, method: 'GET', url: 'http://x' })).toBeInstanceOf(ApiError);
    const text = mapHttpError({ status: 502, body: '<html>Bad gateway</html>', method: 'GET', url: 'http://x' });
    expect(text).toBeInstanceOf(TransientError);
    expect(text.message).toContain('Bad gateway');
  });

  it('429 on token creation is an authentication failure (exit 3) naming the quota and the wait', () => {
    const error = mapHttpError({
      status: 429,
      body: { slug: 'too-many-requests', message: 'rate limit exceeded' },
      method: 'POST',
      url: 'http://x',
      endpoint: 'token-create',
      retryAfterMs: 120_000,
    });
    expect(error).toBeInstanceOf(AuthError);
    expect(error.exitCode).toBe(3);
    expect(error.message).toMatch(/10 tokens per 30 minutes/);
    expect(error.hint).toMatch(/retry in 120 s/);
  });

  it('429 elsewhere is transient (exit 5)', () => {
    const error = mapHttpError({ status: 429, body: {}, method: 'GET', url: 'http://x', endpoint: 'labels-get' });
    expect(error).toBeInstanceOf(TransientError);
    expect(error.exitCode).toBe(5);
  });
});

describe('readErrorBody: the shapes an error body comes in', () => {
  it('text: trimmed, at most 500 characters, nothing when blank', () => {
    expect(readErrorBody('  Bad gateway \n')).toEqual({ message: 'Bad gateway' });
    expect(readErrorBody(`  ${'x'.repeat(600)}`)).toEqual({ message: 'x'.repeat(500) });
    expect(readErrorBody('   ')).toEqual({ message: undefined });
  });

  it('nothing to read in null, numbers or arrays', () => {
    expect(readErrorBody(null)).toEqual({});
    expect(readErrorBody(undefined)).toEqual({});
    expect(readErrorBody(42)).toEqual({});
    expect(readErrorBody([{ message: 'in an array' }])).toEqual({});
  });

  it('status_info keeps the slug beside it; empty strings count as absent', () => {
    expect(readErrorBody({ slug: 'invalid-input', status_info: { status: 'error', message: 'bad', field: '' } })).toEqual({
      message: 'bad',
      field: undefined,
      slug: 'invalid-input',
    });
    // A status_info that is not an object is not the envelope.
    expect(readErrorBody({ status_info: 'error', message: 'flat' })).toEqual({ message: 'flat', slug: undefined, field: undefined });
  });

  it('{error: {...}} is read inside; {error: "text"} and {detail: "text"} are the message', () => {
    expect(readErrorBody({ error: { message: 'inner', slug: 's', field: 'f' } })).toEqual({ message: 'inner', slug: 's', field: 'f' });
    expect(readErrorBody({ error: 'not_found' })).toEqual({ message: 'not_found', slug: undefined, field: undefined });
    expect(readErrorBody({ detail: 'Not Found' })).toEqual({ message: 'Not Found', slug: undefined, field: undefined });
    expect(readErrorBody({ message: 'first', error: 'second', detail: 'third' }).message).toBe('first');
    expect(readErrorBody({ message: '', error: 'second', detail: 'third' }).message).toBe('second');
    expect(readErrorBody({ message: 7, detail: 'third' }).message).toBe('third');
  });

  it('batch ids: after "BatchID:" in any case, only id characters', () => {
    expect(batchIdFromMessage('Records Uploaded Successfully. batchid:abc-123.')).toBe('abc-123');
    expect(batchIdFromMessage('no id here')).toBeUndefined();
    expect(batchIdFromMessage(undefined)).toBeUndefined();
    expect(batchIdFromMessage('')).toBeUndefined();
  });
});

describe('mapHttpError: status by status', () => {
  const map = (status: number, body: unknown, endpoint = 'labels-get', retryAfterMs?: number) =>
    mapHttpError({ status, body, method: 'GET', url: 'http://x', endpoint, retryAfterMs });

  it('a body without a message says the status', () => {
    expect(map(404, {}).message).toBe('the API rejected the request: HTTP 404');
    expect(map(503, undefined).message).toBe('the API is unavailable (HTTP 503): HTTP 503');
  });

  it('408 is a timeout, 429 rate limiting, 5xx a server error: all exit 5', () => {
    expect(map(408, { message: 'slow' })).toMatchObject({ code: 'timeout', exitCode: 5, message: 'the API is unavailable (HTTP 408): slow', httpStatus: 408 });
    expect(map(429, { message: 'slow down' })).toMatchObject({ code: 'rate_limited', exitCode: 5, hint: 'the request was retried; try again later' });
    expect(map(500, {})).toMatchObject({ code: 'server_error', exitCode: 5 });
    expect(map(599, {})).toMatchObject({ code: 'server_error', exitCode: 5 });
    expect(map(499, {})).toMatchObject({ code: 'api_error', exitCode: 4 });
  });

  it('a 401 from an API call asks to log in again', () => {
    const error = map(401, { message: 'expired' });
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ code: 'unauthorized', exitCode: 3, hint: 'the token was refused; run `tcb auth login` again or check the credentials' });
  });

  it('token quota without a Retry-After: the 30-minute window, no details', () => {
    const error = map(429, { message: 'rate limit exceeded' }, 'token-create');
    expect(error).toBeInstanceOf(AuthError);
    expect(error.message).toBe('token quota reached: the API allows 10 tokens per 30 minutes (rate limit exceeded)');
    expect(error.hint).toBe('retry within 30 minutes; tcb caches tokens, so check for other clients using this key');
    expect(error.details).toBeUndefined();
  });

  it('token quota with a Retry-After: the wait rounded up, and when', () => {
    const before = Date.now();
    const error = map(429, { message: 'rate limit exceeded' }, 'token-create', 1500);
    expect(error).toMatchObject({ code: 'token_quota_exceeded', exitCode: 3, httpStatus: 429, details: { retry_after_seconds: 2 } });
    const match = /^retry in 2 s \(after (.+)\); tcb caches tokens, so check for other clients using this key$/.exec(error.hint!);
    expect(match).not.toBeNull();
    const at = Date.parse(match![1]!);
    expect(at).toBeGreaterThanOrEqual(before + 1000);
    expect(at).toBeLessThanOrEqual(Date.now() + 2000);
    expect(map(429, {}, 'token-create', 0).hint).toMatch(/^retry in 0 s \(after /);
  });

  it.each(['authorization-error', 'forbidden-error', 'unauthorized', 'forbidden'])('a 4xx with slug %s is an authentication failure (exit 3)', (slug) => {
    const error = map(400, { slug, message: 'no access' });
    expect(error).toBeInstanceOf(AuthError);
    expect(error).toMatchObject({ message: 'not authorised: no access', code: 'unauthorized', slug, exitCode: 3 });
  });

  it('other 4xx are the API rejecting the request (exit 4), naming the field when there is one', () => {
    const error = map(422, { slug: 'invalid-input', field: 'phone_numbers', message: 'too many' });
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ message: 'the API rejected the request (field phone_numbers): too many', slug: 'invalid-input', field: 'phone_numbers', httpStatus: 422 });
  });
});
