import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { RunTokenSource } from '../../src/auth/token-cache.js';
import { createContext } from '../../src/context.js';
import { InterruptedError, UsageError } from '../../src/errors.js';
import { parsePositiveInt } from '../../src/services/catalog/listing.js';
import { defaultsFromFlags, validateCallReason, type CallReasonInput } from '../../src/services/call-reasons/record.js';
import { MAX_CSV_RECORD_BYTES, readCsv } from '../../src/services/call-reasons/upload/csv-reader.js';
import { spoolInput } from '../../src/services/call-reasons/upload/spool.js';
import { parseExportOptions } from '../../src/services/exports/exports.js';
import { collectNumbers, parseNumberText, readNumberStream } from '../../src/services/numbers/input.js';
import { durationFlag, pollIntervalFlag } from '../../src/util/flags.js';
import { inputFileError, nonTextKind } from '../../src/util/input-file.js';
import { normalisePhoneNumber } from '../../src/util/phone.js';
import { characterProblem, escapeText, quoteValue } from '../../src/util/text.js';
import { parseDuration, parseTime } from '../../src/util/time.js';

const NOW = Date.parse('2026-05-10T12:00:00Z');
const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';

let dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  dirs = [];
});

function workDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'tcb-bad-input-'));
  dirs.push(dir);
  return dir;
}

function usageErrorOf(run: () => unknown): UsageError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

/** A source of `chunk` repeated forever, counting what was pulled from it. */
function endless(chunk: Buffer): { stream: Readable; pulled: () => number } {
  let pulled = 0;
  const stream = new Readable({
    read() {
      pulled += chunk.length;
      this.push(chunk);
    },
  });
  return { stream, pulled: () => pulled };
}

describe('values in messages', () => {
  it('escapes invisible characters and cuts long values to 64 characters', () => {
    expect(quoteValue('919810001000\u200b')).toBe('"919810001000\\u200b"');
    expect(escapeText('a\u0000b\u001bc\u0007\t"\\')).toBe('a\\u0000b\\u001bc\\u0007\\t\\"\\\\');
    expect(escapeText('Jos\ufffd')).toBe('Jos\\ufffd');
    expect(escapeText('Grüße आपका')).toBe('Grüße आपका');
    const long = escapeText('x'.repeat(10_000));
    expect(long).toBe(`${'x'.repeat(64)}…`);
    const escapes = escapeText('\u0000'.repeat(1000));
    expect(escapes.length).toBeLessThanOrEqual(65);
  });

  it('names bytes that were not UTF-8 and control characters', () => {
    expect(characterProblem('Jos\ufffd Ba\ufffdo')).toBe('is not valid UTF-8');
    expect(characterProblem('Acme\u0007Bank')).toBe('has a control character (\\u0007)');
    expect(characterProblem('Acme\u0000')).toBe('has a control character (\\u0000)');
    expect(characterProblem('Acme Bank – Grüße')).toBeUndefined();
    expect(characterProblem('two\nlines')).toBe('has a control character (\\n)');
    expect(characterProblem('two\r\nlines\t', { allowWhitespace: true })).toBeUndefined();
    expect(characterProblem('two\u0000', { allowWhitespace: true })).toBe('has a control character (\\u0000)');
  });

  it('a phone number with a zero-width space shows it escaped', () => {
    const result = normalisePhoneNumber('919810001000\u200b');
    expect(result).toEqual({ ok: false, reason: '"919810001000\\u200b" has characters other than digits' });
    expect(normalisePhoneNumber('9198\ufffd1000')).toMatchObject({ reason: '"9198\\ufffd1000" is not valid UTF-8' });
  });
});

