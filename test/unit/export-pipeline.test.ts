import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ApiError, TransientError, UsageError } from '../../src/errors.js';
import { exportFormat, parseExportOptions } from '../../src/services/exports/exports.js';
import { planApiRun, toUnit, type ApiCursor } from '../../src/services/exports/api-source.js';
import { BOUNDARY_WINDOW_MS, BoundaryTracker, MAX_FINGERPRINTS, detectTimeColumn, fingerprint, parseRowTime } from '../../src/services/exports/boundary.js';
import { csvBatches, normaliseHeader, recordBatches } from '../../src/services/exports/csv-records.js';
import { tableColumnsFor } from '../../src/services/exports/sink.js';
import { ExportStateStore, exportStateKey } from '../../src/services/exports/state.js';
import type { ExportOptions } from '../../src/services/exports/types.js';
import { planWebhookRun } from '../../src/services/exports/webhook-source.js';
import { tempDir } from '../helpers/cli.js';

async function collect(batches: AsyncIterable<Record<string, unknown>[]>): Promise<Record<string, unknown>[][]> {
  const out: Record<string, unknown>[][] = [];
  for await (const batch of batches) out.push(batch);
  return out;
}

describe('csvBatches', () => {
  it('parses BOM, CRLF, quoted commas and newlines, keyed by the header', async () => {
    const reader = csvBatches('\uFEFFid,note\r\n1,"a, b"\r\n2,"line1\nline2"\r\n');
    const batches = await collect(reader.batches);
    expect(reader.columns()).toEqual(['id', 'note']);
    expect(batches).toEqual([[{ id: '1', note: 'a, b' }, { id: '2', note: 'line1\nline2' }]]);
  });

  it('streams in batches of the given size, chunk boundaries anywhere', async () => {
    const text = `n\n${Array.from({ length: 25 }, (_, i) => i).join('\n')}\n`;
    // One byte per chunk: rows straddle chunk boundaries.
    const reader = csvBatches(Readable.from(text.split('')), 10);
    const batches = await collect(reader.batches);
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((r) => r.n)).toEqual(Array.from({ length: 25 }, (_, i) => String(i)));
  });

  it('pads short rows, drops extra cells and names blank or repeated headers', async () => {
    expect(normaliseHeader(['a', '', 'a', ' b '])).toEqual(['a', 'column_2', 'a_2', 'b']);
    const reader = csvBatches('a,b,c\n1\n1,2,3,4\n');
    expect((await collect(reader.batches)).flat()).toEqual([
      { a: '1', b: '', c: '' },
      { a: '1', b: '2', c: '3' },
    ]);
  });

  it('gives the header of a header-only file and no rows', async () => {
    const reader = csvBatches('a,b\r\n');
    expect(await collect(reader.batches)).toEqual([]);
    expect(reader.columns()).toEqual(['a', 'b']);
  });

  it('reports malformed CSV as an API error (exit 4)', async () => {
    const reader = csvBatches('a,b\n"unterminated,1\n');
    await expect(collect(reader.batches)).rejects.toBeInstanceOf(ApiError);
  });

  it('batches JSON records with the union of their keys', async () => {
    const reader = recordBatches([{ a: 1 }, { b: 2 }], 1);
    expect(await collect(reader.batches)).toEqual([[{ a: 1, b: null }], [{ a: null, b: 2 }]]);
    expect(reader.columns()).toEqual(['a', 'b']);
  });
});

