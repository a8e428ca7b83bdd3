// cmb-logs-v1 and user-feedback-logs-v1: the deprecated log downloads (API reference §7.4, §7.5).
//
// The docs only say that the answer is "a URL through which the logs can be downloaded" (field
// name undocumented) or {"message":"No CMB found for client Id"} (status undocumented). The
// sandbox answers the URL in two different shapes (top level for CMB, under `data` for user
// feedback) so clients cannot depend on one field name, and serves the CSV from a loopback
// download route that needs no Authorization header — like a pre-signed storage URL. Tests can
// move the downloads to a second sandbox (serveLogDownloadsFrom) to check that a client does not
// send the API's bearer token to another host; every download is counted, and so is every
// download that carried an Authorization header.
import { randomBytes } from 'node:crypto';
import { stringify } from 'csv-stringify/sync';
import type { RouteContext, RouteDefinition, RouteResponse } from '../types.js';
import type { SandboxState } from '../state.js';
import { moduleState } from '../state.js';
import { SandboxHttpError, slugResponse } from '../errors.js';

/** The documented "nothing found" body (examples/cmb-logs-v1.response.no-cmb-found.json), used by both endpoints. */
export const NO_CMB_FOUND = { message: 'No CMB found for client Id' } as const;

export const DOWNLOAD_PATH_PREFIX = '/downloads/logs';
/** Links stop working after this long, like a pre-signed URL. */
export const DOWNLOAD_TTL_MS = 15 * 60_000;
const SEED_DAYS = 30;

/** Columns of the CSV files the sandbox serves (the real files' columns are undocumented). */
export const CMB_LOG_COLUMNS = [
  'request_id',
  'requested_at',
  'business_number',
  'feature_set',
  'client_number',
  'requested_date',
  'requested_slot',
  'preferred_from_time',
  'preferred_to_time',
  'is_interested',
  'alternate_number',
  'cmb_config_name',
] as const;

export const FEEDBACK_LOG_COLUMNS = [
  'response_id',
  'requested_at',
  'survey_name',
  'business_number',
  'feature_set',
  'client_number',
  'question',
  'response',
] as const;

export interface CmbLogEvent {
  id: string;
  /** Epoch ms (whole seconds). */
  requestedAt: number;
  businessNumber: string;
  featureSet: string;
  clientNumber: string;
  requestedDate: string;
  requestedSlot: string;
  preferredFrom: number | null;
  preferredTo: number | null;
  isInterested: boolean;
  alternateNumber: string;
  cmbConfigName: string;
}

export interface FeedbackLogEvent {
  id: string;
  surveyId: string;
  /** Epoch ms (whole seconds). */
  requestedAt: number;
  businessNumber: string;
  featureSet: string;
  clientNumber: string;
  responses: { question: string; response: string }[];
}

export interface SandboxSurvey {
  id: string;
  name: string;
  featureSet: string;
  questions: { question: string; answers: string[] }[];
}

/** The seeded surveys (ids are fixed so docs and tests can name them). */
export const SANDBOX_SURVEYS: readonly SandboxSurvey[] = [
  {
    id: '4f1d2c3b-6a5e-4d7c-9b8a-1e2f3a4b5c6d',
    name: 'Flower Quality Check',
    featureSet: 'Delivery Updates',
    questions: [
      { question: 'How was the delivery experience?', answers: ['1', '2', '3', '4', '5'] },
      { question: 'Flower Quality?', answers: ['Good', 'Average', 'Poor'] },
    ],
  },
  {
    id: '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d',
    name: 'Support Call Follow-up',
    featureSet: 'Support Callbacks',
    questions: [
      { question: 'Was your issue resolved?', answers: ['Yes', 'No'] },
      { question: 'How likely are you to recommend us?', answers: ['0', '5', '7', '8', '9', '10'] },
      // A free-text answer that would be a formula in a spreadsheet: exports must guard it.
      { question: 'Anything else?', answers: ['', 'Quick and polite', '=HYPERLINK("http://example.com")', 'Call me later, please'] },
    ],
  },
];

export interface LogsConfig {
  /** Status of the "No CMB found" answer (the docs do not say; default 200). */
  noDataStatus: number;
  /** 'url' (default): answer a download link; 'inline-csv': answer the CSV itself. */
  answer: 'url' | 'inline-csv';
  /** Serve downloads from another sandbox (a different host:port) instead of this one. */
  downloadHost?: { url: string; state: SandboxState };
  /** Tests: every download answers this instead of the CSV (a JSON file, a broken file …). */
  downloadOverride?: { contentType: string; body: string };
}

