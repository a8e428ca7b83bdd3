import { PassThrough } from 'node:stream';
import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { csvLines, guardCell } from '../../src/output/csv.js';
import { Output } from '../../src/output/output.js';

/** Values that break naive CSV writers, and what a spreadsheet would run as a formula. */
const AWKWARD = [
  'Fresh\rFlower',
  '\rCMB',
  'line one\nline two',
  'crlf\r\ninside',
  'ends with CR\r',
  'say "hi"',
  '"',
  'a,b',
  ',',
  '=HYPERLINK("http://example.com")',
  '+911234567890',
  '-5',
  '@SUM(A1)',
  '\tTabbed',
  'plain',
  '',
];

/** What a reader should get back: the value, with the formula guard's leading ' where it applies. */
const expected = (value: string) => (/^[=+\-@\t\r]/.test(value) ? `'${value}` : value);

/** Like Python's csv and spreadsheets: CR, LF and CRLF all end a record outside quotes. */
const readCsv = (text: string, options: { columns?: boolean } = {}) =>
  parse(text, { record_delimiter: ['\r\n', '\n', '\r'], ...options });

describe('CSV output (RFC 4180)', () => {
  it('round-trips CR, LF, CRLF, quotes, commas and guarded formulas through a real CSV parser', () => {
    const columns = AWKWARD.map((_, i) => `c${i}`);
    const row = Object.fromEntries(AWKWARD.map((value, i) => [`c${i}`, value]));
    const text = csvLines([row, row], columns, true);
    const records = readCsv(text) as string[][];
    expect(records).toHaveLength(3);
    expect(records[0]).toEqual(columns);
    expect(records[1]).toEqual(AWKWARD.map(expected));
    expect(records[2]).toEqual(AWKWARD.map(expected));
  });

  it('quotes every field holding a comma, a quote, CR or LF, and only those', () => {
    expect(csvLines([{ v: 'Fresh\rFlower' }], ['v'], false)).toBe('"Fresh\rFlower"\n');
    // The guard's own output is quoted too.
    expect(csvLines([{ v: '\rCMB' }], ['v'], false)).toBe(`"'\rCMB"\n`);
    expect(csvLines([{ v: 'plain' }], ['v'], false)).toBe('plain\n');
    expect(guardCell('=1+1')).toBe("'=1+1");
  });

  it('the list writer (every --format csv) quotes a bare CR across pages', async () => {
    const stdout = new PassThrough();
    let out = '';
    stdout.on('data', (chunk) => (out += chunk));
    const output = new Output({ format: 'csv', color: false, stderrColor: false, stderrIsTTY: false, verbose: false, quiet: false, stdout });
    const writer = output.listWriter<{ id: string; feature_set: string }>([]);
    await writer.write([{ id: '1', feature_set: 'Fresh\rFlower' }]);
    await writer.write([{ id: '2', feature_set: 'x\r\ny' }]);
    await writer.end();
    expect(readCsv(out, { columns: true })).toEqual([
      { id: '1', feature_set: 'Fresh\rFlower' },
      { id: '2', feature_set: 'x\r\ny' },
    ]);
  });
});
