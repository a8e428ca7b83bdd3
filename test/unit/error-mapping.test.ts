import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { batchIdFromMessage, mapHttpError, readErrorBody } from '../../src/api/error-mapping.js';
import { ApiError, AuthError, TransientError } from '../../src/errors.js';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'api');
const errorExamples = readdirSync(FIXTURES)
  .map((file) => ({ file, match: /^(.+?)\.response\.(\d{3})-(.+)\.json$/.exec(file) }))
  .filter((entry) => entry.match && Number(entry.match[2]) >= 400);

const EXPECTED: Record<number, { type: Function; exit: number }> = {
  400: { type: ApiError, exit: 4 },
  401: { type: AuthError, exit: 3 },
  403: { type: AuthError, exit: 3 },
  500: { type: TransientError, exit: 5 },
};

describe('every documented error example maps to its error class and exit code', () => {
  it('finds the examples', () => {
    expect(errorExamples.length).toBeGreaterThanOrEqual(10);
  });

  for (const { file, match } of errorExamples) {
    const status = Number(match![2]);
    const endpoint = match![1]!;
    it(`${file}`, () => {
      const body = JSON.parse(readFileSync(path.join(FIXTURES, file), 'utf8'));
      const error = mapHttpError({ status, body, method: 'GET', url: 'http://x', endpoint });
      const expected = EXPECTED[status]!;
      expect(error).toBeInstanceOf(expected.type);
      expect(error.exitCode).toBe(expected.exit);
      expect(error.httpStatus).toBe(status);
      // The API's own message is shown.
      const apiMessage = readErrorBody(body).message!;
      expect(apiMessage).toBeTruthy();
      expect(error.message).toContain(apiMessage);
      if (body.slug) expect(error.slug).toBe(body.slug);
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