interface StoredFile {
  body: string;
  expiresAt: number;
  name: string;
}

interface LogsState {
  anchor: number;
  cmb: CmbLogEvent[];
  feedback: FeedbackLogEvent[];
  config: LogsConfig;
  /** Files this sandbox serves (possibly on behalf of another sandbox's API). */
  files: Map<string, StoredFile>;
}

/** A small deterministic PRNG so every sandbox seeds the same shape of data. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function uuidFrom(random: () => number): string {
  const hex = Array.from({ length: 32 }, () => Math.floor(random() * 16).toString(16)).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${'89ab'[Math.floor(random() * 4)]}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
}

const WEEKDAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

function businessNumbers(state: SandboxState, featureSet: string): string[] {
  const numbers = state.numbers.filter((n) => n.feature_set_name === featureSet).map((n) => n.phone_number);
  return numbers.length > 0 ? numbers : ['910987654321'];
}

function seedCmb(state: SandboxState, anchor: number): CmbLogEvent[] {
  const random = prng(20250801);
  const featureSets = state.featureSets.filter((fs) => fs.call_me_back).map((fs) => fs.name);
  if (featureSets.length === 0) featureSets.push('Fresh Flower Delivery');
  const events: CmbLogEvent[] = [];
  const start = anchor - SEED_DAYS * 86_400_000;
  // About one request every 3 hours, at whole seconds, over the last 30 days.
  for (let t = start + 3_600_000; t < anchor; t += Math.round(1_800_000 + random() * 18_000_000)) {
    const at = Math.floor(t / 1000) * 1000;
    const featureSet = featureSets[Math.floor(random() * featureSets.length)]!;
    const numbers = businessNumbers(state, featureSet);
    const scenario = random();
    const notInterested = scenario < 0.15;
    const simUnavailable = !notInterested && scenario < 0.25;
    const slotDay = at + Math.ceil(random() * 3) * 86_400_000;
    const slotStart = Math.floor(slotDay / 1_800_000) * 1_800_000;
    const client = `91${String(7_000_000_000 + Math.floor(random() * 2_999_999_999))}`;
    events.push({
      id: uuidFrom(random),
      requestedAt: at,
      businessNumber: numbers[Math.floor(random() * numbers.length)]!,
      featureSet,
      clientNumber: simUnavailable ? 'Phone number not available' : client,
      requestedDate: notInterested ? 'NA' : new Date(slotDay).toISOString().slice(0, 10),
      requestedSlot: notInterested ? 'NA' : WEEKDAYS[new Date(slotDay).getUTCDay()]!,
      preferredFrom: notInterested ? null : slotStart,
      preferredTo: notInterested ? null : slotStart + 1_800_000,
      isInterested: !notInterested,
      alternateNumber: simUnavailable ? `91${String(8_000_000_000 + Math.floor(random() * 999_999_999))}` : '',
      cmbConfigName: 'CMBName',
    });
  }
  return events;
}

function seedFeedback(state: SandboxState, anchor: number): FeedbackLogEvent[] {
  const random = prng(7719451);
  const events: FeedbackLogEvent[] = [];
  const start = anchor - SEED_DAYS * 86_400_000;
  for (const survey of SANDBOX_SURVEYS) {
    const numbers = businessNumbers(state, survey.featureSet).map((n) => `+${n}`);
    for (let t = start + 5_400_000; t < anchor; t += Math.round(3_600_000 + random() * 25_200_000)) {
      const at = Math.floor(t / 1000) * 1000;
      events.push({
        id: uuidFrom(random),
        surveyId: survey.id,
        requestedAt: at,
        businessNumber: numbers[Math.floor(random() * numbers.length)]!,
        featureSet: survey.featureSet,
        clientNumber: random() < 0.1 ? 'Phone number not available' : `91${String(7_000_000_000 + Math.floor(random() * 2_999_999_999))}`,
        responses: survey.questions.map((q) => ({ question: q.question, response: q.answers[Math.floor(random() * q.answers.length)]! })),
      });
    }
  }
  return events.sort((a, b) => a.requestedAt - b.requestedAt);
}

function logsState(state: SandboxState): LogsState {
  return moduleState<LogsState>(state, 'logs', () => {
    const anchor = Math.floor(Date.now() / 1000) * 1000;
    return {
      anchor,
      cmb: seedCmb(state, anchor),
      feedback: seedFeedback(state, anchor),
      config: { noDataStatus: 200, answer: 'url' },
      files: new Map(),
    };
  });
}

/** The seeded (and test-added) Call Me Back events; the array may be changed by tests. */
export function cmbLogEvents(state: SandboxState): CmbLogEvent[] {
  return logsState(state).cmb;
}

