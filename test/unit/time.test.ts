import { describe, expect, it } from 'vitest';
import { parseDuration, parseTime } from '../../src/util/time.js';

const NOW = Date.parse('2026-05-10T12:00:00Z');

describe('parseTime', () => {
  it('epoch milliseconds pass through; epoch seconds are refused with a hint', () => {
    expect(parseTime('1753088751000', NOW)).toBe(1753088751000);
    expect(() => parseTime('1753088751', NOW)).toThrow(/seconds.*1753088751000/);
  });

  it('relative forms', () => {
    expect(parseTime('+2h', NOW)).toBe(NOW + 7_200_000);
    expect(parseTime('-7d', NOW)).toBe(NOW - 7 * 86_400_000);
    expect(parseTime('-90m', NOW)).toBe(NOW - 5_400_000);
    expect(parseTime('now', NOW)).toBe(NOW);
  });

  it('ISO-8601 with a zone is exact; without one it is local time', () => {
    expect(parseTime('2026-05-01T09:30:00Z', NOW)).toBe(Date.parse('2026-05-01T09:30:00Z'));
    expect(parseTime('2026-05-01T09:30:00+05:30', NOW)).toBe(Date.parse('2026-05-01T04:00:00Z'));
    expect(parseTime('2026-05-01T09:30', NOW)).toBe(new Date(2026, 4, 1, 9, 30).getTime());
    expect(parseTime('2026-05-01', NOW)).toBe(new Date(2026, 4, 1).getTime());
  });

  it('rejects nonsense and impossible dates', () => {
    expect(() => parseTime('tuesday', NOW)).toThrow(/not a time/);
    expect(() => parseTime('2026-02-31', NOW)).toThrow(/not a valid date/);
    expect(() => parseTime('', NOW)).toThrow(/empty/);
  });
});

describe('parseDuration', () => {
  it('reads units and refuses bare numbers', () => {
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('90m')).toBe(5_400_000);
    expect(parseDuration('1.5d')).toBe(129_600_000);
    expect(() => parseDuration('120')).toThrow(/unit/);
  });
});
