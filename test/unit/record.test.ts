import { describe, expect, it } from 'vitest';
import {
  DefaultFlagError,
  defaultsFromFlags,
  toV1Record,
  validateCallReason,
  type CallReasonInput,
} from '../../src/services/call-reasons/record.js';

const NOW = Date.UTC(2026, 0, 15, 10, 0, 0);
const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
const HOUR = 3_600_000;

function valid(overrides: CallReasonInput = {}): CallReasonInput {
  return {
    caller_number: '911234567890',
    receiver_number: '919876543210',
    starts_at: String(NOW),
    ends_at: String(NOW + 2 * HOUR),
    label_id: LABEL,
    dynamic_label_name: 'Acme Bank',
    dynamic_call_reason: 'Your parcel is on its way',
    ...overrides,
  };
}

function errorsOf(input: CallReasonInput, defaults = {}) {
  const result = validateCallReason(input, { now: NOW, defaults });
  if (result.ok) throw new Error(`expected errors, got ${JSON.stringify(result.record)}`);
  return result.errors;
}

function fieldsOf(input: CallReasonInput, defaults = {}) {
  return errorsOf(input, defaults).map((e) => e.field);
}

describe('validateCallReason', () => {
  it('accepts a clean row and returns the v2 record with integer epoch ms', () => {
    const result = validateCallReason(valid(), { now: NOW });
    expect(result).toEqual({
      ok: true,
      record: {
        caller_number: '911234567890',
        receiver_number: '919876543210',
        starts_at: NOW,
        ends_at: NOW + 2 * HOUR,
        label_id: LABEL,
        dynamic_label_name: 'Acme Bank',
        dynamic_call_reason: 'Your parcel is on its way',
      },
    });
  });

  it('normalises numbers: "+", spaces, dashes and brackets go; letters and short numbers fail', () => {
    const result = validateCallReason(valid({ caller_number: '+91 (123) 456-7890', receiver_number: ' 00919876543210 ' }), { now: NOW });
    expect(result.ok && [result.record.caller_number, result.record.receiver_number]).toEqual(['911234567890', '919876543210']);
    expect(fieldsOf(valid({ caller_number: '91123abc890' }))).toEqual(['caller_number']);
    expect(fieldsOf(valid({ receiver_number: '1234' }))).toEqual(['receiver_number']);
    expect(fieldsOf(valid({ receiver_number: '0123456789' }))).toEqual(['receiver_number']);
    expect(fieldsOf(valid({ caller_number: '', receiver_number: undefined }))).toEqual(['caller_number', 'receiver_number']);
  });

  it('reads ISO-8601 (zoned and local) and relative times', () => {
    const iso = validateCallReason(valid({ starts_at: '2026-01-15T10:00:00Z', ends_at: '2026-01-15T11:30:00.000Z' }), { now: NOW });
    expect(iso.ok && [iso.record.starts_at, iso.record.ends_at]).toEqual([NOW, NOW + 1.5 * HOUR]);
    const relative = validateCallReason(valid({ starts_at: 'now', ends_at: '+2h' }), { now: NOW });
    expect(relative.ok && [relative.record.starts_at, relative.record.ends_at]).toEqual([NOW, NOW + 2 * HOUR]);
    const local = new Date(2026, 0, 15, 12, 0, 0).getTime();
    const localResult = validateCallReason(valid({ starts_at: '2026-01-15 12:00', ends_at: String(local + HOUR) }), { now: NOW - 10 * HOUR });
    expect(localResult.ok && localResult.record.starts_at).toBe(local);
  });

  it('rejects epoch seconds, garbage and missing times, naming the field', () => {
    expect(errorsOf(valid({ starts_at: '1768471200' }))[0]).toMatchObject({ field: 'starts_at', message: expect.stringContaining('epoch seconds') });
    expect(fieldsOf(valid({ ends_at: 'tomorrowish' }))).toEqual(['ends_at']);
    expect(errorsOf(valid({ ends_at: '' }))[0]!.message).toContain('--duration');
  });

  it('ends_at: not in the past, after starts_at, at most 24 h after it', () => {
    expect(errorsOf(valid({ starts_at: String(NOW - 2 * HOUR), ends_at: String(NOW - 1) }))[0]!.message).toContain('in the past');
    expect(validateCallReason(valid({ starts_at: String(NOW - HOUR), ends_at: String(NOW) }), { now: NOW }).ok).toBe(true);
    expect(errorsOf(valid({ ends_at: String(NOW) , starts_at: String(NOW + HOUR) }))[0]!.message).toContain('after starts_at');
    expect(validateCallReason(valid({ ends_at: String(NOW + 24 * HOUR) }), { now: NOW }).ok).toBe(true);
    expect(errorsOf(valid({ ends_at: String(NOW + 24 * HOUR + 1) }))[0]!.message).toContain('24 hours');
  });

  it('label_id is required and must be a UUID', () => {
    expect(errorsOf(valid({ label_id: '' }))[0]!.message).toContain('--label-id');
    expect(fieldsOf(valid({ label_id: 'FlowerEra' }))).toEqual(['label_id']);
  });

  it('dynamic_label_name is optional, 3-40 characters (counted as characters, not UTF-16 units)', () => {
    const without = validateCallReason(valid({ dynamic_label_name: '' }), { now: NOW });
    expect(without.ok && 'dynamic_label_name' in without.record).toBe(false);
    expect(fieldsOf(valid({ dynamic_label_name: 'ab' }))).toEqual(['dynamic_label_name']);
    expect(validateCallReason(valid({ dynamic_label_name: 'x'.repeat(40) }), { now: NOW }).ok).toBe(true);
    expect(fieldsOf(valid({ dynamic_label_name: 'x'.repeat(41) }))).toEqual(['dynamic_label_name']);
    expect(validateCallReason(valid({ dynamic_label_name: '🏦'.repeat(40) }), { now: NOW }).ok).toBe(true);
  });

  it('dynamic_call_reason is optional, 10-100 characters, no special characters', () => {
    const without = validateCallReason(valid({ dynamic_call_reason: undefined }), { now: NOW });
    expect(without.ok && 'dynamic_call_reason' in without.record).toBe(false);
    expect(fieldsOf(valid({ dynamic_call_reason: 'Too short' }))).toEqual(['dynamic_call_reason']);
    expect(validateCallReason(valid({ dynamic_call_reason: 'a'.repeat(100) }), { now: NOW }).ok).toBe(true);
    expect(fieldsOf(valid({ dynamic_call_reason: 'a'.repeat(101) }))).toEqual(['dynamic_call_reason']);
    expect(validateCallReason(valid({ dynamic_call_reason: "Order #1 - it's here (today)!".replace('#', 'no. ') }), { now: NOW }).ok).toBe(true);
    expect(validateCallReason(valid({ dynamic_call_reason: 'Ihre Bestellung ist unterwegs, Grüße' }), { now: NOW }).ok).toBe(true);
    expect(validateCallReason(valid({ dynamic_call_reason: 'आपका ऑर्डर रास्ते में है' }), { now: NOW }).ok).toBe(true);
    for (const bad of ['Order #12345 shipped', 'Pay now @ 5pm please', 'Great offer 😀 for you', 'Price is $100 today']) {
      const errors = errorsOf(valid({ dynamic_call_reason: bad }));
      expect(errors[0]).toMatchObject({ field: 'dynamic_call_reason', message: expect.stringContaining('special character') });
    }
    expect(errorsOf(valid({ dynamic_call_reason: 'line\nbreak in reason' }))[0]).toMatchObject({
      field: 'dynamic_call_reason',
      message: 'dynamic_call_reason has a control character (\\n)',
    });
  });

  it('reports every problem of a row at once', () => {
    expect(fieldsOf({ starts_at: 'x', dynamic_call_reason: 'short' })).toEqual([
      'caller_number',
      'receiver_number',
      'starts_at',
      'ends_at',
      'label_id',
      'dynamic_call_reason',
    ]);
  });

  it('fills empty fields from defaults; the row wins over a default', () => {
    const defaults = { label_id: LABEL, dynamic_call_reason: 'Calling about your order', starts_at: NOW + HOUR, duration_ms: 2 * HOUR };
    const filled = validateCallReason({ caller_number: '911234567890', receiver_number: '919876543210' }, { now: NOW, defaults });
    expect(filled).toMatchObject({
      ok: true,
      record: { label_id: LABEL, dynamic_call_reason: 'Calling about your order', starts_at: NOW + HOUR, ends_at: NOW + 3 * HOUR },
    });
    const own = validateCallReason(valid({ ends_at: '' }), { now: NOW, defaults });
    expect(own.ok && [own.record.starts_at, own.record.ends_at, own.record.dynamic_call_reason]).toEqual([
      NOW,
      NOW + 2 * HOUR,
      'Your parcel is on its way',
    ]);
    // starts_at defaults to now
    const noStart = validateCallReason(valid({ starts_at: undefined, ends_at: '+1h' }), { now: NOW });
    expect(noStart.ok && noStart.record.starts_at).toBe(NOW);
    // an absolute --ends-at default (text is parsed like a flag)
    const endsDefault = validateCallReason(valid({ ends_at: '' }), { now: NOW, defaults: { ends_at: '+3h' } });
    expect(endsDefault.ok && endsDefault.record.ends_at).toBe(NOW + 3 * HOUR);
  });

  it('validates defaults like row values', () => {
    expect(fieldsOf(valid({ dynamic_label_name: '' }), { dynamic_label_name: 'ab' })).toEqual(['dynamic_label_name']);
    expect(fieldsOf(valid({ ends_at: '' }), { duration_ms: 25 * HOUR })).toEqual(['ends_at']);
  });
});

