import path from 'node:path';
import { deliverWebhook, type WebhookDelivery } from '../../api/webhook-sender.js';
import type { CommandContext } from '../../context.js';
import { ApiError, TransientError, UsageError } from '../../errors.js';
import { redactor, redactUrl } from '../../output/redact.js';
import { onInterrupt } from '../../util/interrupt.js';
import { DEFAULT_EXAMPLE, WEBHOOK_EXAMPLES, freshExample, type WebhookExampleName } from './examples.js';
import { DEFAULT_MAX_BODY_BYTES, startWebhookListener, type ListenerHandle, type ListenerStats } from './listener.js';
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

export interface ListenOptions {
  port: number;
  host: string;
  store: string;
  maxBodyBytes: number;
}

export function parseListenOptions(opts: Record<string, unknown>): ListenOptions {
  if (typeof opts.store !== 'string' || opts.store.trim() === '') {
    throw new UsageError('--store FILE is required: the SQLite file the events are stored in', {
      hint: 'e.g. --store /var/lib/tcb/webhooks.sqlite',
      field: '--store',
    });
  }
  const host = String(opts.host ?? '127.0.0.1').trim();
  if (host === '') throw new UsageError('--host is empty', { field: '--host' });
  return {
    port: integerOption(opts.port, '--port', 0, 65535),
    host,
    store: path.resolve(opts.store),
    maxBodyBytes: integerOption(opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, '--max-body-bytes', 1024, 64 * 1024 * 1024),
  };
}

/** The shared secret: TCB_WEBHOOK_KEY, or a masked prompt on a terminal. Never argv. */
export async function resolveWebhookKey(ctx: CommandContext): Promise<string> {
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
  if (key.length < 16) ctx.output.warn('the webhook key is shorter than 16 characters; a long random key is safer (openssl rand -hex 24)');
  if (!URL_SAFE.test(key)) {
    ctx.output.warn('the webhook key has characters that must be percent-encoded in the console URL; hex or base64url keys avoid that');
  }
  return key;
}

function accessLogShown(ctx: CommandContext): boolean {
  return !ctx.settings.quiet && (ctx.settings.stderrIsTTY || ctx.settings.verbose);
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
  return `${stats.stored} stored, ${stats.duplicates} duplicate, ${stats.rejected} rejected, ${stats.unauthorized} unauthorized, ${stats.failed} failed`;
}

/** tcb webhook listen: serve until SIGINT/SIGTERM, then finish in-flight requests and close the store. */
export async function listenForWebhooks(ctx: CommandContext, opts: Record<string, unknown>): Promise<void> {
  const options = parseListenOptions(opts);
  const key = await resolveWebhookKey(ctx);
  let stop: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (stop = resolve));
  const unsubscribe = onInterrupt(() => stop());
  let handle: ListenerHandle;
  try {
    handle = await startWebhookListener({
      port: options.port,
      host: options.host,
      storeFile: options.store,
      key,
      maxBodyBytes: options.maxBodyBytes,
      // The access log is info: on a terminal or with --verbose, never with --quiet.
      log: accessLogShown(ctx) ? (line) => ctx.output.info(line) : undefined,
      warn: (line) => ctx.output.warn(line),
    });
  } catch (error) {
    unsubscribe();
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') {
      throw new UsageError(`cannot listen on ${options.host}:${options.port}: ${code}`, { hint: 'pick another --port or --host' });
    }
    throw error;
  }
  const stored = handle.store.count();
  await ctx.output.object(
    {
      url: handle.url,
      health_url: `${handle.url}healthz`,
      host: handle.host,
      port: handle.port,
      store: options.store,
      events_stored: stored,
      pid: process.pid,
    },
    () => describeListener(handle, options, stored),
  );
  await stopped;
  unsubscribe();
  ctx.output.info('Stopping: finishing in-flight requests…');
  await handle.close();
  ctx.output.info(`Stopped. This run: ${summary(handle.stats)}.`);
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
