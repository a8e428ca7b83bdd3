import { describe, expect, it } from 'vitest';
import { isJsonContentType, reformatJson } from '../../src/output/json-text.js';

const samples = [
  '{"a":1,"b":[1,2,{"c":null}],"d":{},"e":[],"f":"x"}',
  ' [ { "k" : "v" , "n" : -1.5 } , true , false ] ',
  '"just a string"',
  '42',
  '{"quote":"he said \\"hi\\", then {left}","slash":"a\\\\b"}',
  '{"nested":{"deeper":{"deepest":[[],[{}],[[1]]]}}}',
];

describe('reformatJson', () => {
  it('matches JSON.stringify, compact and indented, on ordinary JSON', () => {
    for (const sample of samples) {
      const value = JSON.parse(sample);
      expect(reformatJson(sample, 0)).toBe(JSON.stringify(value));
      expect(JSON.parse(reformatJson(sample, 2))).toEqual(value);
    }
    expect(reformatJson('{"a":[1,{"b":2}],"c":{}}', 2)).toBe(JSON.stringify({ a: [1, { b: 2 }], c: {} }, null, 2));
  });

  it('indents exactly like JSON.stringify at any width, whatever whitespace the server sent', () => {
    const spaced = [...samples, '{\r\n\t"a" :\t[ \n ] ,\n"b":{ \t\r\n}, "c":"ends in a backslash \\\\", "d": [ 1 ,2 ] }'];
    for (const sample of spaced) {
      const value = JSON.parse(sample);
      for (const indent of [1, 2, 4]) expect(reformatJson(sample, indent), `${sample} @${indent}`).toBe(JSON.stringify(value, null, indent));
      expect(reformatJson(sample, 0)).toBe(JSON.stringify(value));
    }
  });

  it('keeps every literal as sent: big ids, 1.0, escapes', () => {
    const text = '{ "id": 12345678901234567890, "ratio": 1.0, "s": "\\u00e9\\n \\ud83d\\ude00" }';
    expect(reformatJson(text, 0)).toBe('{"id":12345678901234567890,"ratio":1.0,"s":"\\u00e9\\n \\ud83d\\ude00"}');
    expect(reformatJson(text, 2)).toContain('"id": 12345678901234567890');
  });
});

describe('isJsonContentType', () => {
  it('knows the JSON media types', () => {
    expect(isJsonContentType('application/json; charset=utf-8')).toBe(true);
    expect(isJsonContentType('application/vnd.api+json; version=1.0')).toBe(true);
    expect(isJsonContentType('text/csv')).toBe(false);
    expect(isJsonContentType(null)).toBe(false);
    expect(isJsonContentType(undefined)).toBe(false);
    expect(isJsonContentType('')).toBe(false);
    expect(isJsonContentType(' Application/JSON ')).toBe(true);
    expect(isJsonContentType('text/json')).toBe(true);
    expect(isJsonContentType('application/problem+json')).toBe(true);
    expect(isJsonContentType('application/jsonp')).toBe(false);
    expect(isJsonContentType('application/json-seq')).toBe(false);
    expect(isJsonContentType('text/plain; note=application/json')).toBe(false);
  });
});
