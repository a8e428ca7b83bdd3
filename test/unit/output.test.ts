import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { guardCell } from '../../src/output/csv.js';
import { Output, toEnvelope } from '../../src/output/output.js';
import { AuthError } from '../../src/errors.js';
import type { Format } from '../../src/config/settings.js';

function capture(format: Format, stderrIsTTY = false) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c) => (out += c));
  stderr.on('data', (c) => (err += c));
  const output = new Output({ format, color: false, stderrColor: false, stderrIsTTY, verbose: false, quiet: false, stdout, stderr });
  return { output, out: () => out, err: () => err };
}

const COLUMNS = [{ header: 'ID', value: (r: { id: string }) => r.id }];

describe('list writers', () => {
  it('json: one array across pages', async () => {
    const c = capture('json');
    const w = c.output.listWriter(COLUMNS);
    await w.write([{ id: 'a' }]);
    await w.write([{ id: 'b' }]);
    await w.end();
    expect(JSON.parse(c.out())).toEqual([{ id: 'a' }, { id: 'b' }]);
  });

  it('json: an empty list is []', async () => {
    const c = capture('json');
    await c.output.list([], COLUMNS);
    expect(JSON.parse(c.out())).toEqual([]);
  });

  it('ndjson: one object per line', async () => {
    const c = capture('ndjson');
    await c.output.list([{ id: 'a' }, { id: 'b' }], COLUMNS);
    expect(c.out()).toBe('{"id":"a"}\n{"id":"b"}\n');
  });

  it('csv: header once, guarded cells, nested values as JSON', async () => {
    const c = capture('csv');
    const w = c.output.listWriter(COLUMNS);
    await w.write([{ id: '=cmd()', n: 1, tags: ['x'] }]);
    await w.write([{ id: 'b', n: -2, tags: [] }]);
    await w.end();
    expect(c.out()).toBe(`id,n,tags\n'=cmd(),1,"[""x""]"\nb,-2,[]\n`);
  });

  it('table: columns from the spec', async () => {
    const c = capture('table');
    await c.output.list([{ id: 'abc', secret: 'zzz' }], COLUMNS);
    expect(c.out()).toContain('abc');
    expect(c.out()).not.toContain('zzz');
  });
});

describe('formula-injection guard', () => {
  it('prefixes = + - @ with a quote, leaves numbers alone', () => {
    expect(guardCell('=1+1')).toBe("'=1+1");
    expect(guardCell('+911234')).toBe("'+911234");
    expect(guardCell('-x')).toBe("'-x");
    expect(guardCell('@SUM')).toBe("'@SUM");
    expect(guardCell('plain')).toBe('plain');
    expect(guardCell(-5)).toBe('-5');
    expect(guardCell(null)).toBe('');
  });
});

describe('errors', () => {
  it('one JSON line on stderr when it is not a TTY', () => {
    const c = capture('table', false);
    c.output.error(new AuthError('no', { httpStatus: 401, slug: 'authorization-error', hint: 'log in' }));
    expect(JSON.parse(c.err())).toEqual({
      error: { code: 'auth_error', message: 'no', http_status: 401, slug: 'authorization-error', hint: 'log in', exit_code: 3 },
    });
  });

  it('human text on a TTY, JSON when the format is json', () => {
    const tty = capture('table', true);
    tty.output.error(new AuthError('nope', { hint: 'log in' }));
    expect(tty.err()).toBe('Error: nope\nHint: log in\n');
    const json = capture('json', true);
    json.output.error(new AuthError('nope'));
    expect(JSON.parse(json.err()).error.exit_code).toBe(3);
  });

  it('an unexpected exception is reported as a bug with exit 1', () => {
    expect(toEnvelope(new TypeError('x is undefined'))).toMatchObject({ code: 'internal_error', exit_code: 1 });
    expect(toEnvelope(new TypeError('x')).message).toMatch(/bug/);
  });

  it('the stack of an unexpected exception is shown only with --verbose', () => {
    const stack = (verbose: boolean) => {
      const stderr = new PassThrough();
      let err = '';
      stderr.on('data', (c) => (err += c));
      const output = new Output({ format: 'json', color: false, stderrColor: false, stderrIsTTY: false, verbose, quiet: false, stdout: new PassThrough(), stderr });
      output.error(new TypeError('boom'));
      return err;
    };
    expect(stack(false)).not.toContain('at ');
    expect(stack(true)).toMatch(/TypeError: boom\n\s+at /);
    expect(JSON.parse(stack(false).split('\n')[0]!).error.exit_code).toBe(1);
  });

    it('stderr is redacted', () => {
    const c = capture('json', true);
    c.output.warn('Authorization: Bearer abcdefghijklmnop');
    expect(c.err()).not.toContain('abcdefghijklmnop');
  });
});
