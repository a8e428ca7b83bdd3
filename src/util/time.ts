/**
 * Time and duration parsing shared by every command that takes a time.
 * Inputs: epoch milliseconds, ISO-8601 dates and date-times (local time unless a zone is given),
 * relative forms (`+2h`, `-7d`, `now`, `today`, `yesterday`). Output: integer epoch milliseconds.
 */
import { quoteValue } from './text.js';

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/i;
const RELATIVE = /^([+-])\s*(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/i;
const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;
/** Epoch ms below this (March 1973) is almost certainly seconds typed by mistake. */
const MIN_PLAUSIBLE_EPOCH_MS = 100_000_000_000;
/** Times are kept within 1970-01-01 and the end of 9999 (UTC): what epoch ms and ISO-8601 both express. */
export const MIN_EPOCH_MS = 0;
export const MAX_EPOCH_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
/** Timers in Node hold at most 2^31-1 ms (about 24.8 days); longer durations would fire at once. */
export const MAX_TIMER_MS = 2_147_483_647;

export class TimeParseError extends Error {}

/** The years a time may fall in, for messages. */
export const TIME_RANGE_TEXT = '1970 to 9999';

export function isTimeInRange(ms: number): boolean {
  return Number.isFinite(ms) && ms >= MIN_EPOCH_MS && ms <= MAX_EPOCH_MS;
}

function inRange(ms: number, input: string): number {
  if (isTimeInRange(ms)) return ms;
  throw new TimeParseError(`${quoteValue(input)} is outside the years ${TIME_RANGE_TEXT}`);
}

function startOfLocalDay(ms: number): number {
  const date = new Date(ms);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** `2h`, `90m`, `1.5d`, `500ms`; a bare number is rejected as ambiguous. */
export function parseDuration(input: string): number {
  const text = input.trim();
  const match = DURATION.exec(text);
  if (!match) {
    throw new TimeParseError(`${quoteValue(input)} is not a duration; use a number with a unit, e.g. 30m, 2h, 1d`);
  }
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2]!.toLowerCase()]!);
  if (!Number.isSafeInteger(ms)) throw new TimeParseError(`${quoteValue(input)} is too long a duration`);
  return ms;
}

export function parseTime(input: string, now: number = Date.now()): number {
  const text = input.trim();
  if (text === '') throw new TimeParseError('the time is empty');
  const lower = text.toLowerCase();
  if (lower === 'now') return now;
  if (lower === 'today') return startOfLocalDay(now);
  if (lower === 'yesterday') return startOfLocalDay(startOfLocalDay(now) - 1);
  if (lower === 'tomorrow') return startOfLocalDay(startOfLocalDay(now) + UNIT_MS.d! + 3_600_000);

  const relative = RELATIVE.exec(text);
  if (relative) {
    const amount = Math.round(Number(relative[2]) * UNIT_MS[relative[3]!.toLowerCase()]!);
    return inRange(relative[1] === '+' ? now + amount : now - amount, input);
  }

  if (/^\d+$/.test(text)) {
    const ms = Number(text);
    if (ms < MIN_PLAUSIBLE_EPOCH_MS) {
      // 9-10 digits are epoch seconds of 1973-2286: the likely mistake. Other small numbers have no good guess.
      const seconds = text.replace(/^0+/, '').length >= 9;
      throw new TimeParseError(
        seconds
          ? `${quoteValue(input)} looks like epoch seconds; times are epoch milliseconds (try ${text}000)`
          : `${quoteValue(input)} is not a plausible time (epoch milliseconds before March 1973); use epoch milliseconds, an ISO-8601 date (2026-05-01) or a relative form (-7d)`,
      );
    }
    return inRange(ms, input);
  }

  const dateOnly = DATE_ONLY.exec(text);
  if (dateOnly) {
    const [, y, m, d] = dateOnly;
    // setFullYear: the Date constructor reads years 0-99 as 1900-1999.
    const date = new Date(2000, Number(m) - 1, Number(d));
    date.setFullYear(Number(y), Number(m) - 1, Number(d));
    if (date.getMonth() !== Number(m) - 1) throw new TimeParseError(`${quoteValue(input)} is not a valid date`);
    return inRange(date.getTime(), input);
  }

  if (ISO_DATE_TIME.test(text)) {
    // Without a zone, ECMAScript parses a date-time as local time, which is what we document.
    const ms = Date.parse(text.replace(' ', 'T'));
    if (Number.isFinite(ms)) return inRange(ms, input);
  }
  throw new TimeParseError(
    `${quoteValue(input)} is not a time; use epoch milliseconds, ISO-8601 (2026-05-01 or 2026-05-01T09:30:00Z) or a relative form (+2h, -7d, now)`,
  );
}

export function formatIso(ms: number): string {
  return new Date(ms).toISOString();
}

/** "3m 20s" style, for ages and ETAs. */
export function formatDuration(ms: number): string {
  const totalSeconds = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  if (h > 0) return `${h}h ${m}m`;
  if (m > 0) return `${m}m ${s}s`;
  return `${s}s`;
}