describe('times and durations', () => {
  it('refuse times outside 1970-9999 instead of failing later', () => {
    for (const input of ['99999999999999999999', '10000000000000000', '+1000000000d', '1960-01-01', '0099-01-01', '-100000w']) {
      expect(() => parseTime(input, NOW), input).toThrow(/outside the years 1970 to 9999/);
    }
    expect(parseTime('9999-12-31T23:59:59Z', NOW)).toBe(Date.UTC(9999, 11, 31, 23, 59, 59));
    expect(parseTime('1970-01-02T00:00:00Z', NOW)).toBe(86_400_000);
  });

  it('`0` gets a useful hint, not "try 0000"; ten digits still suggest milliseconds', () => {
    const zero = (() => {
      try {
        parseTime('0', NOW);
      } catch (error) {
        return (error as Error).message;
      }
      return '';
    })();
    expect(zero).toMatch(/not a plausible time/);
    expect(zero).not.toMatch(/try 0+\b/);
    expect(() => parseTime('1714550400', NOW)).toThrow(/try 1714550400000/);
  });

  it('durations too long for a timer are refused; poll intervals have a 1 s floor', () => {
    expect(() => parseDuration('99999999999999999999d')).toThrow(/too long/);
    expect(() => durationFlag('100000w', '--wait-timeout')).toThrow(/at most 24d/);
    expect(usageErrorOf(() => pollIntervalFlag('1ms')).message).toBe('--interval must be at least 1s (got "1ms")');
    expect(() => pollIntervalFlag('999ms')).toThrow(UsageError);
    expect(() => pollIntervalFlag('0.5')).toThrow(UsageError);
    expect(pollIntervalFlag('1s')).toBe(1000);
    expect(pollIntervalFlag('2')).toBe(2000);
  });

  it('an export whose --from is after --to, or in the future with the default --to, is refused before sending', () => {
    const settings = { format: 'json' as const, formatExplicit: false };
    expect(usageErrorOf(() => parseExportOptions('cmb', { from: '+2d' }, settings, NOW)).message).toMatch(/in the future; --to defaults to now/);
    expect(() => parseExportOptions('cmb', { from: '-1h', to: '-2h' }, settings, NOW)).toThrow(/is after --to/);
    expect(parseExportOptions('cmb', { from: 'now' }, settings, NOW).from).toBe(NOW);
  });
});

describe('flags with a maximum', () => {
  it('--limit names its maximum', () => {
    expect(usageErrorOf(() => parsePositiveInt('99999999999999999999', '--limit')).message).toBe(
      '--limit must be a whole number from 1 to 2147483647 (got "99999999999999999999")',
    );
    expect(parsePositiveInt('2147483647', '--limit')).toBe(2_147_483_647);
  });

  it('TCB_MAX_RETRIES is at most 20', () => {
    const context = (value: string) =>
      createContext({}, { TCB_MAX_RETRIES: value, TCB_CONFIG_DIR: workDir() }, { stdinIsTTY: false, stdoutIsTTY: false, stderrIsTTY: false });
    expect(context('20').retryPolicy().maxRetries).toBe(20);
    expect(context('0').retryPolicy().maxRetries).toBe(0);
    for (const bad of ['21', '1000000', '-1', '2.5', 'many']) {
      expect(() => context(bad).retryPolicy(), bad).toThrow(/TCB_MAX_RETRIES must be a whole number from 0 to 20/);
    }
  });
});

describe('call-reason fields', () => {
  const row = (patch: CallReasonInput): CallReasonInput => ({
    caller_number: '911234567890',
    receiver_number: '919876543210',
    starts_at: String(NOW),
    ends_at: String(NOW + 3_600_000),
    label_id: LABEL,
    dynamic_label_name: 'Acme Bank',
    dynamic_call_reason: 'Your parcel is on its way',
    ...patch,
  });
  const messages = (input: CallReasonInput): string[] => {
    const result = validateCallReason(input, { now: NOW });
    return result.ok ? [] : result.errors.map((e) => e.message);
  };

  it('text that was not UTF-8 is named as such, in the label name and in the reason', () => {
    expect(messages(row({ dynamic_label_name: 'Jos\ufffd Ba\ufffdo' }))).toEqual(['dynamic_label_name is not valid UTF-8']);
    expect(messages(row({ dynamic_call_reason: 'Your order \ufffds here' }))).toEqual(['dynamic_call_reason is not valid UTF-8']);
  });

  it('control characters are refused in every text field', () => {
    expect(messages(row({ dynamic_label_name: 'Acme\u0007Bank' }))).toEqual(['dynamic_label_name has a control character (\\u0007)']);
    expect(messages(row({ dynamic_label_name: 'Acme\u0000Bank' }))).toEqual(['dynamic_label_name has a control character (\\u0000)']);
    expect(messages(row({ dynamic_call_reason: 'Your \u001b[31morder is here' }))).toEqual([
      'dynamic_call_reason has a control character (\\u001b)',
    ]);
    expect(messages(row({ label_id: `${LABEL}\u0000` }))).toEqual(['label_id has a control character (\\u0000)']);
  });

  it('a bad character in a default flag is named as the flag', () => {
    expect(() => defaultsFromFlags({ labelName: 'Acme\u0007' }, NOW)).toThrow('--label-name has a control character (\\u0007)');
    expect(() => defaultsFromFlags({ reason: 'Your order \ufffd' }, NOW)).toThrow('--reason is not valid UTF-8');
    expect(defaultsFromFlags({ labelName: ' Acme Bank ' }, NOW).dynamic_label_name).toBe('Acme Bank');
  });

  it('epoch milliseconds past the year 9999 are refused; a huge value is shown cut', () => {
    expect(messages(row({ ends_at: '9999999999999999' }))).toEqual(['ends_at: "9999999999999999" is outside the years 1970 to 9999']);
    expect(messages(row({ ends_at: '999999999999999' }))[0]).toMatch(/^ends_at 999999999999999 is not a plausible .*9999\)$/);
    const long = messages(row({ label_id: 'z'.repeat(60_000) }))[0]!;
    expect(long.length).toBeLessThan(120);
  });
});

