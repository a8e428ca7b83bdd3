import { mkdtempSync, readFileSync, rmSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  JournalWriter,
  batchLines,
  effectiveState,
  isCovered,
  journalForFile,
  journalPath,
  parseJournal,
  readJournal,
  type JournalHeader,
} from '../../src/services/call-reasons/upload/journal.js';
import { hashFile } from '../../src/services/call-reasons/upload/csv-reader.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const header = (sha256: string, file = '/data/calls.csv'): JournalHeader => ({
  type: 'upload',
  version: 1,
  sha256,
  file,
  size: 10,
  api: 'v2',
  base_url: 'http://127.0.0.1:1',
  client_account_id: 'acct',
  created_at: '2026-01-01T00:00:00.000Z',
});

const batch = (seq: number, state: string, first: number, last: number, extra: object = {}) =>
  JSON.stringify({ type: 'batch', seq, state, first_line: first, last_line: last, records: last - first + 1, at: `t${seq}${state}`, ...extra });

describe('journal replay', () => {
  it('keeps the latest state per batch and what --resume must leave alone', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const text = [
      JSON.stringify(header('abc')),
      JSON.stringify({ type: 'run', run: 1, pid: 1, at: 'x', resume: false }),
      batch(1, 'sending', 2, 501),
      batch(1, 'accepted', 2, 501, { batch_id: 'b1' }),
      batch(2, 'sending', 502, 1001),
      batch(2, 'uncertain', 502, 1001, { error: '500' }),
      batch(3, 'sending', 1002, 1501),
      batch(4, 'sending', 1502, 2001),
      batch(4, 'abandoned', 1502, 2001),
      batch(5, 'rejected', 2002, 2501),
      // killed here: batch 3 has no answer; a torn last line
      '{"type":"batch","seq":6,"sta',
    ].join('\n');
    const journal = parseJournal(text);
    expect(journal.header.sha256).toBe('abc');
    expect(journal.runs).toBe(1);
    expect(journal.ended).toBe(false);
    expect(journal.batches.map((b) => [b.seq, b.state, b.batch_id ?? null])).toEqual([
      [1, 'accepted', 'b1'],
      [2, 'uncertain', null],
      [3, 'sending', null],
      [4, 'abandoned', null],
      [5, 'rejected', null],
    ]);
    expect(journal.batches[0]!.first_at).toBe('t1sending');
    const covered = journal.batches.filter((b) => isCovered(b.state)).map((b) => b.seq);
    expect(covered).toEqual([1, 2, 3]);
    expect(journal.batches.filter((b) => isCovered(b.state, true)).map((b) => b.seq)).toEqual([1]);
    expect(effectiveState('sending')).toBe('uncertain');
  });

  it('rejects a damaged line in the middle and a file that is not a journal', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    expect(() => parseJournal([JSON.stringify(header('a')), '{oops', batch(1, 'accepted', 2, 3)].join('\n'))).toThrow(/line 2/);
    expect(() => parseJournal(batch(1, 'accepted', 2, 3))).toThrow(/not a tcb upload journal/);
  });

  it('lists the record lines of a batch, without its gaps', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    expect(batchLines({ first_line: 5, last_line: 10, gaps: [6, 9] })).toEqual([5, 7, 8, 10]);
    expect(batchLines({ first_line: 2, last_line: 2 })).toEqual([2]);
  });

  it('writes durable lines, repairs a torn last line, locks against a second writer', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const file = path.join(dir, 'uploads', 'x.jsonl');
    const writer = await JournalWriter.open(file, header('x'));
    writer.append({ type: 'batch', seq: 1, state: 'accepted', first_line: 2, last_line: 3, records: 2, batch_id: 'b', at: 'now' });
    await expect(JournalWriter.open(file, header('x'))).rejects.toThrow(/another tcb process/);
    writer.close();
    expect(existsSync(`${file}.lock`)).toBe(false);
    appendFileSync(file, `{"type":"batch","seq":2,"state":"acc`); // torn by a kill -9
    const again = await JournalWriter.open(file, header('ignored'));
    again.append({ type: 'batch', seq: 2, state: 'accepted', first_line: 4, last_line: 4, records: 1, batch_id: 'c', at: 'now' });
    again.close();
    const journal = readJournal(file);
    expect(journal.header.sha256).toBe('x');
    expect(journal.batches.map((b) => b.batch_id)).toEqual(['b', 'c']);
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(3); // the fragment is cut off
  });

  it('takes over a lock left by a dead process', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const file = path.join(dir, 'j.jsonl');
    writeFileSync(`${file}.lock`, '999999999');
    const writer = await JournalWriter.open(file, header('y'));
    writer.close();
    expect(readJournal(file).header.sha256).toBe('y');
  });

  it('finds the journal of a file by its content', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const csv = path.join(dir, 'calls.csv');
    writeFileSync(csv, 'a,b\n1,2\n');
    const sha = await hashFile(csv);
    const target = { baseUrl: 'http://127.0.0.1:1', clientAccountId: 'acct' };
    expect(await journalForFile(dir, csv, target)).toBeUndefined();
    const writer = await JournalWriter.open(journalPath(dir, sha, target.baseUrl, target.clientAccountId), header(sha, csv));
    writer.close();
    expect((await journalForFile(dir, csv, target))?.header.sha256).toBe(sha);
    expect((await journalForFile(dir, csv))?.header.file).toBe(csv);
    expect(await journalForFile(dir, csv, { ...target, clientAccountId: 'other' })).toBeUndefined();
  });
});