describe('boundary handling', () => {
  it('finds the time column and reads its cells', () => {
    expect(detectTimeColumn(['request_id', 'requested_at', 'created_at'])).toBe('requested_at');
    expect(detectTimeColumn(['id', 'CreatedAt'])).toBe('CreatedAt');
    expect(detectTimeColumn(['id', 'name'])).toBeUndefined();
    expect(parseRowTime('2026-05-01T10:00:00Z')).toBe(Date.UTC(2026, 4, 1, 10));
    expect(parseRowTime('2026-05-01 10:00:00')).toBe(Date.UTC(2026, 4, 1, 10));
    expect(parseRowTime('1753945760')).toBe(1_753_945_760_000);
    expect(parseRowTime('1753945760123')).toBe(1_753_945_760_123);
    expect(parseRowTime('NA')).toBeUndefined();
  });

  it('drops rows the previous run exported and remembers the rows near its cursor', () => {
    const columns = ['id', 'requested_at'];
    const at = (id: string, iso: string) => ({ id, requested_at: iso });
    const cursor1 = Date.parse('2026-05-01T12:00:00Z');
    const first = new BoundaryTracker(new Set(), cursor1, 15 * 60_000);
    first.setColumns(columns);
    const run1 = [at('old', '2026-05-01T09:00:00Z'), at('edge', '2026-05-01T11:55:00Z'), at('on', '2026-05-01T12:00:00Z')];
    expect(run1.map((r) => first.admit(r))).toEqual([true, true, true]);
    // Only the rows within the window of the cursor are remembered.
    expect(first.fingerprints()).toEqual([fingerprint(run1[1]!, columns), fingerprint(run1[2]!, columns)]);

    // The server repeats the row on the boundary (inclusive ranges): it is not exported twice.
    const second = new BoundaryTracker(new Set(first.fingerprints()), Date.parse('2026-05-01T18:00:00Z'));
    second.setColumns(columns);
    expect(second.admit(at('on', '2026-05-01T12:00:00Z'))).toBe(false);
    expect(second.admit(at('new', '2026-05-01T12:00:00Z'))).toBe(true);
    expect(second.skipped).toBe(1);
  });

  it('remembers every row when there is no time column, up to a cap', () => {
    const tracker = new BoundaryTracker(new Set(), Date.now(), 60_000, 2);
    tracker.setColumns(['id']);
    for (const id of ['a', 'b', 'c']) tracker.admit({ id });
    expect(tracker.fingerprints()).toEqual([fingerprint({ id: 'b' }, ['id']), fingerprint({ id: 'c' }, ['id'])]);
    expect(tracker.overflowed).toBe(true);
  });
});

