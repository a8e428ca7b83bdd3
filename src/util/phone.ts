/**
 * The API wants phone numbers as digits with the country code and no "+" (api/README.md §3.3).
 * Spaces, dashes, dots, brackets and a leading "+" (or "00") are normalised away. Length is checked
 * loosely: the docs show 15-digit values, so anything from 8 to 15 digits is accepted.
 */
import { characterProblem, quoteValue } from './text.js';

export const MIN_PHONE_DIGITS = 8;
export const MAX_PHONE_DIGITS = 15;

export type PhoneResult = { ok: true; number: string } | { ok: false; reason: string };

export function normalisePhoneNumber(input: string): PhoneResult {
  const trimmed = input.trim();
  if (trimmed === '') return { ok: false, reason: 'empty' };
  let digits = trimmed.replace(/[\s\-.()]/g, '');
  if (digits.startsWith('+')) digits = digits.slice(1);
  else if (digits.startsWith('00')) digits = digits.slice(2);
  if (!/^\d+$/.test(digits)) {
    const problem = characterProblem(trimmed);
    return { ok: false, reason: `${quoteValue(trimmed)} ${problem ?? 'has characters other than digits'}` };
  }
  if (digits.length < MIN_PHONE_DIGITS || digits.length > MAX_PHONE_DIGITS) {
    return {
      ok: false,
      reason: `${quoteValue(trimmed)} has ${digits.length} digits; expected ${MIN_PHONE_DIGITS}-${MAX_PHONE_DIGITS} including the country code`,
    };
  }
  if (digits.startsWith('0')) return { ok: false, reason: `${quoteValue(trimmed)} has no country code (starts with 0)` };
  return { ok: true, number: digits };
}
