import { TransientError, UsageError } from '../errors.js';
import { redactUrl } from '../output/redact.js';
import type { HttpLogger } from './client.js';

/**
 * Sends one webhook event to a receiver, the way Truecaller does (POST, JSON body), once and without
 * retries, like the console's "Test Webhook" button. Used by `tcb webhook test`. This is not the
 * Truecaller API, so it does not go through ApiClient (no token, no rate limit, no retry).
 */
export interface WebhookDelivery {
  status: number;
  /** Time to the complete response, in milliseconds. */
  latencyMs: number;
  /** The receiver's answer as text, cut at 2 000 characters. */
  body: string;
  contentType: string | null;
}

const MAX_BODY_CHARS = 2000;

export async function deliverWebhook(options: {
  url: string;
  event: unknown;
  timeoutMs: number;
  logger?: HttpLogger;
  signal?: AbortSignal;
}): Promise<WebhookDelivery> {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new UsageError(`--url is not a valid URL: "${redactUrl(options.url)}"`, { field: 'url' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url must be http or https (got ${url.protocol})`, { field: 'url' });
  }
  const signals = [AbortSignal.timeout(options.timeoutMs)];
  if (options.signal) signals.push(options.signal);
  const started = performance.now();
  options.logger?.debug(`→ POST ${redactUrl(url.toString())}`);
  let response: Response;
  let text: string;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'tcb-webhook-test' },
      body: JSON.stringify(options.event),
      signal: AbortSignal.any(signals),
      redirect: 'manual',
    });
    text = await response.text();
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const reason = timedOut ? `no answer within ${options.timeoutMs} ms` : (cause?.code ?? cause?.message ?? (error as Error).message);
    throw new TransientError(`the receiver at ${redactUrl(url.origin + url.pathname)} could not be reached: ${reason}`, {
      code: timedOut ? 'timeout' : 'network_error',
      hint: 'is the listener running and reachable from here? (tcb webhook listen --port N)',
      cause: error,
    });
  }
  const latencyMs = Math.round((performance.now() - started) * 10) / 10;
  options.logger?.debug(`← ${response.status} ${redactUrl(url.toString())} (${latencyMs} ms)`);
  return {
    status: response.status,
    latencyMs,
    body: text.length > MAX_BODY_CHARS ? `${text.slice(0, MAX_BODY_CHARS)}…` : text,
    contentType: response.headers.get('content-type'),
  };
}
