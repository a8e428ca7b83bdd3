import { describe, expect, it } from 'vitest';
import { Redactor } from '../../src/output/redact.js';

describe('redaction', () => {
  it('masks registered secrets wherever they appear', () => {
    const r = new Redactor();
    r.addSecret('caf1694e-b8a4-4082-82fc-105a0a63eafe');
    expect(r.redact('key caf1694e-b8a4-4082-82fc-105a0a63eafe in text')).toBe('key [REDACTED] in text');
  });

  it('masks Authorization headers and bearer tokens', () => {
    const r = new Redactor();
    expect(r.redact('Authorization: Bearer a4p0pZ2x3aEk9TYGxPZldm0qvWQk')).not.toContain('a4p0pZ2x3aEk9TYGxPZldm0qvWQk');
    expect(r.redact('curl -H "authorization=abcdefgh12345"')).not.toContain('abcdefgh12345');
  });

  it('masks api_key and token fields in JSON bodies', () => {
    const r = new Redactor();
    const out = r.redact('{"key_id":"k-1","api_key":"s3cr3t-value","token":"tok-value-123"}');
    expect(out).toContain('"key_id":"k-1"');
    expect(out).not.toContain('s3cr3t-value');
    expect(out).not.toContain('tok-value-123');
  });

  it('masks secrets in URL query strings (webhook keys)', () => {
    const r = new Redactor();
    expect(r.redact('POST /hook?key=hunter2hunter2&x=1')).toBe('POST /hook?key=[REDACTED]&x=1');
  });

  it('replaces the secret only, never the punctuation or text after it', () => {
    const r = new Redactor();
    // An empty value followed by prose: nothing to hide, nothing swallowed.
    const refusal = '--url must not carry ?key=: the webhook key is a secret';
    expect(r.redact(refusal)).toBe(refusal);
    expect(r.redact('posted to http://h/x?key=hunter2hunter2: 401')).toBe('posted to http://h/x?key=[REDACTED]: 401');
    expect(r.redact('(see http://h/x?token=abcdef123456).')).toBe('(see http://h/x?token=[REDACTED]).');
    expect(r.redact('"http://h/x?key=abcdef123456", next')).toBe('"http://h/x?key=[REDACTED]", next');
    // A registered secret is masked first; the query pattern must not mask the mask again.
    r.addSecret('wrong');
    expect(r.redact('POST /hook?key=wrong 401')).toBe('POST /hook?key=[REDACTED] 401');
  });

  it('ignores values too short to be secrets', () => {
    const r = new Redactor();
    r.addSecret('ab');
    expect(r.redact('abc ab')).toBe('abc ab');
  });
});
