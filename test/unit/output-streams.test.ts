// The output module in detail: which stream each kind of line goes to and when, every format of
// lists and objects, the error envelope, redaction, and files that appear only when complete.
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { openAtomicFile, removePendingTempFiles } from '../../src/output/atomic-file.js';
import { columnsOf, csvLines, guardCell } from '../../src/output/csv.js';
import { Output, toEnvelope, type OutputOptions } from '../../src/output/output.js';
import { Redactor, redactUrl, redactor } from '../../src/output/redact.js';
import { ApiError, PartialFailureError, UsageError } from '../../src/errors.js';
import type { Format } from '../../src/config/settings.js';

interface Captured {
  output: Output;
  out: () => string;
  err: () => string;
}

function capture(format: Format, options: Partial<OutputOptions> = {}): Captured {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  const output = new Output({ format, color: false, stderrColor: false, stderrIsTTY: false, verbose: false, quiet: false, stdout, stderr, ...options });
  return { output, out: () => out, err: () => err };
}

const ESC = '\u001b[';

describe('stderr lines: who sees what', () => {
  const lines = (c: Captured) => {
    c.output.info('an info line');
    c.output.success('done');
    c.output.warn('careful');
    c.output.debug('→ GET /x');
    return c.err();
  };

  it('without a TTY: nothing unless --verbose', () => {
    expect(lines(capture('json'))).toBe('');
  });

  it('on a TTY: info, success and warnings; debug only with --verbose', () => {
    expect(lines(capture('table', { stderrIsTTY: true }))).toBe('an info line\n✓ done\nWarning: careful\n');
  });

  it('--verbose without a TTY: everything, debug included', () => {
    expect(lines(capture('json', { verbose: true }))).toBe('an info line\n✓ done\nWarning: careful\n→ GET /x\n');
  });

  it('--quiet silences info and success, not warnings or debug', () => {
    expect(lines(capture('table', { stderrIsTTY: true, quiet: true, verbose: true }))).toBe('Warning: careful\n→ GET /x\n');
  });

  it('colour on stderr follows stderrColor, not the stdout colour', () => {
    const coloured = capture('table', { stderrIsTTY: true, stderrColor: true });
    coloured.output.warn('w');
    coloured.output.success('s');
    expect(coloured.err()).toBe(`${ESC}33mWarning:${ESC}39m w\n${ESC}32m✓${ESC}39m s\n`);
    const plain = capture('table', { stderrIsTTY: true, color: true });
    plain.output.warn('w');
    expect(plain.err()).toBe('Warning: w\n');
    expect(plain.output.color.bold('x')).toBe(`${ESC}1mx${ESC}22m`);
  });

  it('showsProgress: a TTY on stderr and not --quiet', () => {
    expect(capture('json', { stderrIsTTY: true }).output.showsProgress).toBe(true);
    expect(capture('json', { stderrIsTTY: true, quiet: true }).output.showsProgress).toBe(false);
    expect(capture('json').output.showsProgress).toBe(false);
    expect(capture('json', { verbose: true }).output.verbose).toBe(true);
    expect(capture('json').output.verbose).toBe(false);
  });

  it('what the user asked to see (--include) is written whatever the terminal, and redacted', () => {
    redactor.addSecret('included-secret-value');
    const c = capture('json', { quiet: true });
    c.output.requested('HTTP/1.1 200 OK\nx-echo: included-secret-value\n');
    c.output.report('line 3: rejected');
    expect(c.err()).toBe('HTTP/1.1 200 OK\nx-echo: [REDACTED]\nline 3: rejected\n');
    expect(c.out()).toBe('');
  });

  it('every stderr line goes through the redactor', () => {
    redactor.addSecret('registered-secret-value');
    const c = capture('json', { verbose: true });
    c.output.debug('sent registered-secret-value');
    c.output.warn('again registered-secret-value');
    expect(c.err()).toBe('sent [REDACTED]\nWarning: again [REDACTED]\n');
  });
});

