import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mapHeader, readCsv } from '../../src/services/call-reasons/upload/csv-reader.js';
import { internals } from '../../src/services/call-reasons/upload/upload.js';
import type { CallReasonRecord } from '../../src/services/call-reasons/record.js';
import type { JournalBatch } from '../../src/services/call-reasons/upload/journal.js';

let dir: string | undefined;
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function linesOf(content: string | Buffer, chunkSize?: number): Promise<[number, string[]][]> {
  dir = mkdtempSync(path.join(tmpdir(), 'tcb-csv-'));
  const file = path.join(dir, 'x.csv');
  writeFileSync(file, content);
  const rows: [number, string[]][] = [];
  await readCsv(file, { onHeader: () => {}, onRow: (line, fields) => rows.push([line, fields]), chunkSize });
  return rows;
}

describe('readCsv', () => {
  it('numbers rows by their first line: BOM, CRLF, blank lines, quoted newlines', async () => {
    const crlf = '\uFEFFa,b\r\n1,2\r\n\r\n"x\r\ny",3\r\n4,"5,6"\r\n"multi\nline\nvalue",7\r\n8,9';
    const lf = crlf.replace(/\r\n/g, '\n');
    for (const chunkSize of [undefined, 1, 3, 7]) {
      for (const text of [crlf, lf]) {
        expect(await linesOf(text, chunkSize)).toEqual([
          [2, ['1', '2']],
          [4, [text === crlf ? 'x\r\ny' : 'x\ny', '3']],
          [6, ['4', '5,6']],
          [7, ['multi\nline\nvalue', '7']],
          [10, ['8', '9']],
        ]);
      }
    }
  });

  it('maps v1 and v2 header names and refuses a column named twice', () => {
    const map = mapHeader(['\uFEFFCaller', ' receiver_number ', 'label_name', 'call_reason', 'notes']);
    expect(map.indexes).toEqual({ caller_number: 0, receiver_number: 1, dynamic_label_name: 2, dynamic_call_reason: 3 });
    expect(map.ignored).toEqual(['notes']);
    expect(() => mapHeader(['caller', 'caller_number'])).toThrow(/twice/);
  });

  it('an unterminated quote is a usage error naming the file', async () => {
    await expect(linesOf('a,b\n"1,2\n')).rejects.toThrow(/is not a readable CSV/);
  });
});

const record = {} as CallReasonRecord;

