/**
 * Time and duration parsing shared by every command that takes a time.
 * Inputs: epoch milliseconds, ISO-8601 dates and date-times (local time unless a zone is given),
 * relative forms (`+2h`, `-7d`, `now`, `today`, `yesterday`). Output: integer epoch milliseconds.
 */
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

export class TimeParseError extends Error {}

function startOfLocalDay(ms: number): number {
  const date = new Date(ms);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate()).getTime();
}

/** `2h`, `90m`, `1.5d`, `500ms`; a bare number is rejected as ambiguous. */
export function parseDuration(input: string): number {
  const text = input.trim();
  const match = DURATION.exec(text);
  if (!match) {
    throw new TimeParseError(`"${input}" is not a duration; use a number with a unit, e.g. 30m, 2h, 1d`);
  }
  return Math.round(Number(match[1]) * UNIT_MS[match[2]!.toLowerCase()]!);
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
    return relative[1] === '+' ? now + amount : now - amount;
  }

  if (/^\d+$/.test(text)) {
    const ms = Number(text);
    if (ms < MIN_PLAUSIBLE_EPOCH_MS) {
      throw new TimeParseError(
        `"${input}" looks like epoch seconds; times are epoch milliseconds (try ${text}000)`,
      );
    }
    return ms;
  }

  const dateOnly = DATE_ONLY.exec(text);
  if (dateOnly) {
    const [, y, m, d] = dateOnly;
    const date = new Date(Number(y), Number(m) - 1, Number(d));
    if (date.getMonth() !== Number(m) - 1) throw new TimeParseError(`"${input}" is not a valid date`);
    return date.getTime();
  }

  if (ISO_DATE_TIME.test(text)) {
    // Without a zone, ECMAScript parses a date-time as local time, which is what we document.
    const ms = Date.parse(text.replace(' ', 'T'));
    if (Number.isFinite(ms)) return ms;
  }
  throw new TimeParseError(
    `"${input}" is not a time; use epoch milliseconds, ISO-8601 (2026-05-01 or 2026-05-01T09:30:00Z) or a relative form (+2h, -7d, now)`,
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