/** The seeded (and test-added) User Feedback responses; the array may be changed by tests. */
export function feedbackLogEvents(state: SandboxState): FeedbackLogEvent[] {
  return logsState(state).feedback;
}

/** Changes how the log endpoints answer (tests and demos). */
export function configureLogs(state: SandboxState, patch: Partial<LogsConfig>): LogsConfig {
  const logs = logsState(state);
  logs.config = { ...logs.config, ...patch };
  return logs.config;
}

/**
 * Makes `api`'s log endpoints hand out links served by `host` (another sandbox, so another
 * port: another origin). Its counters record the downloads and those carrying Authorization.
 */
export function serveLogDownloadsFrom(api: { state: SandboxState }, host: { url: string; state: SandboxState }): void {
  configureLogs(api.state, { downloadHost: { url: host.url, state: host.state } });
}

/** CMB rows as the sandbox's CSV shows them (times as ISO-8601 UTC, seconds precision). */
export function cmbCsvRow(event: CmbLogEvent): Record<(typeof CMB_LOG_COLUMNS)[number], string> {
  const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().replace('.000Z', 'Z'));
  return {
    request_id: event.id,
    requested_at: iso(event.requestedAt),
    business_number: event.businessNumber,
    feature_set: event.featureSet,
    client_number: event.clientNumber,
    requested_date: event.requestedDate,
    requested_slot: event.requestedSlot,
    preferred_from_time: iso(event.preferredFrom),
    preferred_to_time: iso(event.preferredTo),
    is_interested: String(event.isInterested),
    alternate_number: event.alternateNumber,
    cmb_config_name: event.cmbConfigName,
  };
}

/** One row per question/response pair. */
export function feedbackCsvRows(event: FeedbackLogEvent): Record<(typeof FEEDBACK_LOG_COLUMNS)[number], string>[] {
  const survey = SANDBOX_SURVEYS.find((s) => s.id === event.surveyId);
  return event.responses.map((r) => ({
    response_id: event.id,
    requested_at: new Date(event.requestedAt).toISOString().replace('.000Z', 'Z'),
    survey_name: survey?.name ?? '',
    business_number: event.businessNumber,
    feature_set: event.featureSet,
    client_number: event.clientNumber,
    question: r.question,
    response: r.response,
  }));
}

