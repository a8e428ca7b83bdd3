import { readFile, stat } from 'node:fs/promises';
import type { ApiResponse, HttpMethod, ResponseInfo } from '../../api/client.js';
import { endpointIdFor } from '../../api/endpoints.js';
import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { isJsonContentType, reformatJson } from '../../output/json-text.js';
import { buildBody, parseField, parseHeader, toQuery, type FieldArgument, type ParsedField } from './api-fields.js';

/**
 * `tcb api PATH`: a raw request through the same client as every command (cached token, one
 * renewal after a 401, retries, rate limits of the endpoint it matches, redacted --verbose).
 * Everything the user typed is checked, and every file and stdin read, before anything is sent.
 */
export interface ApiCommandOptions {
  path: string;
  method?: string;
  /** -f and -F in command-line order. */
  fields: FieldArgument[];
  input?: string;
  headers: string[];
  paginate: boolean;
}

export interface PreparedApiRequest {
  method: HttpMethod;
  /** Below the base URL, query string included, placeholders filled. */
  path: string;
  /** The documented endpoint it matches (rate limit, error mapping), or 'raw'. */
  endpoint: string;
  body?: Uint8Array | string;
  headers: Record<string, string>;
}

const METHODS: readonly HttpMethod[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD'];
const ACCOUNT_PLACEHOLDER = /\{(?:client_account_id|clientAccountId)\}/g;

export function parseMethod(value: string | undefined, hasBody: boolean): HttpMethod {
  if (value === undefined) return hasBody ? 'POST' : 'GET';
  const method = value.trim().toUpperCase();
  if (!(METHODS as readonly string[]).includes(method)) {
    throw new UsageError(`--method "${value}" is not one of ${METHODS.join(', ')}`, { field: 'method' });
  }
  return method as HttpMethod;
}

/**
 * PATH relative to the base URL; a full URL only when it lies below the base URL, because the
 * token must never go to another host.
 */
export function relativePath(path: string, baseUrl: string): string {
  const trimmed = path.trim();
  if (trimmed === '') throw new UsageError('PATH is empty; give a path below the base URL, e.g. /clients/{client_account_id}/labels');
  if (/^[a-z][a-z0-9+.-]*:/i.test(trimmed)) {
    const base = baseUrl.replace(/\/+$/, '');
    if (trimmed === base) return '/';
    if (trimmed.startsWith(`${base}/`) || trimmed.startsWith(`${base}?`)) {
      const rest = trimmed.slice(base.length);
      return rest.startsWith('?') ? `/${rest}` : rest;
    }
    throw new UsageError(`PATH ${trimmed} is not below the base URL ${base}; tcb sends its token only there`, {
      hint: 'give a path such as /clients/{client_account_id}/labels, or change --base-url',
    });
  }
  return trimmed.startsWith('/') ? trimmed : `/${trimmed}`;
}

/** Fills {client_account_id} (or {clientAccountId}); any other {placeholder} is an error. */
export function fillPlaceholders(path: string, accountId: () => string): string {
  // The callback runs only when the placeholder is there: a path without it needs no credentials.
  const filled = path.replace(ACCOUNT_PLACEHOLDER, () => encodeURIComponent(accountId()));
  const left = /\{[^}/]*\}/.exec(filled);
  if (left) {
    throw new UsageError(`PATH has ${left[0]}; tcb fills in only {client_account_id}: put the value in the path`, { field: 'path' });
  }
  return filled;
}

export function appendQuery(path: string, pairs: Array<[string, string]>): string {
  if (pairs.length === 0) return path;
  const question = path.indexOf('?');
  const search = new URLSearchParams(question < 0 ? '' : path.slice(question + 1));
  for (const [key, value] of pairs) search.append(key, value);
  return `${question < 0 ? path : path.slice(0, question)}?${search.toString()}`;
}

function fileProblem(error: unknown, what: string, file: string): UsageError {
  const code = (error as NodeJS.ErrnoException).code;
  const reason =
    code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory' : code === 'EACCES' ? 'permission denied' : (error as Error).message;
  return new UsageError(`${what}: cannot read ${file}: ${reason}`, { cause: error });
}

