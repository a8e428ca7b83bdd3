import { UsageError } from '../errors.js';
import { parseDuration, TimeParseError } from './time.js';

/** A positive duration flag (`500ms`, `30s`, `5m`, `2h`); a bare number means seconds. */
export function durationFlag(value: unknown, flag: string): number {
  const text = String(value).trim();
  let ms: number;
  try {
    ms = parseDuration(/^\d+(\.\d+)?$/.test(text) ? `${text}s` : text);
  } catch (error) {
    if (error instanceof TimeParseError) throw new UsageError(`${flag}: ${error.message}`);
    throw error;
  }
  if (!(ms > 0)) throw new UsageError(`${flag} must be more than 0 (got "${text}")`);
  return ms;
}
