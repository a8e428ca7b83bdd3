import { UsageError } from '../errors.js';
import { MAX_TIMER_MS, parseDuration, TimeParseError } from './time.js';
import { quoteValue } from './text.js';

/** A positive duration flag (`500ms`, `30s`, `5m`, `2h`); a bare number means seconds. At most ~24 days. */
export function durationFlag(value: unknown, flag: string): number {
  const text = String(value).trim();
  let ms: number;
  try {
    ms = parseDuration(/^\d+(\.\d+)?$/.test(text) ? `${text}s` : text);
  } catch (error) {
    if (error instanceof TimeParseError) throw new UsageError(`${flag}: ${error.message}`, { field: flag.replace(/^--/, '') });
    throw error;
  }
  if (!(ms > 0)) throw new UsageError(`${flag} must be more than 0 (got ${quoteValue(text)})`, { field: flag.replace(/^--/, '') });
  if (ms > MAX_TIMER_MS) {
    throw new UsageError(`${flag} must be at most 24d (got ${quoteValue(text)})`, { field: flag.replace(/^--/, '') });
  }
  return ms;
}

/** Polling the API faster than this gains nothing and spends its rate limits. */
export const MIN_POLL_INTERVAL_MS = 1000;

/** A time between polls (--interval): a duration of at least 1 s. */
export function pollIntervalFlag(value: unknown, flag = '--interval'): number {
  const ms = durationFlag(value, flag);
  if (ms < MIN_POLL_INTERVAL_MS) {
    throw new UsageError(`${flag} must be at least 1s (got ${quoteValue(String(value).trim())})`, {
      field: flag.replace(/^--/, ''),
      hint: 'the API is polled at most once a second',
    });
  }
  return ms;
}