async function readBytes(file: string, what: string, stdin: () => Promise<Buffer>): Promise<Buffer> {
  if (file === '-') return stdin();
  try {
    if ((await stat(file)).isDirectory()) throw Object.assign(new Error('is a directory'), { code: 'EISDIR' });
    return await readFile(file);
  } catch (error) {
    throw fileProblem(error, what, file);
  }
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks);
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

export async function prepareApiRequest(
  ctx: CommandContext,
  options: ApiCommandOptions,
  stdin: NodeJS.ReadableStream = process.stdin,
): Promise<PreparedApiRequest> {
  const headers: Record<string, string> = {};
  for (const text of options.headers) {
    const [name, value] = parseHeader(text);
    headers[name] = value;
  }

  const stdinUsers = [
    ...(options.input === '-' ? ['--input -'] : []),
    ...options.fields.filter((field) => field.flag === '-F' && /^[^=]*=@-$/.test(field.text)).map((field) => `-F ${field.text}`),
  ];
  if (stdinUsers.length > 1) throw new UsageError(`stdin can be read once, but ${stdinUsers.join(' and ')} both ask for it`);
  let stdinBytes: Promise<Buffer> | undefined;
  const readStdin = () => (stdinBytes ??= readAll(stdin));

  // @file values are read up front, so the field parser stays synchronous.
  const fileTexts = new Map<string, string>();
  for (const field of options.fields) {
    const match = field.flag === '-F' ? /^[^=]*=@(.*)$/s.exec(field.text) : null;
    if (!match || fileTexts.has(match[1]!)) continue;
    const source = match[1]!;
    const where = `-F ${field.text}`;
    if (source === '') throw new UsageError(`${where}: name a file after @ (or @- for stdin)`, { field: 'field' });
    const bytes = await readBytes(source, where, readStdin);
    try {
      fileTexts.set(source, strictUtf8.decode(bytes));
    } catch {
      throw new UsageError(`${where}: ${source === '-' ? 'stdin' : source} is not UTF-8 text; send binary data with --input`, { field: 'field' });
    }
  }
  const parsed: ParsedField[] = options.fields.map((field) => parseField(field, (source) => fileTexts.get(source)!));

  const body = options.input === undefined ? undefined : await readBytes(options.input, '--input', readStdin);
  // With --paginate, fields are query parameters of the GETs.
  const method = parseMethod(options.method, body !== undefined || (parsed.length > 0 && !options.paginate));
  const bodiless = method === 'GET' || method === 'HEAD';
  if (body !== undefined && bodiless) {
    throw new UsageError(`--input sends a body, which a ${method} request cannot carry; add --method POST`, { field: 'input' });
  }
  if (options.paginate && method !== 'GET') {
    throw new UsageError(`--paginate follows the pages of a list with GET requests; it cannot be used with ${body !== undefined ? '--input' : `--method ${method}`}`);
  }

  let path = relativePath(options.path, ctx.settings.baseUrl);
  path = fillPlaceholders(path, () => ctx.credentials().clientAccountId);
  let requestBody: Uint8Array | string | undefined = body;
  if (bodiless || body !== undefined) path = appendQuery(path, toQuery(parsed));
  else if (parsed.length > 0) requestBody = JSON.stringify(buildBody(parsed));

  const pathname = new URL(path, 'http://path.invalid').pathname;
  return { method, path, endpoint: endpointIdFor(method, pathname), body: requestBody, headers };
}

