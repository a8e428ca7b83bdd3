import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  describeDownloadUrl,
  downloadStreamError,
  interpretLogAnswer,
  isNothingFoundMessage,
  isSameOrigin,
  openDownload,
  requestCmbLogs,
  requestFeedbackLogs,
} from '../../src/api/logs.js';
import type { ApiClient, RequestSpec } from '../../src/api/client.js';
import { mapHttpError } from '../../src/api/error-mapping.js';
import { ApiError, AuthError, TransientError } from '../../src/errors.js';

const fixture = (name: string): unknown =>
  JSON.parse(readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8'));

describe('interpretLogAnswer', () => {
  it('reads the documented "No CMB found" bodies of both endpoints as an empty result', () => {
    for (const file of ['cmb-logs-v1.response.no-cmb-found.json', 'user-feedback-logs-v1.response.no-cmb-found.json']) {
      expect(interpretLogAnswer(fixture(file))).toEqual({ kind: 'empty', message: 'No CMB found for client Id' });
    }
  });

  it('takes an absolute URL from any top-level string field, preferring url-like names', () => {
    const answer = interpretLogAnswer({ note: 'see https://example.com/help', id: 'x', file_link: 'https://s3.example.com/a.csv?sig=1' });
    expect(answer).toMatchObject({ kind: 'download', field: 'file_link' });
    expect(answer.kind === 'download' && answer.url.href).toBe('https://s3.example.com/a.csv?sig=1');
    expect(interpretLogAnswer({ whatever: 'http://127.0.0.1:9/x.csv' })).toMatchObject({ kind: 'download', field: 'whatever' });
  });

  it('takes the URL under data when the top level has none', () => {
    const answer = interpretLogAnswer({ status: 'ok', data: { report_url: 'https://files.example.com/r.csv' } });
    expect(answer).toMatchObject({ kind: 'download', field: 'data.report_url' });
  });

  it('accepts a bare URL body, a CSV body and JSON records as the data itself', () => {
    expect(interpretLogAnswer('https://files.example.com/x.csv\n')).toMatchObject({ kind: 'download' });
    expect(interpretLogAnswer('\uFEFFa,b\n1,2\n')).toEqual({ kind: 'csv', text: 'a,b\n1,2\n' });
    expect(interpretLogAnswer([{ a: 1 }])).toEqual({ kind: 'records', records: [{ a: 1 }] });
    expect(interpretLogAnswer({ data: [{ a: 1 }] })).toEqual({ kind: 'records', records: [{ a: 1 }] });
  });

  it('treats an empty body as an empty result and rejects answers it cannot use', () => {
    expect(interpretLogAnswer(undefined, 204).kind).toBe('empty');
    expect(() => interpretLogAnswer({ status: 'done' })).toThrow(ApiError);
    expect(() => interpretLogAnswer('<html><body>Login</body></html>')).toThrow(ApiError);
    expect(() => interpretLogAnswer({ url: 'ftp://example.com/x.csv' })).toThrow(ApiError);
  });

  it('does not mistake other "not found" messages for an empty result', () => {
    expect(isNothingFoundMessage('No CMB found for client Id')).toBe(true);
    expect(isNothingFoundMessage('no records found')).toBe(true);
    expect(isNothingFoundMessage('survey not found')).toBe(false);
    expect(() => interpretLogAnswer({ slug: 'not-found', message: 'survey not found' })).toThrow(ApiError);
  });
});

describe('download origin rules', () => {
  it('compares scheme, host and port', () => {
    const api = 'http://127.0.0.1:8787';
    expect(isSameOrigin(new URL('http://127.0.0.1:8787/downloads/x'), api)).toBe(true);
    expect(isSameOrigin(new URL('http://127.0.0.1:8788/downloads/x'), api)).toBe(false);
    expect(isSameOrigin(new URL('https://127.0.0.1:8787/downloads/x'), api)).toBe(false);
    expect(isSameOrigin(new URL('http://localhost:8787/downloads/x'), api)).toBe(false);
    expect(isSameOrigin(new URL('http://localhost:8787/downloads/x'), 'not a base url')).toBe(false);
  });

  it('never logs the query string of a link (it may be a signature)', () => {
    expect(describeDownloadUrl(new URL('https://s3.example.com/a.csv?X-Amz-Signature=secret'))).toBe('https://s3.example.com/a.csv?…');
  });
});

/** A tiny server whose behaviour each test sets; it records the headers of every request. */
interface TestServer {
  url: string;
  seen: { path: string; headers: IncomingHttpHeaders }[];
  handle: (path: string, res: import('node:http').ServerResponse) => void;
  close(): Promise<void>;
}

async function testServer(): Promise<TestServer> {
  const state: TestServer = {
    url: '',
    seen: [],
    handle: (_p, res) => res.end(),
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    state.seen.push({ path: req.url ?? '', headers: req.headers });
    state.handle(req.url ?? '', res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}

const quietLogger = { debug: () => {} };
const fastRetries = { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 2, maxRetryAfterMs: 1000 };

describe('openDownload', () => {
  let api: TestServer;
  let storage: TestServer;

  beforeAll(async () => {
    api = await testServer();
    storage = await testServer();
  });
  afterAll(async () => {
    await api.close();
    await storage.close();
  });

  const options = () => ({
    apiBaseUrl: api.url,
    token: async () => 'secret-token-123',
    idleTimeoutMs: 5000,
    logger: quietLogger,
    retryPolicy: fastRetries,
  });

  it('sends the bearer token to the API origin only', async () => {
    api.seen = [];
    storage.seen = [];
    api.handle = (_p, res) => res.end('a\n1\n');
    storage.handle = (_p, res) => res.end('b\n2\n');
    const same = await openDownload(new URL(`${api.url}/f.csv`), options());
    expect(await readAll(same.body)).toBe('a\n1\n');
    expect(same.authorizationSent).toBe(true);
    expect(api.seen[0]!.headers.authorization).toBe('Bearer secret-token-123');

    const other = await openDownload(new URL(`${storage.url}/f.csv?sig=abc`), options());
    expect(await readAll(other.body)).toBe('b\n2\n');
    expect(other.authorizationSent).toBe(false);
    expect(storage.seen[0]!.headers.authorization).toBeUndefined();
  });

  it('drops the token when the API redirects to another host', async () => {
    api.seen = [];
    storage.seen = [];
    api.handle = (_p, res) => {
      res.writeHead(302, { Location: `${storage.url}/signed.csv?sig=1` });
      res.end();
    };
    storage.handle = (_p, res) => res.end('x\n1\n');
    const download = await openDownload(new URL(`${api.url}/logs/1`), options());
    expect(await readAll(download.body)).toBe('x\n1\n');
    expect(api.seen[0]!.headers.authorization).toBe('Bearer secret-token-123');
    expect(storage.seen).toHaveLength(1);
    expect(storage.seen[0]!.headers.authorization).toBeUndefined();
    expect(download.url.href).toBe(`${storage.url}/signed.csv?sig=1`);
  });

  it('retries a 503 and then streams the file', async () => {
    storage.seen = [];
    let calls = 0;
    storage.handle = (_p, res) => {
      calls += 1;
      if (calls === 1) {
        res.writeHead(503);
        res.end('busy');
      } else res.end('ok\n');
    };
    const download = await openDownload(new URL(`${storage.url}/f.csv`), options());
    expect(await readAll(download.body)).toBe('ok\n');
    expect(storage.seen).toHaveLength(2);
  });

  it('maps refusals: an expired link is exit 4, a 403 from the API origin is exit 3, lasting 5xx exit 5', async () => {
    storage.handle = (_p, res) => {
      res.writeHead(403, { 'Content-Type': 'application/xml' });
      res.end('<Error>AccessDenied</Error>');
    };
    await expect(openDownload(new URL(`${storage.url}/f.csv`), options())).rejects.toBeInstanceOf(ApiError);
    api.handle = (_p, res) => {
      res.writeHead(403, { 'Content-Type': 'application/json' });
      res.end('{"slug":"forbidden-error","message":"not authorized. please contact your admin."}');
    };
    await expect(openDownload(new URL(`${api.url}/f.csv`), options())).rejects.toBeInstanceOf(AuthError);
    storage.handle = (_p, res) => {
      res.writeHead(500);
      res.end();
    };
    await expect(openDownload(new URL(`${storage.url}/f.csv`), options())).rejects.toBeInstanceOf(TransientError);
  });

  it('ends a stalled body with an error instead of waiting for ever', async () => {
    storage.handle = (_p, res) => {
      res.writeHead(200, { 'Content-Type': 'text/csv' });
      res.write('a\n1\n'); // and never ends
    };
    const download = await openDownload(new URL(`${storage.url}/f.csv`), { ...options(), idleTimeoutMs: 100 });
    const error = await readAll(download.body).then(
      () => undefined,
      (e: unknown) => e,
    );
    const mapped = downloadStreamError(error);
    expect(mapped).toBeInstanceOf(TransientError);
    expect(mapped).toMatchObject({ code: 'timeout', message: 'the log download stalled (no data for 0 s)', hint: 'raise --timeout or run the export again' });
  });
});

describe('interpretLogAnswer, case by case', () => {
  it('an empty body, null or blank text is empty, naming the status', () => {
    expect(interpretLogAnswer(undefined, 204)).toEqual({ kind: 'empty', message: 'the API answered 204 with an empty body' });
    expect(interpretLogAnswer(null)).toEqual({ kind: 'empty', message: 'the API answered 200 with an empty body' });
    expect(interpretLogAnswer(' \n ', 202)).toEqual({ kind: 'empty', message: 'the API answered 202 with an empty body' });
  });

  it('a bare URL body (any case, padded) is a link; a URL with a space in it is not one', () => {
    const answer = interpretLogAnswer('\uFEFF  HTTPS://files.example.com/x.csv?sig=1 \n');
    expect(answer).toEqual({ kind: 'download', url: new URL('https://files.example.com/x.csv?sig=1'), field: '(body)' });
    expect(interpretLogAnswer('https://files.example.com/a b.csv')).toEqual({ kind: 'csv', text: 'https://files.example.com/a b.csv' });
  });

  it('only a leading byte-order mark is dropped: one inside the data stays', () => {
    expect(interpretLogAnswer('a,b\n\uFEFF1,2\n')).toEqual({ kind: 'csv', text: 'a,b\n\uFEFF1,2\n' });
  });

  it('a one-line "nothing found" text is empty; a CSV that mentions it is data', () => {
    expect(interpretLogAnswer('  No records found\n')).toEqual({ kind: 'empty', message: 'No records found' });
    expect(interpretLogAnswer('note\nNo records found\n')).toEqual({ kind: 'csv', text: 'note\nNo records found\n' });
  });

  it('an HTML or XML page is refused (exit 4) with a hint to check the base URL', () => {
    for (const page of ['<!DOCTYPE html><html></html>', '<HTML><body>x</body></HTML>', '  <?xml version="1.0"?><Error/>']) {
      const error = (() => {
        try {
          interpretLogAnswer(page, 200);
        } catch (e) {
          return e as ApiError;
        }
        throw new Error('expected a refusal');
      })();
      expect(error).toBeInstanceOf(ApiError);
      expect(error).toMatchObject({
        message: 'the log API answered with an HTML/XML page instead of a download link or CSV',
        httpStatus: 200,
        hint: 'check --base-url; run with --verbose to see the request',
      });
    }
    expect(interpretLogAnswer('<b>,c\n1,2\n')).toEqual({ kind: 'csv', text: '<b>,c\n1,2\n' });
    expect(interpretLogAnswer('page,note\n1,<html> seen\n')).toEqual({ kind: 'csv', text: 'page,note\n1,<html> seen\n' });
  });

  it('JSON records: an array of objects (even empty), at the top or under data; an array of other things is refused', () => {
    expect(interpretLogAnswer([])).toEqual({ kind: 'records', records: [] });
    expect(interpretLogAnswer({ data: [] })).toEqual({ kind: 'records', records: [] });
    expect(() => interpretLogAnswer([{ a: 1 }, 2])).toThrow(ApiError);
    expect(() => interpretLogAnswer([{ a: 1 }, null])).toThrow(ApiError);
    expect(() => interpretLogAnswer({ data: [['a']] })).toThrow(ApiError);
  });

  it('a link field: trimmed; the first url-like name wins, else the first link; a field that only looks like a link is skipped', () => {
    expect(interpretLogAnswer({ a: 'https://one.example/1', b: 'https://two.example/2' })).toMatchObject({ field: 'a' });
    const answer = interpretLogAnswer({ a: 'https://one.example/1', download: ' https://two.example/2 ', href: 'https://three.example/3' });
    expect(answer).toEqual({ kind: 'download', url: new URL('https://two.example/2'), field: 'download' });
    expect(interpretLogAnswer({ link: 'http://[nope/x', other: 'https://ok.example/x' })).toMatchObject({ field: 'other' });
    expect(interpretLogAnswer({ count: 3, data: { x: 'https://d.example/r.csv', report: 'https://d.example/s.csv' } })).toMatchObject({ field: 'data.report' });
  });

  it('a nothing-found message in a JSON envelope, even nested, is empty', () => {
    expect(interpretLogAnswer({ error: { message: 'No logs found for survey' } }, 404)).toEqual({ kind: 'empty', message: 'No logs found for survey' });
    expect(interpretLogAnswer({ data: {}, message: 'no feedback found' })).toEqual({ kind: 'empty', message: 'no feedback found' });
  });

  it('an answer it cannot use names up to ten of its fields', () => {
    const body = Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`f${i}`, i]));
    const error = (() => {
      try {
        interpretLogAnswer(body, 201);
      } catch (e) {
        return e as ApiError;
      }
      throw new Error('expected a refusal');
    })();
    expect(error).toMatchObject({
      message: 'the log API answered without a download link or data',
      httpStatus: 201,
      hint: 'run with --verbose to see the answer; the log endpoints are deprecated, consider webhooks (tcb webhook listen)',
      details: { fields: ['f0', 'f1', 'f2', 'f3', 'f4', 'f5', 'f6', 'f7', 'f8', 'f9'] },
    });
    expect(() => interpretLogAnswer(42)).toThrow(expect.objectContaining({ details: { fields: [] } }));
  });

  it('"nothing found" needs one or two words between "no" and "found"', () => {
    expect(isNothingFoundMessage('No CMB found')).toBe(true);
    expect(isNothingFoundMessage('Nothing was found')).toBe(false);
    expect(isNothingFoundMessage('no data at all found')).toBe(false);
    expect(isNothingFoundMessage('unknown found')).toBe(false);
    expect(isNothingFoundMessage('no logs foundation')).toBe(false);
    expect(isNothingFoundMessage(undefined)).toBe(false);
  });
});