describe('lists', () => {
  const COLUMNS = [
    { header: 'Id', value: (r: Record<string, unknown>) => r.id },
    { header: 'Tags', value: (r: Record<string, unknown>) => r.tags },
  ];

  it('json: pretty, one array across pages, a final newline', async () => {
    const c = capture('json');
    const writer = c.output.listWriter(COLUMNS);
    await writer.write([{ id: 'a', n: { x: 1 } }]);
    await writer.write([]);
    await writer.write([{ id: 'b' }]);
    await writer.end();
    expect(c.out()).toBe('[\n  {\n    "id": "a",\n    "n": {\n      "x": 1\n    }\n  },\n  {\n    "id": "b"\n  }\n]\n');
  });

  it('json: a long list (written in slices) is still exactly one pretty array', async () => {
    const c = capture('json');
    const rows = Array.from({ length: 2_345 }, (_, i) => ({ id: `r${i}`, n: i }));
    const writer = c.output.listWriter(COLUMNS);
    await writer.write(rows.slice(0, 1_500));
    await writer.write(rows.slice(1_500));
    await writer.end();
    expect(c.out()).toBe(`${JSON.stringify(rows, null, 2)}\n`);
  });

  it('json: nothing at all is []', async () => {
    const c = capture('json');
    await c.output.list([], COLUMNS);
    expect(c.out()).toBe('[]\n');
  });

  it('ndjson: one compact object per line; nothing for no rows', async () => {
    const c = capture('ndjson');
    const writer = c.output.listWriter(COLUMNS);
    await writer.write([]);
    await writer.write([{ id: 'a', n: [1, 2] }]);
    await writer.end();
    expect(c.out()).toBe('{"id":"a","n":[1,2]}\n');
  });

  it('csv: the header from the first rows, once; empty pages write nothing', async () => {
    const c = capture('csv');
    const writer = c.output.listWriter(COLUMNS);
    await writer.write([]);
    await writer.write([{ id: 'a', n: 1 }]);
    await writer.write([{ id: 'b', n: 2, extra: 'ignored' }]);
    await writer.end();
    expect(c.out()).toBe('id,n\na,1\nb,2\n');
  });

  it('table: the given columns, printed at the end; arrays joined, objects as JSON, empties blank', async () => {
    const c = capture('table');
    const writer = c.output.listWriter(COLUMNS);
    await writer.write([{ id: 'a', tags: ['x', 'y'] }]);
    await writer.write([{ id: 'b', tags: { k: 1 } }, { id: '', tags: null }]);
    expect(c.out()).toBe('');
    await writer.end();
    expect(c.out()).toBe(
      ['┌────┬─────────┐', '│ Id │ Tags    │', '├────┼─────────┤', '│ a  │ x, y    │', '│ b  │ {"k":1} │', '│    │         │', '└────┴─────────┘', ''].join('\n'),
    );
  });

  it('table: no rows says so on stderr (on a TTY) and prints nothing', async () => {
    const c = capture('table', { stderrIsTTY: true });
    await c.output.list([], COLUMNS);
    expect(c.out()).toBe('');
    expect(c.err()).toBe('No results.\n');
  });

  it('renderTable: bold headers when stdout has colour; numbers and undefined cells', () => {
    const c = capture('table', { color: true });
    const text = c.output.renderTable(['A', 'B'], [[1, undefined], [false, 'x']]);
    expect(text.split('\n')[1]).toBe(`│ ${ESC}1mA${ESC}22m     │ ${ESC}1mB${ESC}22m │`);
    expect(text.split('\n').slice(3, 5)).toEqual(['│ 1     │   │', '│ false │ x │']);
  });
});

