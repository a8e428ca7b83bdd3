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