describe('requesting the logs', () => {
  function answering(reply: () => { status: number; body: unknown }) {
    const specs: RequestSpec[] = [];
    const client = {
      async request(spec: RequestSpec) {
        specs.push(spec);
        const { status, body } = reply();
        if (status >= 400) throw mapHttpError({ status, body, method: spec.method, url: spec.path, endpoint: spec.endpoint });
        return { status, body, headers: new Headers() };
      },
    } as unknown as ApiClient;
    return { client, specs };
  }

  it('cmb-logs-v1: GET with from and to, asking for JSON or CSV', async () => {
    const { client, specs } = answering(() => ({ status: 200, body: { url: 'https://files.example.com/cmb.csv' } }));
    const signal = new AbortController().signal;
    expect(await requestCmbLogs(client, 'acc 1', { from: 1700000000, to: 1700086400, signal })).toMatchObject({ kind: 'download', field: 'url' });
    expect(specs).toEqual([
      {
        endpoint: 'cmb-logs-v1',
        method: 'GET',
        path: '/clients/acc%201/openapi/callback-logs/summary',
        query: { from: '1700000000', to: '1700086400' },
        signal,
        headers: { Accept: 'application/json, text/csv;q=0.9, */*;q=0.5' },
      },
    ]);
  });

  it('user-feedback-logs-v1: GET for the survey with from_date', async () => {
    const { client, specs } = answering(() => ({ status: 200, body: 'a,b\n1,2\n' }));
    expect(await requestFeedbackLogs(client, 'acc', { surveyId: 's/1', fromDate: 1700000000000 })).toEqual({ kind: 'csv', text: 'a,b\n1,2\n' });
    expect(specs[0]).toMatchObject({
      endpoint: 'user-feedback-logs-v1',
      method: 'GET',
      path: '/clients/acc/openapi/feedback_stack/s%2F1/export_report',
      query: { from_date: '1700000000000' },
      headers: { Accept: 'application/json, text/csv;q=0.9, */*;q=0.5' },
    });
  });

  it('the documented "No CMB found" as an error status is an empty result; other errors pass', async () => {
    const notFound = answering(() => ({ status: 404, body: fixture('cmb-logs-v1.response.no-cmb-found.json') }));
    expect(await requestCmbLogs(notFound.client, 'acc', { from: 1, to: 2 })).toEqual({ kind: 'empty', message: 'No CMB found for client Id' });
    const survey = answering(() => ({ status: 404, body: { message: 'survey not found' } }));
    const refused = requestFeedbackLogs(survey.client, 'acc', { surveyId: 's', fromDate: 1 });
    await expect(refused).rejects.toBeInstanceOf(ApiError);
    await expect(refused).rejects.toThrow('the API rejected the request: survey not found');
    const prefixed = answering(() => ({ status: 404, body: { message: 'Error:No records found' } }));
    expect(await requestCmbLogs(prefixed.client, 'acc', { from: 1, to: 2 })).toEqual({ kind: 'empty', message: 'No records found' });
    const down = answering(() => ({ status: 503, body: { message: 'No CMB found for client Id' } }));
    expect(await requestCmbLogs(down.client, 'acc', { from: 1, to: 2 })).toEqual({ kind: 'empty', message: 'No CMB found for client Id' });
  });

  it('an error that is not the API\'s own answer is passed on, whatever it says', async () => {
    const client = {
      async request() {
        throw new TransientError('No route found to host');
      },
    } as unknown as ApiClient;
    await expect(requestCmbLogs(client, 'acc', { from: 1, to: 2 })).rejects.toThrow('No route found to host');
  });
});