describe('boundary details', () => {
  it('time columns: the most specific name wins, in any spelling', () => {
    expect(detectTimeColumn(['date', 'time', 'timestamp', 'id'])).toBe('timestamp');
    expect(detectTimeColumn(['date', 'datetime'])).toBe('datetime');
    expect(detectTimeColumn(['Created At'])).toBe('Created At');
    expect(detectTimeColumn([' created-at '])).toBe(' created-at ');
    expect(detectTimeColumn(['Created - At'])).toBe('Created - At');
    expect(detectTimeColumn(['submittedAt', 'respondedAt'])).toBe('submittedAt');
    expect(detectTimeColumn(['CREATED_TIME', 'Requested Time'])).toBe('Requested Time');
    expect(detectTimeColumn([])).toBeUndefined();
  });

  it('cells as epoch ms: numbers, 13 digits as ms, 9-10 digits as seconds, ISO dates read as UTC without a zone', () => {
    expect(parseRowTime(1_753_945_760)).toBe(1_753_945_760_000);
    expect(parseRowTime(1_753_945_760_123)).toBe(1_753_945_760_123);
    expect(parseRowTime(100_000_000_000)).toBe(100_000_000_000);
    expect(parseRowTime(99_999_999_999)).toBe(99_999_999_999_000);
    expect(parseRowTime(Number.NaN)).toBeUndefined();
    expect(parseRowTime(Number.POSITIVE_INFINITY)).toBeUndefined();
    expect(parseRowTime(null)).toBeUndefined();
    expect(parseRowTime(true)).toBeUndefined();
    expect(parseRowTime(' 1753945760 ')).toBe(1_753_945_760_000);
    expect(parseRowTime('999999999')).toBe(999_999_999_000);
    for (const odd of ['99999999', '12345678901', '123456789012', '17539457601234', '1753945760.5', '']) expect(parseRowTime(odd), odd).toBeUndefined();
    expect(parseRowTime('2026-05-01')).toBe(Date.UTC(2026, 4, 1));
    expect(parseRowTime('2026-05-01T10:30')).toBe(Date.UTC(2026, 4, 1, 10, 30));
    expect(parseRowTime('2026-05-01 10:30:15.250')).toBe(Date.UTC(2026, 4, 1, 10, 30, 15, 250));
    expect(parseRowTime('2026-05-01T10:00:00+05:30')).toBe(Date.UTC(2026, 4, 1, 4, 30));
    expect(parseRowTime('2026-05-01T10:00:00-0200')).toBe(Date.UTC(2026, 4, 1, 12));
    expect(parseRowTime('2026-05-01t10:00:00z')).toBe(Date.UTC(2026, 4, 1, 10));
    expect(parseRowTime('2026-13-45T10:00:00')).toBeUndefined();
    expect(parseRowTime('on 2026-05-01')).toBeUndefined();
    expect(parseRowTime('2026/05/01')).toBeUndefined();
    expect(parseRowTime('05/01/2026')).toBeUndefined();
    expect(parseRowTime('2026-05-01T10:00:00Z trailing')).toBeUndefined();
  });

  it('fingerprints: a missing cell is the same as null; the values and their order matter', () => {
    const print = fingerprint({ a: 1, b: null }, ['a', 'b']);
    expect(print).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(fingerprint({ a: 1 }, ['a', 'b'])).toBe(print);
    expect(fingerprint({ a: 1, b: '' }, ['a', 'b'])).not.toBe(print);
    expect(fingerprint({ a: 1, b: null }, ['b', 'a'])).not.toBe(print);
  });

  it('remembers rows from exactly one window before the cursor on, and rows whose time cannot be read', () => {
    const cursor = Date.parse('2026-05-01T12:00:00Z');
    const tracker = new BoundaryTracker(new Set(), cursor, 60_000);
    tracker.setColumns(['id', 'time']);
    expect(tracker.timeColumnName).toBe('time');
    const rows = [
      { id: 'before', time: cursor - 60_001 },
      { id: 'edge', time: cursor - 60_000 },
      { id: 'after', time: cursor + 5_000 },
      { id: 'unreadable', time: 'soon' },
    ];
    for (const row of rows) expect(tracker.admit(row)).toBe(true);
    expect(tracker.fingerprints()).toEqual(rows.slice(1).map((row) => fingerprint(row, ['id', 'time'])));
    expect(tracker.skipped).toBe(0);
    expect(tracker.overflowed).toBe(false);
  });

  it('the window defaults to 15 minutes and the cap to 100 000; exactly the cap is no overflow', () => {
    expect(BOUNDARY_WINDOW_MS).toBe(900_000);
    expect(MAX_FINGERPRINTS).toBe(100_000);
    const cursor = Date.parse('2026-05-01T12:00:00Z');
    const defaults = new BoundaryTracker(new Set(), cursor);
    defaults.setColumns(['id', 'created_at']);
    defaults.admit({ id: 'in', created_at: new Date(cursor - 900_000).toISOString() });
    defaults.admit({ id: 'out', created_at: new Date(cursor - 900_001).toISOString() });
    expect(defaults.fingerprints()).toHaveLength(1);
    const capped = new BoundaryTracker(new Set(), cursor, 60_000, 2);
    capped.setColumns(['id']);
    capped.admit({ id: 'a' });
    capped.admit({ id: 'b' });
    expect(capped.overflowed).toBe(false);
    expect(capped.fingerprints()).toEqual([fingerprint({ id: 'a' }, ['id']), fingerprint({ id: 'b' }, ['id'])]);
  });

  it('a repeated row at the cap forgets nothing (it is remembered already)', () => {
    const capped = new BoundaryTracker(new Set(), 0, 60_000, 2);
    capped.setColumns(['id']);
    for (const id of ['a', 'b', 'b', 'a']) capped.admit({ id });
    expect(capped.fingerprints()).toEqual([fingerprint({ id: 'a' }, ['id']), fingerprint({ id: 'b' }, ['id'])]);
    expect(capped.overflowed).toBe(false);
  });

  it('new columns (another file) re-detect the time column', () => {
    const tracker = new BoundaryTracker(new Set(), 0);
    tracker.setColumns(['id', 'time']);
    tracker.setColumns(['id', 'requested_at', 'time']);
    expect(tracker.timeColumnName).toBe('requested_at');
    tracker.setColumns(['id']);
    expect(tracker.timeColumnName).toBeUndefined();
  });
});