describe('objects', () => {
  const value = { id: 'a', count: 2, nested: { ok: true } };

  it('json is pretty; ndjson one line; csv a header and a row', async () => {
    const json = capture('json');
    await json.output.object(value, () => 'human');
    expect(json.out()).toBe('{\n  "id": "a",\n  "count": 2,\n  "nested": {\n    "ok": true\n  }\n}\n');
    const ndjson = capture('ndjson');
    await ndjson.output.object(value, () => 'human');
    expect(ndjson.out()).toBe('{"id":"a","count":2,"nested":{"ok":true}}\n');
    const csv = capture('csv');
    await csv.output.object(value, () => 'human');
    expect(csv.out()).toBe('id,count,nested\na,2,"{""ok"":true}"\n');
  });

  it('table: the human text with a final newline; an empty text prints nothing', async () => {
    const one = capture('table');
    await one.output.object(value, (v) => `Id ${v.id}`);
    expect(one.out()).toBe('Id a\n');
    const two = capture('table');
    await two.output.object(value, () => 'already\n');
    expect(two.out()).toBe('already\n');
    const none = capture('table');
    await none.output.object(value, () => '');
    expect(none.out()).toBe('');
  });

  it('writeStdout waits for the stream to drain, and writes nothing for an empty string', async () => {
    const chunks: string[] = [];
    let drained = false;
    const slow = new Writable({
      highWaterMark: 4,
      write(chunk, _encoding, callback) {
        chunks.push(String(chunk));
        setImmediate(() => {
          drained = true;
          callback();
        });
      },
    });
    const output = new Output({ format: 'json', color: false, stderrColor: false, stderrIsTTY: false, verbose: false, quiet: false, stdout: slow, stderr: new PassThrough() });
    await output.writeStdout('');
    expect(chunks).toEqual([]);
    await output.writeStdout('more than four bytes');
    expect(drained).toBe(true);
    expect(chunks).toEqual(['more than four bytes']);
  });
});

describe('the error envelope', () => {
  it('carries every field of a tcb error, field and details only when set', () => {
    const error = new ApiError('rejected', { httpStatus: 400, slug: 'invalid-input', hint: 'fix it', field: 'ends_at', details: { line: 3 } });
    expect(toEnvelope(error)).toEqual({
      code: 'api_error',
      message: 'rejected',
      http_status: 400,
      slug: 'invalid-input',
      hint: 'fix it',
      exit_code: 4,
      field: 'ends_at',
      details: { line: 3 },
    });
    expect(toEnvelope(new PartialFailureError('some failed'))).toEqual({
      code: 'partial_failure',
      message: 'some failed',
      http_status: null,
      slug: null,
      hint: null,
      exit_code: 6,
    });
  });

  it('anything else is a bug: exit 1, the hint depending on --verbose', () => {
    expect(toEnvelope(new TypeError('x is undefined'))).toEqual({
      code: 'internal_error',
      message: 'unexpected error, this is a bug in tcb: x is undefined',
      http_status: null,
      slug: null,
      hint: 'please report it; run again with --verbose to see the stack trace',
      exit_code: 1,
    });
    expect(toEnvelope('a thrown string', true)).toMatchObject({
      message: 'unexpected error, this is a bug in tcb: a thrown string',
      hint: 'please report it with the stack trace below',
    });
  });

  it('JSON on stderr off a TTY or with a data format; text with the hint on a TTY; the stack only with --verbose', () => {
    const pipe = capture('table');
    pipe.output.error(new UsageError('bad flag', { hint: 'see --help' }));
    expect(JSON.parse(pipe.err())).toEqual({ error: { code: 'usage_error', message: 'bad flag', http_status: null, slug: null, hint: 'see --help', exit_code: 2 } });

    const ndjson = capture('ndjson', { stderrIsTTY: true });
    ndjson.output.error(new UsageError('bad flag'));
    expect(JSON.parse(ndjson.err()).error.message).toBe('bad flag');

    const tty = capture('table', { stderrIsTTY: true, stderrColor: true });
    tty.output.error(new UsageError('bad flag', { hint: 'see --help' }));
    expect(tty.err()).toBe(`${ESC}31mError:${ESC}39m bad flag\n${ESC}2mHint:${ESC}22m see --help\n`);
    const noHint = capture('table', { stderrIsTTY: true });
    noHint.output.error(new UsageError('bad flag'));
    expect(noHint.err()).toBe('Error: bad flag\n');

    const bug = new TypeError('boom');
    const quiet = capture('table', { stderrIsTTY: true });
    quiet.output.error(bug);
    expect(quiet.err()).toBe('Error: unexpected error, this is a bug in tcb: boom\nHint: please report it; run again with --verbose to see the stack trace\n');
    const verbose = capture('table', { stderrIsTTY: true, verbose: true });
    verbose.output.error(bug);
    expect(verbose.err()).toBe(`Error: unexpected error, this is a bug in tcb: boom\nHint: please report it with the stack trace below\n${bug.stack}\n`);
    const tcbVerbose = capture('table', { stderrIsTTY: true, verbose: true });
    tcbVerbose.output.error(new UsageError('bad flag'));
    expect(tcbVerbose.err()).toBe('Error: bad flag\n');
    const stringVerbose = capture('table', { stderrIsTTY: true, verbose: true });
    stringVerbose.output.error('thrown text');
    expect(stringVerbose.err()).toBe('Error: unexpected error, this is a bug in tcb: thrown text\nHint: please report it with the stack trace below\n');
  });
});

