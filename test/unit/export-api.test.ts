import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeDownloadUrl,
  downloadStreamError,
  interpretLogAnswer,
  isNothingFoundMessage,
  isSameOrigin,
  openDownload,
} from '../../src/api/logs.js';
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
    expect(mapped).toMatchObject({ code: 'timeout', message: 'the log download stalled (no data for 0 s)' });
  });
});