describe('downloadStreamError', () => {
  it('passes tcb errors on, names a stall, and says a broken stream broke off', () => {
    const api = new ApiError('refused');
    expect(downloadStreamError(api)).toBe(api);
    const reset = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
    const broke = downloadStreamError(reset);
    expect(broke).toBeInstanceOf(TransientError);
    expect(broke).toMatchObject({
      message: 'the log download broke off: read ECONNRESET',
      code: 'network_error',
      hint: 'run the export again; nothing was written and --since-last state was not advanced',
      cause: reset,
    });
    expect(downloadStreamError('gone').message).toBe('the log download broke off: gone');
    expect(downloadStreamError(undefined).message).toBe('the log download broke off: undefined');
  });
});

describe('openDownload, hop by hop', () => {
  let api: TestServer;
  let storage: TestServer;

  beforeAll(async () => {
    api = await testServer();
    storage = await testServer();
  });
  afterAll(async () => {
    await api.close();
    await storage.close();
  });

  const options = (log: string[] = []) => ({
    apiBaseUrl: `${api.url}/base/`,
    token: async () => 'secret-token-123',
    idleTimeoutMs: 5000,
    logger: { debug: (m: string) => log.push(m) },
    retryPolicy: fastRetries,
  });

  const refusal = async (promise: Promise<unknown>): Promise<Error & Record<string, unknown>> =>
    promise.then(
      () => {
        throw new Error('expected the download to fail');
      },
      (e: unknown) => e as Error & Record<string, unknown>,
    );

  it('follows a relative redirect on the API with the token, then one to storage without it; logs no query string', async () => {
    api.seen = [];
    storage.seen = [];
    api.handle = (path, res) => {
      if (path.startsWith('/logs/1')) res.writeHead(301, { Location: '/logs/2?step=2' }).end();
      else res.writeHead(302, { Location: `${storage.url}/signed.csv?sig=secret` }).end();
    };
    storage.handle = (_p, res) => res.writeHead(200, { 'Content-Type': 'text/csv' }).end('a\n');
    const log: string[] = [];
    const download = await openDownload(new URL(`${api.url}/logs/1?x=1`), options(log));
    expect(await readAll(download.body)).toBe('a\n');
    expect(download).toMatchObject({ contentType: 'text/csv', authorizationSent: false });
    expect(api.seen.map((s) => [s.path, s.headers.authorization])).toEqual([
      ['/logs/1?x=1', 'Bearer secret-token-123'],
      ['/logs/2?step=2', 'Bearer secret-token-123'],
    ]);
    expect(storage.seen[0]!.headers.accept).toBe('text/csv, application/json;q=0.9, */*;q=0.5');
    expect(log.filter((l) => l.startsWith('→'))).toEqual([
      `→ GET ${api.url}/logs/1?… (download; bearer token sent: same origin as the API)`,
      `→ GET ${api.url}/logs/2?… (download; bearer token sent: same origin as the API)`,
      `→ GET ${storage.url}/signed.csv?… (download; no bearer token: not the API's origin)`,
    ]);
    expect(log.filter((l) => l.startsWith('←')).map((l) => l.replace(/ \d+ms$/, ''))).toEqual([
      `← 301 GET ${api.url}/logs/1?…`,
      `← 302 GET ${api.url}/logs/2?…`,
      `← 200 GET ${storage.url}/signed.csv?…`,
    ]);
    expect(log.join('\n')).not.toContain('secret');
  });

  it('only a 3xx with a Location is followed', async () => {
    storage.seen = [];
    storage.handle = (path, res) => {
      if (path === '/multiple') res.writeHead(300, { Location: '/chosen' }).end();
      else if (path === '/chosen') res.writeHead(200, { Location: '/ignored' }).end('body');
      else res.writeHead(400, { Location: '/ignored' }).end('{"message":"bad link"}');
    };
    const download = await openDownload(new URL(`${storage.url}/multiple`), options());
    expect(await readAll(download.body)).toBe('body');
    expect(download.url.pathname).toBe('/chosen');
    const error = await refusal(openDownload(new URL(`${storage.url}/bad`), options()));
    expect(error).toMatchObject({ message: `the log download was refused (HTTP 400) at ${storage.url}/bad: bad link`, httpStatus: 400 });
    expect(storage.seen.map((s) => s.path)).toEqual(['/multiple', '/chosen', '/bad']);
  });

  it('the --verbose lines time each hop', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      storage.handle = (_p, res) => res.end('x');
      const log: string[] = [];
      await readAll((await openDownload(new URL(`${storage.url}/f.csv`), options(log))).body);
      // The clock stands still, so the hop took 0 ms.
      expect(log.filter((l) => l.startsWith('←'))).toEqual([`← 200 GET ${storage.url}/f.csv 0ms`]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives up after five redirects (or the number asked for)', async () => {
    storage.seen = [];
    storage.handle = (_p, res) => res.writeHead(302, { Location: '/again' }).end();
    const error = await refusal(openDownload(new URL(`${storage.url}/start`), options()));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.message).toBe('the log download redirected more than 5 times');
    expect(storage.seen).toHaveLength(6);
    storage.seen = [];
    const fewer = await refusal(openDownload(new URL(`${storage.url}/start`), { ...options(), maxRedirects: 1 }));
    expect(fewer.message).toBe('the log download redirected more than 1 times');
    expect(storage.seen).toHaveLength(2);
  });

  it('a 3xx without a Location is a refusal; a body without a type has an empty type', async () => {
    storage.handle = (_p, res) => res.writeHead(300).end();
    const error = await refusal(openDownload(new URL(`${storage.url}/choices`), options()));
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ message: `the log download was refused (HTTP 300) at ${storage.url}/choices`, httpStatus: 300 });
    storage.handle = (_p, res) => {
      res.removeHeader('Content-Type');
      res.writeHead(200).end('x');
    };
    const download = await openDownload(new URL(`${storage.url}/f`), options());
    expect(download.contentType).toBe('');
    expect(await readAll(download.body)).toBe('x');
  });

  it('refusals by the API name the access level; elsewhere they say the link expired', async () => {
    api.handle = (_p, res) => res.writeHead(401, { 'Content-Type': 'application/json' }).end('{"message":"please login again"}');
    const unauthorized = await refusal(openDownload(new URL(`${api.url}/f.csv`), options()));
    expect(unauthorized).toBeInstanceOf(AuthError);
    expect(unauthorized).toMatchObject({
      message: 'the log download was refused (HTTP 401): please login again',
      code: 'unauthorized',
      httpStatus: 401,
      hint: 'the API key needs the access level for these logs; create one under Manage API Keys in the console',
    });
    api.handle = (_p, res) => res.writeHead(403).end();
    const forbidden = await refusal(openDownload(new URL(`${api.url}/f.csv`), options()));
    expect(forbidden).toMatchObject({ message: 'the log download was refused (HTTP 403)', code: 'forbidden', exitCode: 3 });
    storage.handle = (_p, res) => res.writeHead(401).end('Unauthorized');
    const expired = await refusal(openDownload(new URL(`${storage.url}/f.csv?sig=1`), options()));
    expect(expired).toBeInstanceOf(ApiError);
    expect(expired).toMatchObject({
      message: `the log download was refused (HTTP 401) at ${storage.url}/f.csv?…: Unauthorized`,
      httpStatus: 401,
      hint: 'download links expire quickly: run the export again',
    });
  });

  it('a lasting 5xx is retried, then exit 5 naming the status and the link; each retry is logged', async () => {
    storage.seen = [];
    storage.handle = (_p, res) => res.writeHead(502).end('{"message":"upstream down"}');
    const log: string[] = [];
    const error = await refusal(openDownload(new URL(`${storage.url}/f.csv`), options(log)));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({
      message: `the log download failed (HTTP 502) at ${storage.url}/f.csv: upstream down`,
      code: 'download_failed',
      httpStatus: 502,
      hint: 'the download was retried; run the export again later',
    });
    expect(storage.seen).toHaveLength(3);
    expect(log.filter((l) => l.startsWith('  retrying')).map((l) => l.replace(/\d+ms/, 'Nms'))).toEqual([
      '  retrying the download in Nms (attempt 2 of 3)',
      '  retrying the download in Nms (attempt 3 of 3)',
    ]);
  });

  it('408 and 429 are retried too; a Retry-After beyond the limit stops at once', async () => {
    storage.seen = [];
    let calls = 0;
    storage.handle = (_p, res) => {
      calls += 1;
      if (calls === 1) res.writeHead(408).end();
      else if (calls === 2) res.writeHead(429, { 'Retry-After': '0' }).end();
      else res.end('done');
    };
    expect(await readAll((await openDownload(new URL(`${storage.url}/f.csv`), options())).body)).toBe('done');
    expect(storage.seen).toHaveLength(3);
    storage.seen = [];
    storage.handle = (_p, res) => res.writeHead(429, { 'Retry-After': '30' }).end();
    const error = await refusal(openDownload(new URL(`${storage.url}/f.csv`), options()));
    expect(error).toMatchObject({ message: `the log download failed (HTTP 429) at ${storage.url}/f.csv`, httpStatus: 429 });
    expect(storage.seen).toHaveLength(1);
  });

  it('a lasting 5xx from the API itself is transient, not a refusal of access', async () => {
    api.handle = (_p, res) => res.writeHead(503).end();
    const error = await refusal(openDownload(new URL(`${api.url}/f.csv`), { ...options(), retryPolicy: { ...fastRetries, maxRetries: 0 } }));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ message: `the log download failed (HTTP 503) at ${api.url}/f.csv`, code: 'download_failed' });
  });

  it('an error answer whose body breaks off is still mapped by its status', async () => {
    // As fetch does when the connection drops mid-body: the headers came, reading the body fails.
    const broken: typeof fetch = async () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"message":"gone'));
            controller.error(new TypeError('terminated'));
          },
        }),
        { status: 404 },
      );
    const error = await refusal(openDownload(new URL('https://files.example.test/f.csv'), { ...options(), fetch: broken }));
    expect(error).toBeInstanceOf(ApiError);
    expect(error.message).toBe('the log download was refused (HTTP 404) at https://files.example.test/f.csv');
  });

  it('a stalled answer is retried like any GET', async () => {
    storage.seen = [];
    storage.handle = (_p, res) => {
      if (storage.seen.length > 1) res.end('second time');
    };
    const download = await openDownload(new URL(`${storage.url}/f.csv`), { ...options(), idleTimeoutMs: 50 });
    expect(await readAll(download.body)).toBe('second time');
    expect(storage.seen).toHaveLength(2);
  });

  it('a lasting 408 is transient too', async () => {
    storage.handle = (_p, res) => res.writeHead(408).end();
    const error = await refusal(openDownload(new URL(`${storage.url}/f.csv`), { ...options(), retryPolicy: { ...fastRetries, maxRetries: 0 } }));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ message: `the log download failed (HTTP 408) at ${storage.url}/f.csv`, code: 'download_failed' });
  });

  it("the caller's abort also ends the wait between attempts", async () => {
    storage.seen = [];
    storage.handle = (_p, res) => res.writeHead(503).end();
    const controller = new AbortController();
    const slowRetries = { maxRetries: 1, baseDelayMs: 600_000, maxDelayMs: 600_000, maxRetryAfterMs: 1000 };
    // Interrupted just as the ten-minute wait begins (the line is logged right before it).
    const logger = { debug: (m: string) => void (m.startsWith('  retrying') && controller.abort(new Error('interrupted'))) };
    const error = await refusal(
      openDownload(new URL(`${storage.url}/f.csv`), { ...options(), logger, retryPolicy: slowRetries, signal: controller.signal }),
    );
    expect(error.name).toBe('AbortError');
    expect(storage.seen).toHaveLength(1);
  });

  it('a refused connection is retried, then exit 5 naming the code', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    const error = await refusal(openDownload(new URL(`http://127.0.0.1:${port}/f.csv?sig=x`), { ...options(), fetch: counting }));
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({
      message: `the log download from http://127.0.0.1:${port}/f.csv?… failed (ECONNREFUSED)`,
      code: 'network_error',
      hint: 'raise --timeout or run the export again later',
    });
    expect(calls).toBe(3);
  });

  it('a failure without a socket code is named by its message', async () => {
    const broken: typeof fetch = async () => {
      throw new TypeError('invalid header value');
    };
    const error = await refusal(openDownload(new URL(`${storage.url}/f.csv`), { ...options(), retryPolicy: { ...fastRetries, maxRetries: 0 }, fetch: broken }));
    expect(error).toMatchObject({ message: `the log download from ${storage.url}/f.csv failed (invalid header value)`, code: 'network_error' });
  });

  it('no answer within the idle time: a timeout', async () => {
    storage.handle = () => {};
    const error = await refusal(
      openDownload(new URL(`${storage.url}/f.csv`), { ...options(), idleTimeoutMs: 50, retryPolicy: { ...fastRetries, maxRetries: 0 } }),
    );
    expect(error).toBeInstanceOf(TransientError);
    expect(error).toMatchObject({ message: `the log download from ${storage.url}/f.csv timed out (no data for 0 s)`, code: 'timeout' });
  });

  it("the caller's abort is passed on, not retried, before or during the request", async () => {
    const before = new AbortController();
    before.abort(new Error('stopped before'));
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls += 1;
      return fetch(input, init);
    };
    await expect(openDownload(new URL(`${storage.url}/f.csv`), { ...options(), signal: before.signal, fetch: counting })).rejects.toThrow('stopped before');
    storage.seen = [];
    storage.handle = () => {};
    const during = new AbortController();
    const pending = openDownload(new URL(`${storage.url}/f.csv`), { ...options(), signal: during.signal, fetch: counting });
    while (storage.seen.length === 0) await new Promise((resolve) => setImmediate(resolve));
    during.abort(new Error('stopped during'));
    await expect(pending).rejects.toThrow('stopped during');
    expect(calls).toBe(2);
  });
});

