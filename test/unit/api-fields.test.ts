import { describe, expect, it } from 'vitest';
import { buildBody, parseField, parseHeader, toQuery, typedValue, type FieldArgument } from '../../src/services/tools/api-fields.js';
import { UsageError } from '../../src/errors.js';

const files: Record<string, string> = { 'note.txt': 'line one\nline two\n', '-': 'from stdin' };
const read = (source: string) => {
  if (!(source in files)) throw new Error(`unexpected read of ${source}`);
  return files[source]!;
};
const f = (text: string): FieldArgument => ({ flag: '-f', text });
const F = (text: string): FieldArgument => ({ flag: '-F', text });
const body = (...fields: FieldArgument[]) => buildBody(fields.map((field) => parseField(field, read)));

describe('typed values (-F)', () => {
  it('turns true, false, null and JSON numbers into literals', () => {
    expect(typedValue('true')).toBe(true);
    expect(typedValue('false')).toBe(false);
    expect(typedValue('null')).toBeNull();
    expect(typedValue('42')).toBe(42);
    expect(typedValue('-7')).toBe(-7);
    expect(typedValue('1.5')).toBe(1.5);
    expect(typedValue('2e3')).toBe(2000);
  });

  it('keeps text that is not exactly a JSON literal: leading zeros, +, big ids, words', () => {
    expect(typedValue('0123')).toBe('0123');
    expect(typedValue('+91123')).toBe('+91123');
    expect(typedValue('12345678901234567890')).toBe('12345678901234567890');
    expect(typedValue('True')).toBe('True');
    expect(typedValue('1.')).toBe('1.');
    expect(typedValue('')).toBe('');
  });
});

describe('fields → JSON body', () => {
  it('-f is always a string, -F typed; @file and @- read text', () => {
    expect(body(f('a=1'), F('b=1'), F('c=true'), F('note=@note.txt'), F('s=@-'))).toEqual({
      a: '1',
      b: 1,
      c: true,
      note: 'line one\nline two\n',
      s: 'from stdin',
    });
    expect(body(f('x=@note.txt'))).toEqual({ x: '@note.txt' });
  });

  it('keeps everything after the first = in the value', () => {
    expect(body(f('q=a=b=c'), f('empty='))).toEqual({ q: 'a=b=c', empty: '' });
  });

  it('nests objects and arrays, and a bare key[] is an empty array', () => {
    expect(body(F('phone_numbers[]=911234567891'), f('phone_numbers[]=911234567892'), f('a[b][c]=deep'), f('none[]'))).toEqual({
      phone_numbers: [911234567891, '911234567892'],
      a: { b: { c: 'deep' } },
      none: [],
    });
  });

  it('fills one object per array item until a key repeats', () => {
    expect(body(f('r[][id]=1'), f('r[][name]=one'), f('r[][id]=2'), f('r[][name]=two'))).toEqual({
      r: [
        { id: '1', name: 'one' },
        { id: '2', name: 'two' },
      ],
    });
  });

  it('sets __proto__ as a plain key, never the prototype', () => {
    const result = body(f('__proto__[polluted]=yes'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(result)).toBe('{"__proto__":{"polluted":"yes"}}');
  });

  it('refuses conflicting and malformed fields, naming the argument', () => {
    expect(() => body(f('a=1'), f('a=2'))).toThrow(/-f a=2: a is already set to a string; to send a list use a\[\]=/);
    expect(() => body(f('a=1'), f('a[b]=2'))).toThrow(/-f a\[b\]=2: a is already a string, not an object/);
    expect(() => body(f('a[b]=1'), f('a[]=2'))).toThrow(/a is already an object, not an array/);
    expect(() => body(f('novalue'))).toThrow(/-f novalue: expected key=value/);
    expect(() => body(f('=x'))).toThrow(UsageError);
    expect(() => body(f('a[b=1'))).toThrow(/is not a field name/);
  });
});

describe('fields → query string', () => {
  it('keeps keys as typed and literals as text', () => {
    const fields = [f('page=2'), F('limit=10'), F('flag=true'), f('a[b]=c')].map((field) => parseField(field, read));
    expect(toQuery(fields)).toEqual([
      ['page', '2'],
      ['limit', '10'],
      ['flag', 'true'],
      ['a[b]', 'c'],
    ]);
    expect(() => toQuery([parseField(f('x[]'), read)])).toThrow(/empty array has no query-string form/);
  });
});

describe('headers (-H)', () => {
  it('parses Name: value and trims', () => {
    expect(parseHeader('X-Trace:  abc ')).toEqual(['X-Trace', 'abc']);
    expect(parseHeader('Accept: application/json')).toEqual(['Accept', 'application/json']);
    expect(parseHeader('X-Empty:')).toEqual(['X-Empty', '']);
  });

  it('refuses Authorization, malformed names and values that would split the request', () => {
    expect(() => parseHeader('authorization: Bearer x')).toThrow(/tcb sends its own token/);
    expect(() => parseHeader('no colon here')).toThrow(/expected "Name: value"/);
    expect(() => parseHeader('Bad Name: x')).toThrow(/expected "Name: value"/);
    expect(() => parseHeader('X: a\r\nInjected: yes')).toThrow(/control characters/);
    expect(() => parseHeader('X: ☃')).toThrow(/outside Latin-1/);
  });
});
