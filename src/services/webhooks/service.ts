import { deliverWebhook, type WebhookDelivery } from '../../api/webhook-sender.js';
import type { CommandContext } from '../../context.js';
import { ApiError, TransientError, UsageError } from '../../errors.js';
import { redactor, redactUrl } from '../../output/redact.js';
import { onInterrupt } from '../../util/interrupt.js';
import { DEFAULT_EXAMPLE, WEBHOOK_EXAMPLES, freshExample, type WebhookExampleName } from './examples.js';
import type { BlockList } from 'node:net';
import type { Settings } from '../../config/settings.js';
import {
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_BODY_BYTES,
  DEFAULT_REQUEST_TIMEOUT_MS,
  parseTrustedProxies,
  startWebhookListener,
  type ListenerHandle,
  type ListenerStats,
} from './listener.js';
import type { LogFormat } from './log.js';
import type { StoreLocation } from './store-location.js';
import { openEventSink, resolveStoreLocation } from './stores.js';
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from './types.js';

export const WEBHOOK_KEY_ENV = 'TCB_WEBHOOK_KEY';
const URL_SAFE = /^[A-Za-z0-9._~-]+$/;

function integerOption(value: unknown, flag: string, min: number, max: number): number {
  const text = String(value ?? '').trim();
  if (!/^\d+$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max} (got "${text}")`, { field: flag });
  }
  return Number(text);
}

/** Seconds (decimals allowed) → ms. */
function secondsOption(value: unknown, flag: string, min: number, max: number): number {
  const text = String(value ?? '').trim();
  if (!/^\d+(\.\d+)?$/.test(text) || Number(text) < min || Number(text) > max) {
    throw new UsageError(`${flag} must be a number of seconds from ${min} to ${max} (got "${text}")`, { field: flag });
  }
  return Math.round(Number(text) * 1000);
}

export interface ListenOptions {
  port: number;
  host: string;
  /** The store as it may be shown: a path, or a URL with its password masked. */
  store: string;
  storeLocation: StoreLocation;
  maxBodyBytes: number;
  idleTimeoutMs: number;
  requestTimeoutMs: number;
  maxConnections?: number;
  trustProxy?: BlockList;
  trustProxySpec?: string;
  logFormat: LogFormat;
  accessLog: boolean;
}

export function parseListenOptions(
  opts: Record<string, unknown>,
  settings?: Pick<Settings, 'format' | 'formatExplicit' | 'verbose' | 'quiet' | 'stderrIsTTY'>,
  env: Record<string, string | undefined> = process.env,
): ListenOptions {
  if (typeof opts.store !== 'string' || opts.store.trim() === '') {
    throw new UsageError('--store is required: the SQLite file the events are stored in, or a postgres:// URL', {
      hint: 'e.g. --store /var/lib/tcb/webhooks.sqlite, or --store postgres://tcb@db.example.com/tcb with PGPASSWORD set',
      field: '--store',
    });
  }
  const storeLocation = resolveStoreLocation(opts.store, env);
  const host = String(opts.host ?? '127.0.0.1').trim();
  if (host === '') throw new UsageError('--host is empty', { field: '--host' });
  const idleTimeoutMs = secondsOption(opts.idleTimeout ?? DEFAULT_IDLE_TIMEOUT_MS / 1000, '--idle-timeout', 0.05, 3600);
  const requestTimeoutMs = secondsOption(opts.requestTimeout ?? DEFAULT_REQUEST_TIMEOUT_MS / 1000, '--request-timeout', 0.05, 3600);
  if (requestTimeoutMs < idleTimeoutMs) {
    throw new UsageError('--request-timeout must be at least --idle-timeout (the headers arrive within the idle timeout)', {
      field: '--request-timeout',
    });
  }
  let trustProxy: BlockList | undefined;
  let trustProxySpec: string | undefined;
  if (opts.trustProxy !== undefined && opts.trustProxy !== false) {
    trustProxySpec = opts.trustProxy === true ? 'loopback' : String(opts.trustProxy);
    try {
      trustProxy = parseTrustedProxies(trustProxySpec);
    } catch (error) {
      throw new UsageError(`--trust-proxy: ${(error as Error).message}`, {
        field: '--trust-proxy',
        hint: 'give the proxy addresses: loopback, an IP, or a CIDR range, comma-separated (e.g. --trust-proxy 10.0.0.0/8)',
      });
    }
  }
  const logFormatText = opts.logFormat === undefined ? undefined : String(opts.logFormat);
  if (logFormatText !== undefined && logFormatText !== 'text' && logFormatText !== 'json') {
    throw new UsageError(`--log-format must be text or json (got "${logFormatText}")`, { field: '--log-format' });
  }
  const logFormat: LogFormat = logFormatText === 'json' || (logFormatText === undefined && settings?.format === 'json' && settings.formatExplicit) ? 'json' : 'text';
  // The access log: asked for, or on a terminal, or --verbose; never with --quiet.
  const accessLog =
    opts.accessLog === true || (opts.accessLog !== false && !settings?.quiet && Boolean(settings?.stderrIsTTY || settings?.verbose));
  return {
    port: integerOption(opts.port, '--port', 0, 65535),
    host,
    store: storeLocation.display,
    storeLocation,
    maxBodyBytes: integerOption(opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, '--max-body-bytes', 1024, 64 * 1024 * 1024),
    idleTimeoutMs,
    requestTimeoutMs,
    maxConnections: opts.maxConnections === undefined ? undefined : integerOption(opts.maxConnections, '--max-connections', 1, 1_000_000),
    trustProxy,
    trustProxySpec,
    logFormat,
    accessLog,
  };
}

/** The shared secret: TCB_WEBHOOK_KEY, or a masked prompt on a terminal. Never argv. */
export async function resolveWebhookKey(ctx: CommandContext): Promise<{ key: string; warnings: string[] }> {
  let key = ctx.env[WEBHOOK_KEY_ENV];
  if (key === undefined || key === '') {
    if (!ctx.settings.interactive) {
      throw new UsageError(`no webhook key: set ${WEBHOOK_KEY_ENV} (the secret after ?key= in the webhook URL)`, {
        hint: `export ${WEBHOOK_KEY_ENV}=$(openssl rand -hex 24); a prompt needs a terminal`,
        field: WEBHOOK_KEY_ENV,
      });
    }
    key = await ctx.prompts.secret('Webhook key (the secret after ?key= in the webhook URL)');
  }
  if (key.trim() === '') throw new UsageError(`the webhook key is empty; set ${WEBHOOK_KEY_ENV}`, { field: WEBHOOK_KEY_ENV });
  redactor.addSecret(key);
  redactor.addSecret(encodeURIComponent(key));
  const warnings: string[] = [];
  if (key.length < 16) warnings.push('the webhook key is shorter than 16 characters; a long random key is safer (openssl rand -hex 24)');
  if (!URL_SAFE.test(key)) {
    warnings.push('the webhook key has characters that must be percent-encoded in the console URL; hex or base64url keys avoid that');
  }
  return { key, warnings };
}

function isLoopback(host: string): boolean {
  const bare = host.replace(/^\[|\]$/g, '').toLowerCase();
  return bare === 'localhost' || bare === '::1' || /^127\./.test(bare) || bare === '::ffff:127.0.0.1';
}

function describeListener(handle: ListenerHandle, options: ListenOptions, stored: number): string {
  return [
    `Listening on ${handle.url} (store ${options.store}, ${stored} event${stored === 1 ? '' : 's'} stored)`,
    `Health:      ${handle.url}healthz`,
    `Console URL: https://<your-public-host>/<path>?key=<${WEBHOOK_KEY_ENV}>  (through your TLS reverse proxy)`,
    'Press Ctrl-C to stop.',
  ].join('\n');
}