describe('numbers files', () => {
  it('a line longer than 1 KiB is refused, naming the line', () => {
    const text = `919810001000\n${'9'.repeat(2000)}\n`;
    expect(() => parseNumberText(text, 'n.txt')).toThrow('n.txt:2: the line is longer than 1 KiB');
  });

  it('an endless stream without a line break is refused after 1 KiB, not read to the end', async () => {
    const source = endless(Buffer.alloc(512, '9'));
    const error = await rejection(readNumberStream(source.stream, 'stdin'));
    expect(error.message).toBe('stdin:1: the line is longer than 1 KiB');
    // held for the text check (4 KiB), then refused: a few chunks, not the stream
    expect(source.pulled()).toBeLessThan(64 * 1024);
  });

  it('binary and UTF-16 input is named as such', async () => {
    const zeros = endless(Buffer.alloc(1024));
    expect((await rejection(readNumberStream(zeros.stream, 'stdin'))).message).toMatch(/^stdin is not a text file/);
    const utf16 = Buffer.from('\ufeffphone_number\n919810001000\n', 'utf16le');
    expect((await rejection(readNumberStream(Readable.from([utf16]), 'n.csv'))).message).toMatch(/^n\.csv is UTF-16 \(little-endian\) text/);
  });

  it('lines of spaces in a CSV are blank, not invalid entries', () => {
    expect(parseNumberText('phone_number,name\n919810001000,a\n   \n\t\n919810001037,b\n', 'x.csv')).toEqual([
      { input: '919810001000', source: 'x.csv:2' },
      { input: '919810001037', source: 'x.csv:5' },
    ]);
  });

  it('the details of many invalid entries are capped at 20 plus a count, each cut to 64 characters', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `${'x'.repeat(900)}${i}`).join('\n');
    let error: UsageError | undefined;
    try {
      await collectNumbers({ args: [], file: '-', readStdin: async () => lines });
    } catch (caught) {
      error = caught as UsageError;
    }
    expect(error).toBeInstanceOf(UsageError);
    const details = error!.details as { invalid: { input: string; reason: string }[]; invalid_count: number };
    expect(details.invalid_count).toBe(5000);
    expect(details.invalid).toHaveLength(20);
    for (const entry of details.invalid) {
      expect(entry.input.length).toBeLessThanOrEqual(65);
      expect(entry.reason.length).toBeLessThan(120);
    }
    expect(JSON.stringify(details).length).toBeLessThan(10_000);
    expect(error!.message.length).toBeLessThan(5_000);
    expect(error!.message).toContain('… and 4980 more');
  });
});