describe('the --since-last state file', () => {
  const entry = (cursor: unknown) => ({
    profile: 'default',
    type: 'cmb',
    source: 'api',
    scope: { account: 'a' },
    cursor,
    updated_at: '2026-05-10T12:00:00.000Z',
    last_run: { records: 3, skipped: 1, range: '2026-05-10T11:00:00Z..2026-05-10T12:00:00Z' },
  });

  it('keys are readable and stable: profile, type, source, then the scope sorted by name', () => {
    expect(exportStateKey('default', 'feedback', 'api', { survey_id: 's1', account: 'a' })).toBe('profile=default;type=feedback;source=api;account=a;survey_id=s1');
    expect(exportStateKey('work', 'cmb', 'webhook', {})).toBe('profile=work;type=cmb;source=webhook');
  });

  it('is written as a versioned JSON file, and only the lock folder comes and goes', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = new ExportStateStore(path.join(dir, 'cfg'));
      expect(store.file).toBe(path.join(dir, 'cfg', 'export-state.json'));
      expect(await store.get('k')).toBeUndefined();
      await store.put('k', entry({ to: 5 }));
      expect(JSON.parse(readFileSync(store.file, 'utf8'))).toEqual({ version: 1, exports: { k: entry({ to: 5 }) } });
      expect(readdirSync(path.join(dir, 'cfg'))).toEqual(['export-state.json']);
      await store.put('k', entry({ to: 6 }));
      expect((await store.get('k'))?.cursor).toEqual({ to: 6 });
    } finally {
      cleanup();
    }
  });

  it('a damaged or foreign state file counts as empty and is replaced; an older version keeps its entries', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = new ExportStateStore(dir);
      for (const content of ['{bad', 'null', '"text"', '[]', '{"version":1,"exports":null}', '{"version":1,"exports":"x"}']) {
        writeFileSync(store.file, content);
        expect(await store.get('k'), content).toBeUndefined();
        await store.put('k', entry({ to: 1 }));
        expect(JSON.parse(readFileSync(store.file, 'utf8')), content).toEqual({ version: 1, exports: { k: entry({ to: 1 }) } });
      }
      writeFileSync(store.file, JSON.stringify({ version: 0, exports: { old: entry({ to: 0 }) } }));
      await store.put('k', entry({ to: 2 }));
      expect(JSON.parse(readFileSync(store.file, 'utf8'))).toEqual({ version: 1, exports: { old: entry({ to: 0 }), k: entry({ to: 2 }) } });
    } finally {
      cleanup();
    }
  });

  it('a second run of the same export is refused with exit 5, saying what to do; its lock goes with the run', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = new ExportStateStore(path.join(dir, 'fresh'));
      const release = await store.lockRun('key-1', 'cmb (profile default)');
      const error = await store.lockRun('key-1', 'cmb (profile default)').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransientError);
      expect(error).toMatchObject({
        message: 'another --since-last export of cmb (profile default) is running',
        code: 'export_in_progress',
        exitCode: 5,
        hint: 'wait for it to finish; a crashed run releases the lock after 30 s',
      });
      expect(readdirSync(path.join(dir, 'fresh')).filter((name) => name.endsWith('.lock'))).toHaveLength(1);
      await release();
      expect(readdirSync(path.join(dir, 'fresh'))).toEqual([]);
      expect(existsSync(path.join(dir, 'fresh'))).toBe(true);
    } finally {
      cleanup();
    }
  });
});

const NOW = Date.parse('2026-05-10T12:00:00Z');
const settings = { format: 'json' as const, formatSource: 'default' as const };

function options(patch: Partial<ExportOptions> = {}): ExportOptions {
  return { type: 'cmb', source: 'api', sinceLast: false, format: 'json', timeUnit: 'ms', now: NOW, ...patch };
}