describe('csv cells', () => {
  it('guardCell: formulas quoted; numbers, booleans and bigints as text; objects as JSON', () => {
    expect(['=1', '+1', '-1', '@A', '\tx', '\rx', 'a=1', ' =1', ''].map(guardCell)).toEqual(["'=1", "'+1", "'-1", "'@A", "'\tx", "'\rx", 'a=1', ' =1', '']);
    expect([0, -3, 1.5, true, false, 10n, null, undefined].map(guardCell)).toEqual(['0', '-3', '1.5', 'true', 'false', '10', '', '']);
    expect(guardCell({ a: '=1' })).toBe('{"a":"=1"}');
    expect(guardCell(['-x'])).toBe('["-x"]');
  });

  it('columnsOf: the union of keys in first-seen order', () => {
    expect(columnsOf([{ b: 1, a: 2 }, { c: 3, a: 4 }, {}])).toEqual(['b', 'a', 'c']);
    expect(columnsOf([])).toEqual([]);
  });

  it('csvLines: with or without a header, missing cells empty, the header guarded too', () => {
    expect(csvLines([{ a: 1 }, { b: 'x' }], ['a', 'b'], true)).toBe('a,b\n1,\n,x\n');
    expect(csvLines([{ a: 1 }], ['a'], false)).toBe('1\n');
    expect(csvLines([{ '=h': 'v' }], ['=h'], true)).toBe("'=h\nv\n");
    expect(csvLines([], ['a'], false)).toBe('');
  });
});

describe('redaction', () => {
  it('masks every occurrence of every registered secret of 4 characters or more', () => {
    const r = new Redactor();
    r.addSecret('s3cr');
    r.addSecret('abc');
    r.addSecret(undefined);
    r.addSecret(null);
    r.addSecret('');
    expect(r.redact('s3cr and s3cr, abc')).toBe('[REDACTED] and [REDACTED], abc');
  });

  it('patterns: Authorization headers, bearer tokens, JSON secret fields, query secrets', () => {
    const r = new Redactor();
    expect(r.redact('Authorization: Bearer abc.def-123')).toBe('Authorization: Bearer [REDACTED]');
    expect(r.redact('authorization="token-xyz"')).toBe('authorization="[REDACTED]"');
    expect(r.redact('AUTHORIZATION = raw-value, next')).toBe('AUTHORIZATION = [REDACTED], next');
    expect(r.redact('sent bearer Abcdefgh12345678 to')).toBe('sent bearer [REDACTED] to');
    expect(r.redact('bearer short')).toBe('bearer short');
    expect(r.redact('{"api_key":"k1","apiKey":"k2","token":"t","access_token":"a","secret":"s","key_id":"id"}')).toBe(
      '{"api_key":"[REDACTED]","apiKey":"[REDACTED]","token":"[REDACTED]","access_token":"[REDACTED]","secret":"[REDACTED]","key_id":"id"}',
    );
    expect(r.redact('{"token" : "spaced"}')).toBe('{"token" : "[REDACTED]"}');
    expect(r.redact('GET /x?key=k1&api_key=k2&token=t3&access_token=t4&page=2')).toBe(
      'GET /x?key=[REDACTED]&api_key=[REDACTED]&token=[REDACTED]&access_token=[REDACTED]&page=2',
    );
    expect(r.redact('GET /x?KEY=upper#frag')).toBe('GET /x?KEY=[REDACTED]#frag');
    expect(r.redact('no secrets here, key=value')).toBe('no secrets here, key=value');
  });

  it('redactUrl uses the process-wide redactor', () => {
    redactor.addSecret('url-secret-1234');
    expect(redactUrl('http://h/p?x=url-secret-1234')).toBe('http://h/p?x=[REDACTED]');
  });
});

