import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'csv-parse/sync';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/server.js';
import {
  CMB_LOG_COLUMNS,
  NO_CMB_FOUND,
  SANDBOX_SURVEYS,
  cmbLogEvents,
  configureLogs,
  feedbackLogEvents,
  serveLogDownloadsFrom,
} from '../../src/sandbox/routes/logs.js';

let api: SandboxHandle;
let storage: SandboxHandle;
let token: string;
const DAY = 86_400_000;

async function tokenFor(handle: SandboxHandle, keyId: string, apiKey: string): Promise<string> {
  const response = await fetch(`${handle.url}/clients/${handle.credentials.clientAccountId}/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Public-Access': 'allow' },
    body: JSON.stringify({ key_id: keyId, api_key: apiKey }),
  });
  return ((await response.json()) as { token: string }).token;
}

async function get(path: string, bearer = token): Promise<{ status: number; body: any }> {
  const response = await fetch(`${api.url}${path}`, { headers: { Authorization: `Bearer ${bearer}` } });
  const text = await response.text();
  return { status: response.status, body: text.startsWith('{') ? JSON.parse(text) : text };
}

const cmbPath = (query: string) => `/clients/${api.credentials.clientAccountId}/openapi/callback-logs/summary?${query}`;
const feedbackPath = (survey: string, query: string) =>
  `/clients/${api.credentials.clientAccountId}/openapi/feedback_stack/${survey}/export_report?${query}`;

beforeAll(async () => {
  api = await startSandbox({ port: 0 });
  storage = await startSandbox({ port: 0 });
  token = await tokenFor(api, api.credentials.keyId, api.credentials.apiKey);
});
afterAll(async () => {
  await api.close();
  await storage.close();
});

describe('sandbox cmb-logs-v1', () => {
  it('validates from and to like the documented slug errors', async () => {
    expect((await get(cmbPath('to=1'))).body).toEqual({ slug: 'invalid-input', message: 'from is required' });
    expect((await get(cmbPath('from=abc&to=1'))).status).toBe(400);
    expect((await get(cmbPath(`from=${Date.now()}&to=${Date.now() - DAY}`))).status).toBe(400);
  });

  it('seeds about 30 days of requests and serves a range as a CSV link (both ends inclusive)', async () => {
    const events = cmbLogEvents(api.state);
    const now = Date.now();
    expect(events.length).toBeGreaterThan(100);
    expect(Math.min(...events.map((e) => e.requestedAt))).toBeGreaterThan(now - 31 * DAY);
    const from = events[10]!.requestedAt;
    const to = events[19]!.requestedAt;
    const answer = await get(cmbPath(`from=${from}&to=${to}`));
    expect(answer.status).toBe(200);
    expect(answer.body.download_url).toMatch(new RegExp(`^${api.url}/downloads/logs/`));
    const download = await fetch(answer.body.download_url);
    expect(download.headers.get('content-type')).toMatch(/text\/csv/);
    const rows = parse(await download.text(), { columns: true }) as Record<string, string>[];
    expect(Object.keys(rows[0]!)).toEqual([...CMB_LOG_COLUMNS]);
    expect(rows.map((r) => r.request_id)).toEqual(events.slice(10, 20).map((e) => e.id));
  });

  it('reads a 10-digit time as seconds (one doc version) and counts which unit came', async () => {
    const events = cmbLogEvents(api.state);
    const before = api.counters().extra.logQueriesInSeconds ?? 0;
    const from = Math.floor(events[0]!.requestedAt / 1000);
    const answer = await get(cmbPath(`from=${from}&to=${from + 7 * 86_400}`));
    expect(answer.status).toBe(200);
    expect(api.counters().extra.logQueriesInSeconds).toBe(before + 2);
  });

  it('answers the documented "No CMB found" body for an empty range, with a configurable status', async () => {
    const future = Date.now() + DAY;
    expect(await get(cmbPath(`from=${future}&to=${future + 1000}`))).toEqual({ status: 200, body: NO_CMB_FOUND });
    configureLogs(api.state, { noDataStatus: 404 });
    expect((await get(cmbPath(`from=${future}&to=${future + 1000}`))).status).toBe(404);
    configureLogs(api.state, { noDataStatus: 200 });
  });

  it('can answer with the CSV itself instead of a link', async () => {
    configureLogs(api.state, { answer: 'inline-csv' });
    const events = cmbLogEvents(api.state);
    const answer = await get(cmbPath(`from=${events[0]!.requestedAt}&to=${events[0]!.requestedAt}`));
    configureLogs(api.state, { answer: 'url' });
    expect(typeof answer.body).toBe('string');
    expect((parse(answer.body, { columns: true }) as unknown[]).length).toBe(1);
  });

  it('needs the Call Me Back access level', async () => {
    api.state.apiKeys.push({
      keyId: 'no-cmb-key',
      apiKey: 'no-cmb-secret',
      clientAccountId: api.credentials.clientAccountId,
      name: 'labels only',
      access: new Set(['labels']),
    });
    const limited = await tokenFor(api, 'no-cmb-key', 'no-cmb-secret');
    const answer = await get(cmbPath(`from=1&to=2`), limited);
    expect(answer).toEqual({ status: 403, body: { slug: 'forbidden-error', message: 'not authorized. please contact your admin.' } });
  });

  it('serves downloads from a second sandbox when told to, counting Authorization headers there', async () => {
    serveLogDownloadsFrom(api, storage);
    const events = cmbLogEvents(api.state);
    const answer = await get(cmbPath(`from=${events[0]!.requestedAt}&to=${events[5]!.requestedAt}`));
    configureLogs(api.state, { downloadHost: undefined });
    expect(answer.body.download_url.startsWith(`${storage.url}/`)).toBe(true);
    await fetch(answer.body.download_url);
    await fetch(answer.body.download_url, { headers: { Authorization: 'Bearer leaked' } });
    expect(storage.counters().extra.logDownloads).toBe(2);
    expect(storage.counters().extra.logDownloadsWithAuthorization).toBe(1);
    // An unknown link is a 404, not a file.
    expect((await fetch(`${storage.url}/downloads/logs/deadbeef/callback-logs.csv`)).status).toBe(404);
  });
});

describe('sandbox user-feedback-logs-v1', () => {
  const survey = SANDBOX_SURVEYS[1]!;

  it('validates the survey id and from_date', async () => {
    expect((await get(feedbackPath('not-a-uuid', 'from_date=1'))).status).toBe(400);
    expect((await get(feedbackPath(survey.id, ''))).body).toEqual({ slug: 'invalid-input', message: 'from_date is required' });
    expect((await get(feedbackPath('00000000-0000-4000-8000-000000000000', 'from_date=1'))).status).toBe(404);
  });

  it('serves one row per question/response from from_date on, the link under data', async () => {
    const events = feedbackLogEvents(api.state).filter((e) => e.surveyId === survey.id);
    const from = events[events.length - 5]!.requestedAt;
    const answer = await get(feedbackPath(survey.id, `from_date=${from}`));
    expect(answer.body.data.report_url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/downloads\/logs\//);
    const rows = parse(await (await fetch(answer.body.data.report_url)).text(), { columns: true }) as Record<string, string>[];
    expect(rows).toHaveLength(5 * survey.questions.length);
    expect(new Set(rows.map((r) => r.question))).toEqual(new Set(survey.questions.map((q) => q.question)));
  });

  it('answers "No CMB found" (the docs copy the CMB body) when nothing is newer', async () => {
    expect((await get(feedbackPath(survey.id, `from_date=${Date.now() + DAY}`))).body).toEqual(NO_CMB_FOUND);
  });
});