describe('CSV input', () => {
  async function rowsOf(content: string | Buffer): Promise<[number, string[]][]> {
    const file = path.join(workDir(), 'x.csv');
    writeFileSync(file, content);
    const rows: [number, string[]][] = [];
    await readCsv(file, { onHeader: () => {}, onRow: (line, fields) => rows.push([line, fields]) });
    return rows;
  }

  it('skips lines of only spaces or tabs, keeping line numbers', async () => {
    expect(await rowsOf('a,b\n1,2\n   \n\t\n3,4\n')).toEqual([
      [2, ['1', '2']],
      [5, ['3', '4']],
    ]);
  });

  it('refuses a record longer than 64 KiB at its line, also one of endless empty fields', async () => {
    const long = `a,b\n1,2\n3,${'x'.repeat(MAX_CSV_RECORD_BYTES + 10)}\n5,6\n`;
    expect((await rejection(rowsOf(long))).message).toMatch(/: line 3: the record is longer than 64 KiB$/);
    const commas = `a,b\n1,2\n${','.repeat(200_000)}`;
    expect((await rejection(rowsOf(commas))).message).toMatch(/: line 3: the record is longer than 64 KiB$/);
    const openQuote = `a,b\n1,"2\n${'y\n'.repeat(40_000)}`;
    expect((await rejection(rowsOf(openQuote))).message).toMatch(/: line 2: the record is longer than 64 KiB$/);
  });

  it('stops reading at the first chunk where an open record passes 64 KiB, not at the end of the file', async () => {
    const file = path.join(workDir(), 'commas.csv');
    writeFileSync(file, `a,b\n${','.repeat(8 * 1024 * 1024)}`);
    let chunks = 0;
    const error = await rejection(readCsv(file, { onHeader: () => {}, onRow: () => {}, afterChunk: () => void (chunks += 1) }));
    expect(error.message).toMatch(/: line 2: the record is longer than 64 KiB$/);
    expect(chunks).toBeLessThanOrEqual(2);
  });

  it('names UTF-16 (with or without a byte-order mark), UTF-32 and binary files', async () => {
    const text = 'caller_number,receiver_number\n911234567890,919876543210\n';
    const be = Buffer.from(text, 'utf16le').swap16();
    expect((await rejection(rowsOf(be))).message).toMatch(/is UTF-16 \(big-endian\) text without a byte-order mark, not UTF-8/);
    expect((await rejection(rowsOf(Buffer.from(text, 'utf16le')))).message).toMatch(/is UTF-16 \(little-endian\) text without/);
    expect((await rejection(rowsOf(Buffer.concat([Buffer.from([0xfe, 0xff]), be])))).message).toMatch(/is UTF-16 \(big-endian\) text, not UTF-8/);
    expect((await rejection(rowsOf(Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0, 0x2c, 0x0a])))).message).toMatch(
      /is not a text file \(binary data\)/,
    );
    expect(nonTextKind(Buffer.from([0xff, 0xfe, 0, 0, 0x61, 0, 0, 0]))).toBe('UTF-32 text');
    expect(nonTextKind(Buffer.from(`\ufeff${text}`))).toBeUndefined();
    // a stray NUL or a Latin-1 byte is reported at its line, not as a binary file
    expect(nonTextKind(Buffer.from(`${text}911234567890,9198\u0000\n`))).toBeUndefined();
    expect(nonTextKind(Buffer.concat([Buffer.from(text), Buffer.from('Jos\u00e9 Ba\u00f1o\n', 'latin1')]))).toBeUndefined();
    const random = Buffer.alloc(4096);
    for (let i = 0; i < random.length; i += 1) random[i] = (i * 7919 + 13) % 251;
    expect(nonTextKind(random)).toBe('not a text file (binary data)');
  });

  it('path errors name the path instead of being a bug', async () => {
    const dir = workDir();
    symlinkSync(path.join(dir, 'loop-b'), path.join(dir, 'loop-a'));
    symlinkSync(path.join(dir, 'loop-a'), path.join(dir, 'loop-b'));
    const read = (file: string) => readCsv(file, { onHeader: () => {}, onRow: () => {} });
    expect((await rejection(read(path.join(dir, 'loop-a')))).message).toMatch(/^cannot read .*loop-a: .*\(ELOOP\)$/);
    expect((await rejection(read(path.join(dir, 'n'.repeat(300))))).message).toMatch(/\(ENAMETOOLONG\)$/);
    expect((await rejection(read(dir))).message).toMatch(/it is a directory \(EISDIR\)$/);
    const notErrno = new Error('boom');
    expect(inputFileError(notErrno, 'x')).toBe(notErrno);
  });
});

describe('spooling stdin', () => {
  it('stops at once when interrupted while the producer is silent, removing the copy', async () => {
    const before = new Set(readdirSync(tmpdir()));
    const stdin = new PassThrough();
    stdin.write('caller_number,receiver_number\n');
    const controller = new AbortController();
    const spooling = spoolInput(stdin, 'stdin', controller.signal);
    const created = readdirSync(tmpdir()).filter((name) => name.startsWith('tcb-upload-') && !before.has(name));
    expect(created).toHaveLength(1);
    controller.abort();
    const error = await rejection(spooling);
    expect(error).toBeInstanceOf(InterruptedError);
    expect(error.message).toBe('interrupted while reading stdin: nothing was sent');
    expect(existsSync(path.join(tmpdir(), created[0]!))).toBe(false);
  });

  it('refuses endless input without line breaks before filling the disk', async () => {
    const source = endless(Buffer.alloc(16 * 1024, 'a'));
    const error = await rejection(spoolInput(source.stream, 'stdin', new AbortController().signal));
    expect(error.message).toBe('stdin: line 1: the record is longer than 64 KiB');
    expect(source.pulled()).toBeLessThan(1024 * 1024);
  });

  it('refuses binary input from its first bytes', async () => {
    const source = endless(Buffer.alloc(16 * 1024));
    const error = await rejection(spoolInput(source.stream, 'stdin', new AbortController().signal));
    expect(error.message).toMatch(/^stdin is not a text file/);
    expect(source.pulled()).toBeLessThan(1024 * 1024);
  });
});

describe('tokens without a cache', () => {
  it('one token for the whole run, shared by concurrent requests; a rejected one is replaced once', async () => {
    let issued = 0;
    const source = new RunTokenSource(async () => ({ token: `t${++issued}`, created_at: new Date().toISOString() }));
    expect(await Promise.all([source.current(), source.current(), source.current()])).toEqual(['t1', 't1', 't1']);
    expect(await source.renew('t1')).toBe('t2');
    expect(await source.renew('t1')).toBe('t2');
    expect(issued).toBe(2);
  });
});
