/**
 * The upload journal: one append-only JSON-lines file per (file content, API target) under
 * <configDir>/uploads/. The first line describes the upload; every later line records a batch's
 * state change, written and fsync'd the moment it happens:
 *
 *   {"type":"upload","version":1,"sha256":"…","file":"/abs/calls.csv","size":123,"api":"v2",
 *    "base_url":"…","client_account_id":"…","created_at":"…"}
 *   {"type":"run","run":1,"pid":4242,"at":"…","resume":false}
 *   {"type":"batch","seq":1,"state":"sending","first_line":2,"last_line":501,"records":500,"at":"…"}
 *   {"type":"batch","seq":1,"state":"accepted","first_line":2,"last_line":501,"records":500,"batch_id":"…","at":"…"}
 *   {"type":"end","run":1,"at":"…","outcome":"complete"}
 *
 * A batch's records are the data rows starting on the lines first_line..last_line, except the
 * lines listed in `gaps` (blank lines, continuation lines of quoted fields, rows set aside as invalid).
 * Replaying keeps the last line written for each seq. States:
 *   sending    the POST went out and no answer was recorded (the process died): treated as uncertain
 *   accepted   the API answered with a batch id (or accepted without one): never sent again
 *   uncertain  the POST's outcome is unknown (a 5xx other than 503, a timeout after sending): never
 *              sent again unless the user asks for it (--resend-uncertain)
 *   rejected   the API refused the batch (4xx): nothing was processed; --resume sends it again
 *   failed     not processed (auth failure, retries exhausted on 429/503): --resume sends it again
 *   abandoned  stopped before the API saw it (Ctrl-C), or an uncertain batch deliberately resent
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, ftruncateSync, openSync, readFileSync, readSync, readdirSync, writeSync, unlinkSync, statSync } from 'node:fs';
import path from 'node:path';
import { configLocationError, ensurePrivateDir, PRIVATE_FILE_MODE } from '../../../auth/files.js';
import { UsageError } from '../../../errors.js';
import { inputFileError } from '../../../util/input-file.js';

export const JOURNAL_VERSION = 1;
export const JOURNAL_DIR = 'uploads';

export type BatchState = 'sending' | 'accepted' | 'uncertain' | 'rejected' | 'failed' | 'abandoned';

export interface JournalHeader {
  type: 'upload';
  version: number;
  sha256: string;
  /** Absolute path of the uploaded file, or "-" for stdin. */
  file: string;
  size: number;
  api: 'v1' | 'v2';
  base_url: string;
  client_account_id: string;
  created_at: string;
}

export interface BatchEntry {
  type: 'batch';
  seq: number;
  state: BatchState;
  first_line: number;
  last_line: number;
  records: number;
  /** Lines in first_line..last_line that hold no record of this batch. */
  gaps?: number[];
  batch_id?: string;
  error?: string;
  http_status?: number;
  at: string;
}

export interface RunEntry {
  type: 'run';
  run: number;
  pid: number;
  at: string;
  resume: boolean;
}

export interface EndEntry {
  type: 'end';
  run: number;
  at: string;
  outcome: 'complete' | 'interrupted' | 'stopped';
}

export type JournalEntry = BatchEntry | RunEntry | EndEntry;

/** A batch as replayed: its latest entry, plus when it was first sent. */
export interface JournalBatch extends BatchEntry {
  first_at: string;
}

export interface Journal {
  path: string;
  header: JournalHeader;
  /** Latest state of every batch, by seq. */
  batches: JournalBatch[];
  runs: number;
  /** True when the last run wrote its end line. */
  ended: boolean;
}

/** Whether --resume must leave a batch's lines alone. */
export function isCovered(state: BatchState, resendUncertain = false): boolean {
  if (state === 'accepted') return true;
  if (state === 'uncertain' || state === 'sending') return !resendUncertain;
  return false;
}

/** "sending" with no answer recorded is, for the user, an uncertain batch. */
export function effectiveState(state: BatchState): BatchState {
  return state === 'sending' ? 'uncertain' : state;
}

/** The record lines of a batch, in order. */
export function batchLines(batch: Pick<BatchEntry, 'first_line' | 'last_line' | 'gaps'>): number[] {
  const gaps = new Set(batch.gaps ?? []);
  const lines: number[] = [];
  for (let line = batch.first_line; line <= batch.last_line; line += 1) if (!gaps.has(line)) lines.push(line);
  return lines;
}

/** "2-501" or "7" */
export function lineRange(batch: Pick<BatchEntry, 'first_line' | 'last_line'>): string {
  return batch.first_line === batch.last_line ? `${batch.first_line}` : `${batch.first_line}-${batch.last_line}`;
}

export function journalDir(configDir: string): string {
  return path.join(configDir, JOURNAL_DIR);
}

/** Distinguishes uploads of the same file to different accounts or API roots. */
export function targetKey(baseUrl: string, clientAccountId: string): string {
  return createHash('sha256').update(`${baseUrl.replace(/\/+$/, '')}\n${clientAccountId}`).digest('hex').slice(0, 12);
}

export function journalPath(configDir: string, sha256: string, baseUrl: string, clientAccountId: string): string {
  return path.join(journalDir(configDir), `${sha256}.${targetKey(baseUrl, clientAccountId)}.jsonl`);
}