describe('batching', () => {
  it('cuts contiguous batches of at most the batch size, recording gaps, and stops at covered lines', () => {
    const out: { seq: number; firstLine: number; lastLine: number; gaps: number[]; records: unknown[] }[] = [];
    const batcher = new internals.Batcher(3, 7, (b) => out.push(b));
    for (const line of [2, 3, 5, 6, 7]) batcher.add(line, record);
    batcher.boundary();
    batcher.add(20, record);
    batcher.flush();
    expect(out.map((b) => [b.seq, b.firstLine, b.lastLine, b.gaps, b.records.length])).toEqual([
      [7, 2, 5, [4], 3],
      [8, 6, 7, [], 2],
      [9, 20, 20, [], 1],
    ]);
    const counter = new internals.BatchCounter(3);
    for (let i = 0; i < 5; i += 1) counter.add();
    counter.boundary();
    counter.add();
    expect(counter.batches).toBe(3);
  });

  it('coverage answers for ascending lines from the batches --resume must skip', () => {
    const batches = [
      { seq: 2, state: 'uncertain', first_line: 10, last_line: 12 },
      { seq: 1, state: 'accepted', first_line: 2, last_line: 5 },
      { seq: 3, state: 'rejected', first_line: 13, last_line: 20 },
    ] as JournalBatch[];
    const coverage = new internals.Coverage(batches, false);
    expect([1, 2, 5, 6, 10, 12, 13, 21].map((l) => coverage.covers(l))).toEqual([false, true, true, false, true, true, false, false]);
    const resend = new internals.Coverage(batches, true);
    expect([2, 10].map((l) => resend.covers(l))).toEqual([true, false]);
  });

  it('a batch closes at exactly the batch size; the counter predicts the same number of batches', () => {
    const sizes: number[][] = [];
    const batcher = new internals.Batcher(2, 1, (b) => sizes.push([b.seq, b.records.length]));
    const counter = new internals.BatchCounter(2);
    for (const line of [2, 3, 4, 5, 6]) {
      batcher.add(line, record);
      counter.add();
    }
    batcher.flush();
    batcher.flush(); // nothing left: nothing more is emitted
    expect(sizes).toEqual([
      [1, 2],
      [2, 2],
      [3, 1],
    ]);
    expect(counter.batches).toBe(3);
    const single = new internals.BatchCounter(1);
    single.add();
    single.add();
    single.boundary();
    expect(single.batches).toBe(2);
  });

  it('coverage: empty when nothing is covered; adjacent ranges; reset starts the pass again', () => {
    const batch = (seq: number, state: string, first: number, last: number) => ({ seq, state, first_line: first, last_line: last }) as JournalBatch;
    expect(new internals.Coverage([batch(1, 'failed', 2, 9)], false).empty).toBe(true);
    expect(new internals.Coverage([batch(1, 'sending', 2, 9)], true).empty).toBe(true);
    const coverage = new internals.Coverage([batch(2, 'accepted', 5, 6), batch(1, 'sending', 2, 4), batch(3, 'uncertain', 9, 9)], false);
    expect(coverage.empty).toBe(false);
    expect([2, 4, 5, 6, 7, 8, 9, 10].map((l) => coverage.covers(l))).toEqual([true, true, true, true, false, false, true, false]);
    // A second pass over the file starts from the top again.
    coverage.reset();
    expect(coverage.covers(3)).toBe(true);
  });

  it('reads per-record status in any documented rendering', () => {
    expect(internals.statusOfV2({ status_info: { status: 'failed', message: 'OS not supported' } })).toEqual({ status: 'failed', reason: 'OS not supported' });
    expect(internals.statusOfV2({ statusInfo: { status: 'Success' } })).toEqual({ status: 'success', reason: undefined });
    expect(internals.statusOfV2({ status: 'failure', message: 'Failed to push' })).toEqual({ status: 'failure', reason: 'Failed to push' });
  });

  it('quotes CSV cells only when needed', () => {
    expect(internals.csvRow(['a', 'b,c', 'say "hi"', 5, undefined])).toBe('a,"b,c","say ""hi""",5,\n');
  });
});

describe('placing failed status records on CSV lines', () => {
  const record = (reason: string) => ({
    caller_number: '918000000001',
    receiver_number: '919000000001',
    starts_at: 1_800_000_000_000,
    ends_at: 1_800_003_600_000,
    label_id: 'c6d86658-008d-4c08-98fb-2bf2649d59a5',
    dynamic_call_reason: reason,
  });
  const returned = (reason: string, status: string, extra: Record<string, unknown> = {}) => ({
    status,
    reason: status === 'failed' ? 'Failed to push' : undefined,
    raw: { ...record(reason), caller_number: '************', receiver_number: '************', ...extra },
  });
  const rows = [
    { line: 2, fields: ['a'], record: record('Reason number one') },
    { line: 3, fields: ['b'], record: record('Reason number two') },
  ];

  it('follows the order when the answer lines up with what was sent', () => {
    const placed = internals.placeFailures([returned('Reason number one', 'success'), returned('Reason number two', 'failed')], rows);
    expect(placed.map((p) => p.row?.line)).toEqual([3]);
  });

  it('matches by content when the order differs, never by position', () => {
    const placed = internals.placeFailures([returned('Reason number two', 'success'), returned('Reason number one', 'failed')], rows);
    expect(placed.map((p) => p.row?.line)).toEqual([2]);
  });

  it('leaves a failure unplaced when it fits several different rows', () => {
    // One record back for two sent (the API lost one), with nothing in clear to tell which.
    const vague = [{ status: 'failed', reason: 'x', raw: { status_info: { status: 'failed' } } }];
    const placed = internals.placeFailures(vague, rows);
    expect(placed).toHaveLength(1);
    expect(placed[0]!.row).toBeUndefined();
  });

  it('compares numbers only when the API returns them in clear', () => {
    expect(internals.couldBe({ caller_number: '+918000000001' }, record('Reason number one'))).toBe(true);
    expect(internals.couldBe({ caller_number: '+918000000002' }, record('Reason number one'))).toBe(false);
    expect(internals.couldBe({ caller_number: '************' }, record('Reason number one'))).toBe(true);
    expect(internals.couldBe({ starts_at: 1 }, undefined)).toBe(false);
  });
});