export function sendApiRequest(
  ctx: CommandContext,
  request: PreparedApiRequest,
  onResponse?: (info: ResponseInfo) => void,
  query?: Record<string, string | number>,
): Promise<ApiResponse<unknown>> {
  return ctx.api().request<unknown>({
    endpoint: request.endpoint,
    method: request.method,
    path: request.path,
    query,
    body: request.body,
    headers: request.headers,
    raw: true,
    keepErrorBody: true,
    logHeaders: true,
    onResponse,
  });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Where list endpoints keep their items when more than one array sits at the top level. */
const ITEM_FIELDS = ['data', 'items', 'results', 'records', 'labels', 'feature_sets', 'numbers'];

/**
 * The items of one page and, when the envelope says, the page count: a bare array (labels), or
 * the one array at the top level of an object (feature_sets, numbers) next to pagination_info /
 * pagination_information. undefined when the body is not a list.
 */
export function listOf(body: unknown): { items: unknown[]; totalPages?: number } | undefined {
  if (Array.isArray(body)) return { items: body };
  if (!isRecord(body)) return undefined;
  const arrays = Object.entries(body).filter((entry): entry is [string, unknown[]] => Array.isArray(entry[1]));
  const chosen = arrays.length === 1 ? arrays[0] : arrays.find(([key]) => ITEM_FIELDS.includes(key));
  if (!chosen) return undefined;
  const info = [body.pagination_info, body.pagination_information, body.paginationInfo, body.pagination].find(isRecord);
  const total = info?.total_page_count ?? info?.totalPageCount;
  return { items: chosen[1], totalPages: typeof total === 'number' && Number.isFinite(total) ? total : undefined };
}

export type PageResult =
  | { kind: 'items'; items: unknown[] }
  /** The first answer is not a list: handed back whole, and paging stops. */
  | { kind: 'not-a-list'; response: ApiResponse<unknown> };

function positiveInt(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  const number = Number(value);
  return number >= 1 && Number.isSafeInteger(number) ? number : undefined;
}

/**
 * --paginate: page = the path's page (default 1), 2, 3 … until the page count when the envelope
 * gives one, else an empty page or one shorter than the limit (the path's `limit`, else the first
 * page's length), or a page equal to the one before (a server that ignores `page`).
 */
export async function* paginateApiRequest(
  ctx: CommandContext,
  request: PreparedApiRequest,
  onResponse?: (info: ResponseInfo) => void,
): AsyncGenerator<PageResult> {
  const search = new URL(request.path, 'http://path.invalid').searchParams;
  const start = positiveInt(search.get('page')) ?? 1;
  let pageSize = positiveInt(search.get('limit'));
  let previous: string | undefined;
  for (let page = start; ; page += 1) {
    const response = await sendApiRequest(ctx, request, onResponse, { page });
    const list = listOf(response.body);
    if (!list) {
      if (page === start) yield { kind: 'not-a-list', response };
      else ctx.output.warn(`page ${page} is not a list; stopped there`);
      return;
    }
    const fingerprint = list.items.length > 0 ? JSON.stringify(list.items) : undefined;
    if (fingerprint !== undefined && fingerprint === previous) return;
    previous = fingerprint;
    if (list.items.length > 0) yield { kind: 'items', items: list.items };
    if (list.items.length === 0) return;
    if (list.totalPages !== undefined) {
      if (page >= list.totalPages) return;
    } else if (pageSize !== undefined && list.items.length < pageSize) {
      return;
    }
    pageSize ??= list.items.length;
  }
}

/**
 * A response body for stdout: JSON re-indented (2 spaces when pretty, else compact) with every
 * literal kept as sent; anything else byte for byte. A JSON body gets a final newline.
 */
export function renderBody(response: Pick<ApiResponse<unknown>, 'bytes' | 'headers'>, pretty: boolean): string | Uint8Array {
  const bytes = response.bytes ?? new Uint8Array();
  if (bytes.length === 0) return '';
  const contentType = response.headers.get('content-type');
  if (isJsonContentType(contentType) || !contentType) {
    let text: string | undefined;
    try {
      text = strictUtf8.decode(bytes);
      JSON.parse(text);
    } catch {
      text = undefined;
    }
    if (text !== undefined) return `${reformatJson(text, pretty ? 2 : 0)}\n`;
  }
  return bytes;
}

/** --include: the status line and headers, as curl -i shows them. */
export function formatResponseHead(info: ResponseInfo): string {
  let text = `HTTP/1.1 ${info.status}${info.statusText ? ` ${info.statusText}` : ''}\n`;
  for (const [name, value] of info.headers) text += `${name}: ${value}\n`;
  return `${text}\n`;
}