/** Parses a journal; a torn last line (the process died mid-write) is ignored. */
export function parseJournal(text: string, file = '(journal)'): Journal {
  const lines = text.split('\n');
  let lastLine = lines.length - 1;
  while (lastLine > 0 && lines[lastLine]!.trim() === '') lastLine -= 1;
  let header: JournalHeader | undefined;
  const batches = new Map<number, JournalBatch>();
  let runs = 0;
  let ended = false;
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let entry: JournalHeader | JournalEntry;
    try {
      entry = JSON.parse(line) as JournalHeader | JournalEntry;
    } catch {
      if (index === lastLine) return; // torn final line (the process died mid-write)
      throw new UsageError(`${file} line ${index + 1} is not a journal entry`);
    }
    switch (entry.type) {
      case 'upload':
        header ??= entry;
        break;
      case 'run':
        runs = Math.max(runs, entry.run);
        ended = false;
        break;
      case 'end':
        ended = true;
        break;
      case 'batch': {
        const previous = batches.get(entry.seq);
        batches.set(entry.seq, { ...entry, first_at: previous?.first_at ?? entry.at });
        break;
      }
    }
  });
  if (!header || header.version !== JOURNAL_VERSION) {
    throw new UsageError(`${file} is not a tcb upload journal (version ${JOURNAL_VERSION})`);
  }
  return { path: file, header, batches: [...batches.values()].sort((a, b) => a.seq - b.seq), runs, ended };
}

/** Reads a journal file (for `tcb batch status --journal FILE`). */
export function readJournal(file: string): Journal {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw new UsageError(`no upload journal at ${file}`);
    throw inputFileError(error, file);
  }
  return parseJournal(text, file);
}

/** Every journal under configDir, newest first (unreadable files are skipped). */
export function listJournals(configDir: string): Journal[] {
  const dir = journalDir(configDir);
  let names: string[];
  try {
    names = readdirSync(dir).filter((name) => name.endsWith('.jsonl'));
  } catch {
    return [];
  }
  const journals: { journal: Journal; mtime: number }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      journals.push({ journal: readJournal(file), mtime: statSync(file).mtimeMs });
    } catch {
      // not ours or damaged: ignore
    }
  }
  return journals.sort((a, b) => b.mtime - a.mtime).map((j) => j.journal);
}

/** Journals of earlier uploads of this path (any content): used to refuse resuming a changed file. */
export function journalsForPath(configDir: string, absolutePath: string): Journal[] {
  return listJournals(configDir).filter((journal) => journal.header.file === absolutePath);
}

/**
 * The journal of FILE's current content (for `tcb batch status --upload FILE`): the one for the given
 * target when baseUrl and account are known, else the most recent one for that content.
 */
export async function journalForFile(
  configDir: string,
  file: string,
  target?: { baseUrl: string; clientAccountId: string },
): Promise<Journal | undefined> {
  const { hashFile } = await import('./csv-reader.js');
  const sha256 = await hashFile(file);
  if (target) {
    try {
      return readJournal(journalPath(configDir, sha256, target.baseUrl, target.clientAccountId));
    } catch (error) {
      if (error instanceof UsageError) return undefined;
      throw error;
    }
  }
  return listJournals(configDir).find((journal) => journal.header.sha256 === sha256);
}

/** Appends entries, each written with one write() and fsync'd before the call returns. */
export class JournalWriter {
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly fd: number,
    private readonly lockPath: string,
  ) {}

  /**
   * Opens (creating with the header when new) and locks the journal. A second upload of the same
   * file to the same target while one is running is refused.
   */
  static async open(file: string, header: JournalHeader): Promise<JournalWriter> {
    await ensurePrivateDir(path.dirname(file));
    const lockPath = `${file}.lock`;
    try {
      acquireLock(lockPath);
    } catch (error) {
      throw configLocationError(error, lockPath);
    }
    try {
      const fd = openSync(file, 'a+', PRIVATE_FILE_MODE);
      const writer = new JournalWriter(file, fd, lockPath);
      const size = statSync(file).size;
      const kept = size === 0 ? 0 : completeLength(fd, size);
      // A torn last line (killed mid-write) is cut off, so the next entry starts on its own line.
      if (kept < size) ftruncateSync(fd, kept);
      if (kept === 0) writer.writeLine(JSON.stringify(header));
      return writer;
    } catch (error) {
      releaseLock(lockPath);
      throw configLocationError(error, file);
    }
  }

  append(entry: JournalEntry): void {
    if (this.closed) throw new Error('journal is closed');
    this.writeLine(JSON.stringify(entry));
  }

  private writeLine(text: string): void {
    const buffer = Buffer.from(`${text}\n`);
    let offset = 0;
    while (offset < buffer.length) offset += writeSync(this.fd, buffer, offset);
    fsyncSync(this.fd);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    closeSync(this.fd);
    releaseLock(this.lockPath);
  }
}

/** Length of the file up to and including its last newline. */
function completeLength(fd: number, size: number): number {
  const buffer = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - buffer.length);
    const read = readSync(fd, buffer, 0, end - start, start);
    const index = buffer.subarray(0, read).lastIndexOf(10);
    if (index !== -1) return start + index + 1;
    end = start;
  }
  return 0;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function acquireLock(lockPath: string): void {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(lockPath, 'wx', PRIVATE_FILE_MODE);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let pid = NaN;
      try {
        pid = Number(readFileSync(lockPath, 'utf8').trim());
      } catch {
        // vanished: try again
      }
      if (Number.isInteger(pid) && pid > 0 && processAlive(pid)) {
        throw new UsageError(`another tcb process (pid ${pid}) is uploading this file right now`, {
          hint: 'wait for it to finish, or stop it (Ctrl-C) and run again with --resume',
        });
      }
      try {
        unlinkSync(lockPath); // stale: its process is gone
      } catch {
        // someone else removed it
      }
    }
  }
  throw new UsageError('could not lock the upload journal; another upload of this file may be starting');
}

function releaseLock(lockPath: string): void {
  try {
    unlinkSync(lockPath);
  } catch {
    // already gone
  }
}
