/**
 * Webhook times are epoch seconds as strings ("1753945760"); `preferred_*_time` may be null and
 * `requested_date` may be "NA". These helpers read them without ever changing the stored value.
 */

/** Epoch milliseconds from an epoch-seconds value (string or number); null when it is not one. */
export function epochSecondsToMs(value: unknown): number | null {
  let seconds: number;
  if (typeof value === 'number') {
    seconds = value;
  } else if (typeof value === 'string' && /^\s*-?\d+(\.\d+)?\s*$/.test(value)) {
    seconds = Number(value);
  } else {
    return null;
  }
  if (!Number.isFinite(seconds)) return null;
  // A 13-digit value is milliseconds sent by mistake; take it as such rather than a date in year 50000.
  const ms = Math.abs(seconds) >= 100_000_000_000 ? seconds : seconds * 1000;
  const rounded = Math.round(ms);
  return Number.isFinite(new Date(rounded).getTime()) ? rounded : null;
}

/** ISO-8601 (UTC) for an epoch-seconds value; null for null, "NA", "" or anything else unparseable. */
export function epochSecondsToIso(value: unknown): string | null {
  const ms = epochSecondsToMs(value);
  return ms === null ? null : new Date(ms).toISOString();
}