describe('the idle clock of a download body', () => {
  const options = {
    apiBaseUrl: 'https://api.example.test',
    token: async () => 'never-sent-here',
    idleTimeoutMs: 1000,
    logger: quietLogger,
    retryPolicy: fastRetries,
  };
  /** Lets the pipeline carry what was enqueued through to the reader. */
  const settle = async () => {
    for (let i = 0; i < 5; i += 1) await new Promise((resolve) => setImmediate(resolve));
  };

  it('each chunk restarts it: a slow but steady body is read whole', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      let source!: ReadableStreamDefaultController<Uint8Array>;
      // Like fetch: the body errors with the signal's reason when the request is aborted.
      const steady: typeof fetch = async (_url, init) => {
        const body = new ReadableStream<Uint8Array>({ start: (controller) => void (source = controller) });
        init!.signal!.addEventListener('abort', () => source.error(init!.signal!.reason));
        return new Response(body, { status: 200, headers: { 'Content-Type': 'text/csv' } });
      };
      const download = await openDownload(new URL('https://files.example.test/f.csv'), { ...options, fetch: steady });
      const text = readAll(download.body);
      for (const part of ['a,', 'b,', 'c\n']) {
        vi.advanceTimersByTime(900);
        source.enqueue(new TextEncoder().encode(part));
        await settle();
      }
      vi.advanceTimersByTime(900);
      source.close();
      expect(await text).toBe('a,b,c\n');
    } finally {
      vi.useRealTimers();
    }
  });

  it('an answer without a body is an empty download', async () => {
    const empty: typeof fetch = async () => new Response(null, { status: 200 });
    const download = await openDownload(new URL('https://files.example.test/f.csv'), { ...options, fetch: empty });
    expect(await readAll(download.body)).toBe('');
  });
});