describe('parseExportOptions', () => {
  it('parses times in every documented form', () => {
    const parsed = parseExportOptions('cmb', { from: '-24h', to: '1778414400000' }, settings, NOW);
    expect(parsed.from).toBe(NOW - 86_400_000);
    expect(parsed.to).toBe(1_778_414_400_000);
    expect(parseExportOptions('cmb', { from: '2026-05-01T00:00:00Z' }, settings, NOW).from).toBe(Date.UTC(2026, 4, 1));
  });

  it('rejects bad input before anything is sent (exit 2)', () => {
    const bad: [string, Record<string, unknown>][] = [
      ['cmb', {}],
      ['cmb', { from: 'last tuesday' }],
      ['cmb', { from: '-1h', to: '-2h' }],
      ['feedback', { from: '-1d' }],
      ['feedback', { from: '-1d', surveyId: 'a/b' }],
      ['cmb', { from: '-1d', source: 'webhook' }],
      ['cmb', { from: '-1d', store: 'x.sqlite' }],
      ['cmb', { source: 'webhook', store: 'x.sqlite', sinceLast: true, to: '-1h' }],
      ['feedback', { source: 'webhook', store: 'x.sqlite', surveyId: 'abc' }],
      ['cmb', { from: '-1d', timeUnit: 'minutes' }],
      ['cmb', { from: '-1d', source: 'ftp' }],
      ['cmb', { from: '-1d', overlap: '5m' }],
      ['cmb', { source: 'webhook', store: 'x.sqlite', sinceLast: true, overlap: '5m' }],
      ['cmb', { from: '-1d', sinceLast: true, overlap: 'soon' }],
      ['cmb', { from: '-1d', sinceLast: true, overlap: '2d' }],
    ];
    for (const [type, opts] of bad) {
      expect(() => parseExportOptions(type as 'cmb', opts, settings, NOW), JSON.stringify(opts)).toThrow(UsageError);
    }
  });

  it('allows --since-last without --from (the state may hold the start) and the webhook store without times', () => {
    expect(parseExportOptions('cmb', { sinceLast: true }, settings, NOW).sinceLast).toBe(true);
    expect(parseExportOptions('feedback', { source: 'webhook', store: 'x.sqlite' }, settings, NOW).source).toBe('webhook');
    expect(parseExportOptions('cmb', { from: '-1d', timeUnit: 's' }, settings, NOW).timeUnit).toBe('s');
    expect(parseExportOptions('cmb', { sinceLast: true, overlap: '2m' }, settings, NOW).overlapMs).toBe(120_000);
    expect(parseExportOptions('cmb', { sinceLast: true, overlap: '0' }, settings, NOW).overlapMs).toBe(0);
    expect(parseExportOptions('cmb', { sinceLast: true }, settings, NOW).overlapMs).toBeUndefined();
  });

  it('chooses the file format from --format, else the extension, else csv', () => {
    expect(exportFormat(settings, 'out.ndjson')).toBe('ndjson');
    expect(exportFormat(settings, 'out.JSON')).toBe('json');
    expect(exportFormat(settings, 'cmb-2026-05-01.csv')).toBe('csv');
    expect(exportFormat(settings, 'cmb.dat')).toBe('csv');
    // Files get data formats only: an unknown extension is csv, never a table with columns dropped.
    expect(exportFormat(settings, 'cmb.txt')).toBe('csv');
    expect(exportFormat({ format: 'table', formatSource: 'env' }, 'cmb.txt')).toBe('csv');
    expect(exportFormat({ format: 'ndjson', formatSource: 'env' }, 'out.csv')).toBe('csv');
    expect(exportFormat({ format: 'ndjson', formatSource: 'flag' }, 'out.csv')).toBe('ndjson');
    expect(() => exportFormat({ format: 'table', formatSource: 'flag' }, 'out.csv')).toThrow(UsageError);
    expect(exportFormat({ format: 'table', formatSource: 'flag' }, undefined)).toBe('table');
    expect(exportFormat(settings, undefined)).toBe('json');
  });
});