function toCsv(columns: readonly string[], rows: readonly Record<string, string>[]): string {
  // RFC 4180 quoting of CR, LF, commas and quotes (csv-stringify alone quotes only its delimiter).
  return stringify([columns, ...rows.map((row) => columns.map((c) => row[c] ?? ''))], {
    record_delimiter: '\r\n',
    quoted_match: /[,"\r\n]/,
  });
}

/**
 * A time query parameter. The docs say milliseconds; one version shows a 10-digit (seconds)
 * example, so small values are read as seconds and counted, letting tests see which unit came.
 */
function timeParam(ctx: RouteContext, name: string): number {
  const raw = ctx.query.get(name);
  if (raw === null || raw.trim() === '') throw SandboxHttpError.invalidInput(`${name} is required`);
  const text = raw.trim();
  if (!/^\d{1,16}$/.test(text)) throw SandboxHttpError.invalidInput(`${name} must be an epoch time in milliseconds`);
  const value = Number(text);
  if (value < 100_000_000_000) {
    ctx.bump('logQueriesInSeconds');
    return value * 1000;
  }
  ctx.bump('logQueriesInMilliseconds');
  return value;
}

function publish(ctx: RouteContext, logs: LogsState, name: string, body: string): { url: string; expiresAt: string } {
  const host = logs.config.downloadHost ?? { url: ctx.baseUrl, state: ctx.state };
  const files = logsState(host.state).files;
  for (const [id, file] of files) if (file.expiresAt <= ctx.now) files.delete(id);
  const id = randomBytes(16).toString('hex');
  const expiresAt = ctx.now + DOWNLOAD_TTL_MS;
  files.set(id, { body, expiresAt, name });
  // The random path segment plays the part of a pre-signed URL's signature.
  return { url: `${host.url}${DOWNLOAD_PATH_PREFIX}/${id}/${name}`, expiresAt: new Date(expiresAt).toISOString() };
}

function answer(ctx: RouteContext, logs: LogsState, name: string, csv: string, shape: 'top' | 'data'): RouteResponse {
  if (logs.config.answer === 'inline-csv') {
    return { status: 200, raw: csv, contentType: 'text/csv; charset=utf-8' };
  }
  const link = publish(ctx, logs, name, csv);
  ctx.bump('logLinksIssued');
  return shape === 'top'
    ? { status: 200, json: { download_url: link.url, expires_at: link.expiresAt } }
    : { status: 200, json: { data: { report_url: link.url, expires_at: link.expiresAt } } };
}

function noneFound(ctx: RouteContext, logs: LogsState): RouteResponse {
  ctx.bump('logEmptyAnswers');
  return { status: logs.config.noDataStatus, json: { ...NO_CMB_FOUND } };
}

function cmbLogs(ctx: RouteContext): RouteResponse {
  const from = timeParam(ctx, 'from');
  const to = timeParam(ctx, 'to');
  if (from > to) throw SandboxHttpError.invalidInput('from must not be after to');
  const logs = logsState(ctx.state);
  // Both ends inclusive: a client must cope with a record at the boundary of two ranges.
  const events = logs.cmb.filter((e) => e.requestedAt >= from && e.requestedAt <= to).sort((a, b) => a.requestedAt - b.requestedAt);
  if (events.length === 0) return noneFound(ctx, logs);
  ctx.bump('cmbRecordsServed', events.length);
  return answer(ctx, logs, 'callback-logs.csv', toCsv(CMB_LOG_COLUMNS, events.map(cmbCsvRow)), 'top');
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function feedbackLogs(ctx: RouteContext): RouteResponse {
  const surveyId = ctx.params.surveyId ?? '';
  if (!UUID.test(surveyId)) throw SandboxHttpError.invalidInput('surveyId must be a UUID');
  const fromDate = timeParam(ctx, 'from_date');
  const logs = logsState(ctx.state);
  if (!SANDBOX_SURVEYS.some((s) => s.id === surveyId.toLowerCase())) {
    return slugResponse(404, 'not-found', 'survey not found');
  }
  // Only a start is documented: everything from from_date on.
  const events = logs.feedback.filter((e) => e.surveyId === surveyId.toLowerCase() && e.requestedAt >= fromDate);
  if (events.length === 0) return noneFound(ctx, logs);
  const rows = events.flatMap(feedbackCsvRows);
  ctx.bump('feedbackRecordsServed', rows.length);
  return answer(ctx, logs, 'feedback-report.csv', toCsv(FEEDBACK_LOG_COLUMNS, rows), 'data');
}

function download(ctx: RouteContext): RouteResponse {
  ctx.bump('logDownloads');
  if (ctx.headers.authorization !== undefined) ctx.bump('logDownloadsWithAuthorization');
  const file = logsState(ctx.state).files.get(ctx.params.fileId ?? '');
  if (!file || file.expiresAt <= ctx.now || file.name !== ctx.params.name) {
    return slugResponse(404, 'not-found', 'download link not found or expired');
  }
  const override = logsState(ctx.state).config.downloadOverride;
  return {
    status: 200,
    raw: override?.body ?? file.body,
    contentType: override?.contentType ?? 'text/csv; charset=utf-8',
    headers: { 'Content-Disposition': `attachment; filename="${file.name}"` },
  };
}

export const logRoutes: RouteDefinition[] = [
  {
    id: 'cmb-logs-v1',
    method: 'GET',
    path: '/clients/:clientAccountId/openapi/callback-logs/summary',
    access: 'call-me-back',
    handler: cmbLogs,
  },
  {
    id: 'user-feedback-logs-v1',
    method: 'GET',
    path: '/clients/:clientAccountId/openapi/feedback_stack/:surveyId/export_report',
    access: 'user-feedback',
    handler: feedbackLogs,
  },
  {
    // Not an API endpoint: the storage a download link points at. No auth, like a pre-signed URL.
    id: 'logs-download',
    method: 'GET',
    path: `${DOWNLOAD_PATH_PREFIX}/:fileId/:name`,
    auth: 'none',
    handler: download,
  },
];
