import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
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
  journalsForPath,
  lineRange,
  listJournals,
  parseJournal,
  readJournal,
  type JournalHeader,
} from '../../src/services/call-reasons/upload/journal.js';
import { hashFile } from '../../src/services/call-reasons/upload/csv-reader.js';
import { UsageError } from '../../src/errors.js';

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
    for (const state of ['accepted', 'uncertain', 'rejected', 'failed', 'abandoned'] as const) expect(effectiveState(state)).toBe(state);
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
    // Without a target: the journal of this content, even when another upload's journal is newer.
    const other = await JournalWriter.open(journalPath(dir, 'f'.repeat(64), target.baseUrl, target.clientAccountId), header('f'.repeat(64), '/data/other.csv'));
    other.close();
    utimesSync(other.path, new Date(Date.now() + 60_000), new Date(Date.now() + 60_000));
    expect((await journalForFile(dir, csv))?.header.sha256).toBe(sha);
    writeFileSync(csv, 'a,b\n1,3\n');
    expect(await journalForFile(dir, csv)).toBeUndefined();
  });

  it('names line ranges as people read them', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    expect(lineRange({ first_line: 2, last_line: 501 })).toBe('2-501');
    expect(lineRange({ first_line: 7, last_line: 7 })).toBe('7');
  });

  it('one journal per content and target: trailing slashes of the API root do not matter, the account does', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const one = journalPath(dir, 'abc', 'http://api.example', 'acct');
    expect(one).toMatch(new RegExp(`^${dir}/uploads/abc\\.[0-9a-f]{12}\\.jsonl$`));
    expect(journalPath(dir, 'abc', 'http://api.example//', 'acct')).toBe(one);
    expect(journalPath(dir, 'abc', 'http://api.example', 'other')).not.toBe(one);
    expect(journalPath(dir, 'abc', 'http://api.example/v2', 'acct')).not.toBe(one);
  });

  it('counts runs, and is ended only when the last run wrote its end line; blank lines and a second header are ignored', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const run = (n: number) => JSON.stringify({ type: 'run', run: n, pid: 1, at: 'x', resume: n > 1 });
    const end = (n: number) => JSON.stringify({ type: 'end', run: n, at: 'y', outcome: 'complete' });
    const ended = parseJournal([JSON.stringify(header('first')), '', run(1), end(1), run(2), '   ', JSON.stringify(header('second')), end(2), ''].join('\n'));
    expect(ended).toMatchObject({ runs: 2, ended: true, batches: [], path: '(journal)' });
    expect(ended.header.sha256).toBe('first');
    expect(parseJournal([JSON.stringify(header('a')), run(1), end(1), run(2)].join('\n')).ended).toBe(false);
    expect(parseJournal(JSON.stringify(header('a')))).toMatchObject({ runs: 0, ended: false });
    // Batches come back in seq order whatever order they were written in.
    const order = parseJournal([JSON.stringify(header('a')), batch(3, 'accepted', 9, 9), batch(1, 'accepted', 2, 3), batch(2, 'failed', 4, 8)].join('\n'));
    expect(order.batches.map((b) => b.seq)).toEqual([1, 2, 3]);
  });

  it('a damaged line names the file and line; a torn line is forgiven only at the very end; another version is refused', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    expect(() => parseJournal([JSON.stringify(header('a')), '{oops', batch(1, 'accepted', 2, 3)].join('\n'), '/j.jsonl')).toThrow(
      new UsageError('/j.jsonl line 2 is not a journal entry'),
    );
    // Trailing blank lines do not move "the end" away from a torn last entry.
    expect(parseJournal([JSON.stringify(header('a')), batch(1, 'accepted', 2, 3), '{"type":"ba', '', ''].join('\n')).batches).toHaveLength(1);
    expect(() => parseJournal(JSON.stringify({ ...header('a'), version: 2 }), '/j.jsonl')).toThrow(
      new UsageError('/j.jsonl is not a tcb upload journal (version 1)'),
    );
    expect(() => parseJournal('', '/j.jsonl')).toThrow(new UsageError('/j.jsonl is not a tcb upload journal (version 1)'));
    expect(() => parseJournal('\n \n\n', '/j.jsonl')).toThrow(new UsageError('/j.jsonl is not a tcb upload journal (version 1)'));
    // A torn entry followed by lines of spaces is still the last entry.
    expect(parseJournal([JSON.stringify(header('a')), batch(1, 'accepted', 2, 3), '{"type":"ba', '   ', '\t'].join('\n')).batches).toHaveLength(1);
  });

  it('readJournal: a missing journal says so; a folder is a usage error naming it', () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const missing = path.join(dir, 'missing.jsonl');
    expect(() => readJournal(missing)).toThrow(new UsageError(`no upload journal at ${missing}`));
    writeFileSync(path.join(dir, 'file'), 'x');
    expect(() => readJournal(path.join(dir, 'file', 'j.jsonl'))).toThrow(new UsageError(`no upload journal at ${path.join(dir, 'file', 'j.jsonl')}`));
    expect(() => readJournal(dir)).toThrow(new UsageError(`cannot read ${dir}: it is a directory (EISDIR)`));
  });

  it('lists the journals newest first, skipping other and damaged files; none without the folder', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    expect(listJournals(dir)).toEqual([]);
    const older = path.join(dir, 'uploads', 'old.jsonl');
    const newer = path.join(dir, 'uploads', 'new.jsonl');
    (await JournalWriter.open(older, header('old', '/data/a.csv'))).close();
    (await JournalWriter.open(newer, header('new', '/data/b.csv'))).close();
    utimesSync(older, new Date('2026-01-01T00:00:00Z'), new Date('2026-01-01T00:00:00Z'));
    utimesSync(newer, new Date('2026-01-02T00:00:00Z'), new Date('2026-01-02T00:00:00Z'));
    writeFileSync(path.join(dir, 'uploads', 'damaged.jsonl'), '{bad\n{worse\n');
    writeFileSync(path.join(dir, 'uploads', 'notes.txt'), JSON.stringify(header('txt')));
    expect(listJournals(dir).map((j) => j.header.sha256)).toEqual(['new', 'old']);
    utimesSync(older, new Date('2026-01-03T00:00:00Z'), new Date('2026-01-03T00:00:00Z'));
    expect(listJournals(dir).map((j) => j.header.sha256)).toEqual(['old', 'new']);
    expect(listJournals(dir)[0]!.path).toBe(older);
    expect(journalsForPath(dir, '/data/b.csv').map((j) => j.header.sha256)).toEqual(['new']);
    expect(journalsForPath(dir, '/data/c.csv')).toEqual([]);
  });

  it('a new journal is private and starts with its header; entries after close are refused; close twice is harmless', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const file = path.join(dir, 'uploads', 'n.jsonl');
    const writer = await JournalWriter.open(file, header('n'));
    expect(writer.path).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    writer.append({ type: 'run', run: 1, pid: 42, at: 'now', resume: false });
    writer.close();
    writer.close();
    expect(() => writer.append({ type: 'end', run: 1, at: 'later', outcome: 'complete' })).toThrow('journal is closed');
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify(header('n'))}\n{"type":"run","run":1,"pid":42,"at":"now","resume":false}\n`);
    // Opened again, the header is not written twice.
    (await JournalWriter.open(file, header('other'))).close();
    expect(readFileSync(file, 'utf8').split('\n').filter(Boolean)).toHaveLength(2);
  });

  it('cuts a torn entry longer than the read buffer back to the last complete line, and a torn header entirely', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const file = path.join(dir, 'big.jsonl');
    const first = `${JSON.stringify(header('big'))}\n`;
    writeFileSync(file, `${first}{"type":"batch","error":"${'x'.repeat(150_000)}`);
    (await JournalWriter.open(file, header('ignored'))).close();
    expect(readFileSync(file, 'utf8')).toBe(first);

    const torn = path.join(dir, 'torn.jsonl');
    writeFileSync(torn, '{"type":"upload","vers');
    (await JournalWriter.open(torn, header('fresh'))).close();
    expect(readFileSync(torn, 'utf8')).toBe(`${JSON.stringify(header('fresh'))}\n`);
  });

  it('a lock naming no live process is taken over; a lock that cannot be removed is a usage error', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const file = path.join(dir, 'j.jsonl');
    for (const content of ['', 'garbage', '0', '-5', '12.5']) {
      writeFileSync(`${file}.lock`, content);
      (await JournalWriter.open(file, header('z'))).close();
      expect(existsSync(`${file}.lock`)).toBe(false);
    }
    mkdirSync(`${file}.lock`);
    await expect(JournalWriter.open(file, header('z'))).rejects.toThrow(
      new UsageError('could not lock the upload journal; another upload of this file may be starting'),
    );
  });

  it('another live process holding the lock is named, with what to do', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const file = path.join(dir, 'j.jsonl');
    writeFileSync(`${file}.lock`, ` ${process.ppid}\n`);
    const error = await JournalWriter.open(file, header('z')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect(error).toMatchObject({
      message: `another tcb process (pid ${process.ppid}) is uploading this file right now`,
      hint: 'wait for it to finish, or stop it (Ctrl-C) and run again with --resume',
    });
    expect(readFileSync(`${file}.lock`, 'utf8')).toBe(` ${process.ppid}\n`);
  });

  it('a journal that cannot be opened releases its lock and names the file', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'tcb-journal-'));
    const file = path.join(dir, 'taken.jsonl');
    mkdirSync(file);
    await expect(JournalWriter.open(file, header('z'))).rejects.toThrow(
      new UsageError(`cannot use ${file} (EISDIR)`, { hint: 'set TCB_CONFIG_DIR to a directory this user can write, or fix the permissions' }),
    );
    expect(existsSync(`${file}.lock`)).toBe(false);
  });
});