describe('toV1Record', () => {
  it('renames to the deprecated field names', () => {
    const result = validateCallReason(valid(), { now: NOW });
    if (!result.ok) throw new Error('invalid');
    expect(toV1Record(result.record)).toEqual({
      caller: '911234567890',
      receiver: '919876543210',
      starts_at: NOW,
      ends_at: NOW + 2 * HOUR,
      label_id: LABEL,
      label_name: 'Acme Bank',
      call_reason: 'Your parcel is on its way',
    });
    const bare = validateCallReason(valid({ dynamic_label_name: '', dynamic_call_reason: '' }), { now: NOW });
    expect(bare.ok && Object.keys(toV1Record(bare.record))).toEqual(['caller', 'receiver', 'starts_at', 'ends_at', 'label_id']);
  });
});

describe('defaultsFromFlags', () => {
  it('parses times once, relative to now', () => {
    expect(defaultsFromFlags({ startsAt: '+10m', duration: '2h', labelId: ` ${LABEL} ` }, NOW)).toEqual({
      starts_at: NOW + 600_000,
      duration_ms: 2 * HOUR,
      label_id: LABEL,
    });
    expect(defaultsFromFlags({ endsAt: '2026-01-15T12:00:00Z' }, NOW)).toEqual({ ends_at: NOW + 2 * HOUR });
  });

  it('names the flag in errors', () => {
    const attempt = (flags: Parameters<typeof defaultsFromFlags>[0]) => {
      try {
        defaultsFromFlags(flags, NOW);
      } catch (error) {
        return error as DefaultFlagError;
      }
      throw new Error('no error');
    };
    expect(attempt({ startsAt: 'soon' }).flag).toBe('--starts-at');
    expect(attempt({ duration: '2' }).flag).toBe('--duration');
    expect(attempt({ duration: '25h' }).flag).toBe('--duration');
    expect(attempt({ duration: '1h', endsAt: '+2h' }).flag).toBe('--duration');
  });
});