describe('planApiRun', () => {
  it('a plain run asks for [from, to] and would resume at to', () => {
    const plan = planApiRun(options({ from: NOW - 3_600_000, to: NOW - 60_000 }), undefined);
    expect(plan).toMatchObject({ from: NOW - 3_600_000, to: NOW - 60_000, cursor: NOW - 60_000, nothingToDo: false });
  });

  it('a --since-last run starts an overlap before where the previous one stopped, ignoring --from', () => {
    const previous: ApiCursor = { to: NOW - 600_000, unit: 'ms', boundary: [], time_column: null };
    const plan = planApiRun(options({ sinceLast: true, from: NOW - 86_400_000 }), previous);
    // The default overlap: 5 minutes, so records stamped just before the previous end are asked for again.
    expect(plan.from).toBe(NOW - 600_000 - 5 * 60_000);
    expect(plan.overlapMs).toBe(5 * 60_000);
    expect(plan.cursor).toBe(NOW);
    expect(planApiRun(options({ sinceLast: true, overlapMs: 120_000 }), previous).from).toBe(NOW - 600_000 - 120_000);
    expect(planApiRun(options({ sinceLast: true, overlapMs: 0 }), previous).from).toBe(NOW - 600_000);
  });

  it('the overlap never reaches back further than the previous run remembered', () => {
    // Fingerprints cover at least 15 minutes, and at least the overlap of the run that stored them.
    expect(planApiRun(options({ sinceLast: true, from: NOW - 1000, overlapMs: 3_600_000 }), undefined).windowMs).toBe(3_600_000);
    expect(planApiRun(options({ sinceLast: true, from: NOW - 1000, overlapMs: 60_000 }), undefined).windowMs).toBe(15 * 60_000);
    const old: ApiCursor = { to: NOW - 600_000, unit: 'ms', boundary: [], time_column: null };
    const limited = planApiRun(options({ sinceLast: true, overlapMs: 3_600_000 }), old);
    expect(limited).toMatchObject({ from: NOW - 600_000 - 15 * 60_000, overlapMs: 15 * 60_000, overlapLimited: true });
    const wide: ApiCursor = { ...old, window_ms: 3_600_000 };
    expect(planApiRun(options({ sinceLast: true, overlapMs: 3_600_000 }), wide)).toMatchObject({ from: NOW - 600_000 - 3_600_000, overlapLimited: false });
  });

  it('never moves the cursor past the clock, even with --to in the future', () => {
    const plan = planApiRun(options({ sinceLast: true, from: NOW - 1000, to: NOW + 86_400_000 }), undefined);
    expect(plan.to).toBe(NOW + 86_400_000);
    expect(plan.cursor).toBe(NOW);
  });

  it('needs --from on the first --since-last run, and has nothing to do when the cursor is ahead of --to', () => {
    expect(() => planApiRun(options({ sinceLast: true }), undefined)).toThrow(UsageError);
    const previous: ApiCursor = { to: NOW, unit: 'ms', boundary: [], time_column: null };
    const behind = planApiRun(options({ sinceLast: true, to: NOW - 3_600_000 }), previous);
    expect(behind.nothingToDo).toBe(true);
    // The cursor never moves backwards.
    expect(behind.cursor).toBe(NOW);
  });

  it('in seconds, the instant sent and the cursor are the same whole second', () => {
    const plan = planApiRun(options({ from: NOW - 1500, to: NOW - 500, timeUnit: 's' }), undefined);
    expect(toUnit(plan.from, 's')).toBe(Math.floor((NOW - 1500) / 1000));
    expect(plan.cursor).toBe(Math.floor((NOW - 500) / 1000) * 1000);
    expect(plan.cursor % 1000).toBe(0);
  });

  it('feedback with --to filters client-side (the API takes only a start)', () => {
    expect(planApiRun(options({ type: 'feedback', from: NOW - 10_000, to: NOW - 5000 }), undefined).clientTo).toBe(NOW - 5000);
    expect(planApiRun(options({ type: 'cmb', from: NOW - 10_000, to: NOW - 5000 }), undefined).clientTo).toBeUndefined();
  });
});

describe('planWebhookRun', () => {
  it('uses the time range on a first run and the insertion sequence afterwards', () => {
    const base = options({ source: 'webhook', store: 's.sqlite', from: NOW - 1000 });
    expect(planWebhookRun(base, undefined)).toEqual({ afterSeq: 0, fromMs: NOW - 1000, toMs: undefined });
    expect(planWebhookRun({ ...base, sinceLast: true }, { seq: 42 })).toEqual({ afterSeq: 42 });
    // Without --since-last a stored cursor is irrelevant.
    expect(planWebhookRun(base, { seq: 42 }).afterSeq).toBe(0);
  });
});

describe('table columns', () => {
  it('shows the useful columns that exist, or all of them', () => {
    expect(tableColumnsFor(['id', 'requested_at', 'client_number'], ['requested_at', 'client_number', 'x']).map((c) => c.header)).toEqual([
      'requested_at',
      'client_number',
    ]);
    expect(tableColumnsFor(['a', 'b'], ['requested_at']).map((c) => c.header)).toEqual(['a', 'b']);
  });
});

describe('ExportStateStore', () => {
  it('keeps one private entry per key and refuses a second concurrent run of the same export', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const store = new ExportStateStore(dir);
      const cmb = exportStateKey('default', 'cmb', 'api', { account: 'a' });
      const fb = exportStateKey('default', 'feedback', 'api', { account: 'a', survey_id: 's1' });
      expect(cmb).not.toBe(fb);
      const entry = (cursor: unknown) => ({
        profile: 'default',
        type: 'cmb',
        source: 'api',
        scope: {},
        cursor,
        updated_at: 'now',
        last_run: { records: 1, skipped: 0, range: 'x' },
      });
      await store.put(cmb, entry({ to: 1 }));
      await store.put(fb, entry({ to: 2 }));
      expect((await store.get(cmb))?.cursor).toEqual({ to: 1 });
      expect((await store.get(fb))?.cursor).toEqual({ to: 2 });
      expect(statSync(store.file).mode & 0o777).toBe(0o600);

      const release = await store.lockRun(cmb, 'cmb');
      await expect(store.lockRun(cmb, 'cmb')).rejects.toBeInstanceOf(TransientError);
      const other = await store.lockRun(fb, 'feedback');
      await other();
      await release();
      await (await store.lockRun(cmb, 'cmb'))();
    } finally {
      cleanup();
    }
  });
});