function summary(stats: ListenerStats): string {
  return [
    `${stats.stored} stored`,
    `${stats.unrecognised} of them unrecognised`,
    `${stats.duplicates} duplicate`,
    `${stats.conflicts} conflicting`,
    `${stats.rejected} rejected`,
    `${stats.unauthorized} unauthorized`,
    `${stats.failed} failed`,
    `${stats.aborted} aborted`,
    `${stats.timeouts} timed out`,
  ].join(', ');
}

/**
 * tcb webhook listen: serve until SIGINT, SIGTERM or SIGHUP, then finish in-flight requests, commit
 * and close the store, and exit 0. SIGHUP stops like SIGTERM, as for every command: there is no log
 * file to reopen (the log is stderr, which the supervisor owns).
 */
export async function listenForWebhooks(ctx: CommandContext, opts: Record<string, unknown>): Promise<void> {
  const options = parseListenOptions(opts, ctx.settings, ctx.env);
  const { key, warnings } = await resolveWebhookKey(ctx);
  // Loaded only here: no other command pays for the logger.
  const { createDaemonLog } = await import('./log.js');
  const log = createDaemonLog({ format: options.logFormat, accessLog: options.accessLog });
  for (const warning of warnings) log.warn(warning);
  if (options.storeLocation.kind === 'postgres' && options.storeLocation.passwordOnCommandLine) {
    log.warn('the database password is in --store, where other users see it (ps, shell history); give it in PGPASSWORD or ~/.pgpass');
  }
  // A daemon whose log reader went away keeps serving (main.ts leaves EPIPE on stderr alone).
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  // SIGINT, SIGTERM and SIGHUP all arrive here (util/interrupt.ts). Subscribed until the process
  // ends: a signal while draining must not find it without a listener (a second one exits 130).
  onInterrupt(() => stop());
  let handle: ListenerHandle;
  const sink = await openEventSink(options.storeLocation, {
    // The database went away or came back: the operator's log says so once, not per request.
    onStateChange: (state, detail) =>
      state === 'down'
        ? log.error(`${detail}; events are answered 503 with Retry-After until it is back`, { store: options.store })
        : log.warn(`the store is reachable again: ${detail}`, { store: options.store }),
  });
  try {
    handle = await startWebhookListener({
      port: options.port,
      host: options.host,
      sink,
      key,
      log,
      maxBodyBytes: options.maxBodyBytes,
      idleTimeoutMs: options.idleTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs,
      maxConnections: options.maxConnections,
      trustProxy: options.trustProxy,
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      throw new UsageError(`cannot listen on ${options.host}:${options.port}: ${code}`, { hint: 'pick another --port or --host', field: '--port' });
    }
    throw error;
  }
  if (!isLoopback(options.host)) {
    log.warn(
      `listening on ${options.host}: plain HTTP with the key in the URL, reachable from the network. ` +
        'Bind 127.0.0.1 behind a TLS reverse proxy (tcb help webhooks, "Reverse proxy") unless this address is private to that proxy',
    );
  }
  const stored = await sink.count();
  await ctx.output.object(
    {
      url: handle.url,
      health_url: `${handle.url}healthz`,
      host: handle.host,
      port: handle.port,
      store: options.store,
      events_stored: stored,
      max_connections: handle.maxConnections,
      pid: process.pid,
    },
    () => describeListener(handle, options, stored),
  );
  log.info('listening', { url: handle.url, store: options.store, events_stored: stored, trust_proxy: options.trustProxySpec });
  await stopped;
  log.info('stopping on a signal: finishing in-flight requests');
  await handle.close();
  const commits = handle.committer.stats;
  log.info(`stopped; this run: ${summary(handle.stats)}`, {
    commits: commits.commits,
    events_per_commit: commits.commits === 0 ? 0 : Math.round((commits.events / commits.commits) * 10) / 10,
    largest_commit: commits.largestBatch,
  });
  if (log.dropped > 0) log.warn(`${log.dropped} log lines were dropped (the log reader was slow or gone)`);
  log.flush();
}

export interface WebhookTestOptions {
  url: string;
  type: WebhookEventType;
  example: WebhookExampleName;
}

export function parseWebhookTestOptions(opts: Record<string, unknown>, env: CommandContext['env']): WebhookTestOptions {
  if (typeof opts.url !== 'string' || opts.url.trim() === '') {
    throw new UsageError('--url is required: the receiver to send the test event to', { field: '--url' });
  }
  const requested = opts.type === undefined ? undefined : (String(opts.type) as WebhookEventType);
  if (requested !== undefined && !WEBHOOK_EVENT_TYPES.includes(requested)) {
    throw new UsageError(`--type must be ${WEBHOOK_EVENT_TYPES.join(' or ')} (got "${requested}")`, { field: '--type' });
  }
  const example = (opts.example === undefined ? DEFAULT_EXAMPLE[requested ?? 'cmb'] : String(opts.example)) as WebhookExampleName;
  if (!(example in WEBHOOK_EXAMPLES)) {
    throw new UsageError(`--example must be one of ${Object.keys(WEBHOOK_EXAMPLES).join(', ')} (got "${example}")`, { field: '--example' });
  }
  if (requested !== undefined && WEBHOOK_EXAMPLES[example].event_type !== requested) {
    throw new UsageError(`--example ${example} is a ${WEBHOOK_EXAMPLES[example].event_type} event, not ${requested}`, { field: '--example' });
  }
  let url: URL;
  try {
    url = new URL(opts.url.trim());
  } catch {
    throw new UsageError(`--url is not a valid URL: "${redactUrl(opts.url)}"`, { field: '--url' });
  }
  // The key is a secret, so it never comes from argv (where ps and shell history keep it).
  if (url.searchParams.has('key')) {
    throw new UsageError('--url must not carry ?key=: the webhook key is a secret and stays off the command line', {
      field: '--url',
      hint: `set ${WEBHOOK_KEY_ENV}; tcb adds ?key= to the URL itself`,
    });
  }
  const key = env[WEBHOOK_KEY_ENV];
  if (key) {
    redactor.addSecret(key);
    url.searchParams.set('key', key);
  }
  return { url: url.toString(), type: WEBHOOK_EXAMPLES[example].event_type, example };
}

export interface WebhookTestResult {
  url: string;
  event_type: WebhookEventType;
  example: WebhookExampleName;
  event_id: string;
  status: number;
  ok: boolean;
  latency_ms: number;
  response: unknown;
}

function parseResponse(delivery: WebhookDelivery): unknown {
  if (delivery.contentType?.includes('json')) {
    try {
      return JSON.parse(delivery.body);
    } catch {
      // fall through: show the text
    }
  }
  return delivery.body;
}

/** tcb webhook test: one POST of a documented example; only a 200 counts as delivered (api/README.md §8). */
export async function sendTestWebhook(ctx: CommandContext, opts: Record<string, unknown>): Promise<WebhookTestResult> {
  const options = parseWebhookTestOptions(opts, ctx.env);
  const event = freshExample(options.example);
  const delivery = await deliverWebhook({ url: options.url, event, timeoutMs: ctx.settings.timeoutMs, logger: ctx.output });
  return {
    url: redactUrl(options.url),
    event_type: options.type,
    example: options.example,
    event_id: event.event_id,
    status: delivery.status,
    ok: delivery.status === 200,
    latency_ms: delivery.latencyMs,
    response: parseResponse(delivery),
  };
}

/** After printing the result: the exit code for a receiver that did not answer 200. */
export function testFailure(result: WebhookTestResult): Error | undefined {
  if (result.ok) return undefined;
  const message = `the receiver answered ${result.status}; Truecaller treats anything but 200 as a failure and retries`;
  const extra = { httpStatus: result.status, details: { event_id: result.event_id } };
  if (result.status >= 500) return new TransientError(message, extra);
  const hint =
    result.status === 401 ? `check that the key in the URL (or ${WEBHOOK_KEY_ENV}) matches the listener's` : undefined;
  return new ApiError(message, { ...extra, hint });
}