describe('atomic files', () => {
  const made: string[] = [];
  const folder = () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'tcb-atomic-'));
    made.push(dir);
    return dir;
  };
  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('the target appears only at commit, replacing what was there, with the given mode', async () => {
    const dir = folder();
    const target = path.join(dir, 'out.csv');
    writeFileSync(target, 'old\n');
    const file = await openAtomicFile(target, 0o640);
    expect(file.path).toBe(target);
    expect(path.dirname(file.tempPath)).toBe(dir);
    expect(path.basename(file.tempPath)).toMatch(new RegExp(`^\\.out\\.csv\\.${process.pid}\\.[0-9a-f]{8}\\.tmp$`));
    await file.write('new ');
    await file.write('content\n');
    expect(readFileSync(target, 'utf8')).toBe('old\n');
    await file.commit();
    expect(readFileSync(target, 'utf8')).toBe('new content\n');
    expect(statSync(target).mode & 0o777).toBe(0o640 & ~process.umask());
    expect(readdirSync(dir)).toEqual(['out.csv']);
    await file.commit(); // a second commit does nothing
    await file.abort(); // nor does an abort after it
    expect(readFileSync(target, 'utf8')).toBe('new content\n');
  });

  it('abort leaves the target as it was and removes the temporary file; the default mode is 0644', async () => {
    const dir = folder();
    const target = path.join(dir, 'sub', 'out.json');
    const file = await openAtomicFile(target);
    await file.write('partial');
    await file.abort();
    await file.commit(); // after an abort, commit does nothing
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(path.join(dir, 'sub'))).toEqual([]);
    const fresh = await openAtomicFile(target);
    await fresh.commit();
    expect(statSync(target).mode & 0o777).toBe(0o644 & ~process.umask());
  });

  it('removePendingTempFiles removes the temporary files of files still open (Ctrl-C), and only those', async () => {
    const dir = folder();
    const open = await openAtomicFile(path.join(dir, 'a.csv'));
    await open.write('x');
    const done = await openAtomicFile(path.join(dir, 'b.csv'));
    await done.commit();
    await removePendingTempFiles();
    expect(readdirSync(dir)).toEqual(['b.csv']);
    await removePendingTempFiles();
    expect(readdirSync(dir)).toEqual(['b.csv']);
  });

  it('a file where a folder should be fails at open, naming the file and the reason (exit 2)', async () => {
    const dir = folder();
    writeFileSync(path.join(dir, 'blocker'), 'x');
    for (const target of [path.join(dir, 'blocker', 'out.csv'), path.join(dir, 'blocker', 'sub', 'out.csv')]) {
      await expect(openAtomicFile(target)).rejects.toMatchObject({ name: 'UsageError', exitCode: 2, message: `cannot write ${target}: a part of the path is not a folder` });
    }
    expect(readdirSync(dir)).toEqual(['blocker']);
  });
});
