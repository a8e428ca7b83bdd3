/**
 * Streams a call-reason CSV through csv-parse's incremental parser and hands every data row to a
 * synchronous callback with its exact starting line number (1 = the header line). Nothing is kept
 * but the current chunk, so memory stays flat whatever the file size.
 *
 * The parser's own line counter counts a CRLF inside a quoted field twice, so line numbers are
 * counted here from the byte offsets csv-parse reports (LF and CRLF line endings).
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parse, CsvError } from 'csv-parse';
import { UsageError } from '../../../errors.js';
import { inputFileError, nonTextError, nonTextKind, SNIFF_BYTES } from '../../../util/input-file.js';
import { escapeText } from '../../../util/text.js';
import type { CallReasonField, CallReasonInput, CallReasonDefaults } from '../record.js';

/** Longest CSV record (a row with its quoted line breaks), in bytes: a call reason row is a few hundred. */
export const MAX_CSV_RECORD_BYTES = 64 * 1024;

export const CSV_FIELDS: readonly CallReasonField[] = [
  'caller_number',
  'receiver_number',
  'starts_at',
  'ends_at',
  'label_id',
  'dynamic_label_name',
  'dynamic_call_reason',
];

/** v1 column names (api/README.md §7.1) → v2 names. */
const V1_NAMES: Record<string, CallReasonField> = {
  caller: 'caller_number',
  receiver: 'receiver_number',
  label_name: 'dynamic_label_name',
  call_reason: 'dynamic_call_reason',
};

/** Which column (index) holds each field. */
export interface ColumnMap {
  header: string[];
  indexes: Partial<Record<CallReasonField, number>>;
  /** Columns that are neither v2 nor v1 names: ignored. */
  ignored: string[];
}

/** Flags that provide a value for a missing column, per field (for the error message). */
const DEFAULT_FLAG: Partial<Record<CallReasonField, string>> = {
  ends_at: '--ends-at or --duration',
  label_id: '--label-id',
};

export function mapHeader(header: string[]): ColumnMap {
  const indexes: Partial<Record<CallReasonField, number>> = {};
  const ignored: string[] = [];
  header.forEach((raw, index) => {
    const name = raw.replace(/^\uFEFF/, '').trim().toLowerCase();
    const field = (CSV_FIELDS as readonly string[]).includes(name) ? (name as CallReasonField) : V1_NAMES[name];
    if (!field) {
      ignored.push(raw);
      return;
    }
    if (indexes[field] !== undefined) {
      throw new UsageError(`the CSV header names the ${field} column twice ("${header[indexes[field]!]}" and "${raw}")`, {
        field,
      });
    }
    indexes[field] = index;
  });
  return { header, indexes, ignored };
}

/** Fails before any row is read when a column every row needs is missing and no flag supplies it. */
export function checkRequiredColumns(columns: ColumnMap, defaults: CallReasonDefaults): void {
  const missing: string[] = [];
  if (columns.indexes.caller_number === undefined) missing.push('caller_number (or caller)');
  if (columns.indexes.receiver_number === undefined) missing.push('receiver_number (or receiver)');
  if (columns.indexes.ends_at === undefined && defaults.ends_at === undefined && defaults.duration_ms === undefined) {
    missing.push(`ends_at (or pass ${DEFAULT_FLAG.ends_at})`);
  }
  if (columns.indexes.label_id === undefined && defaults.label_id === undefined) {
    missing.push(`label_id (or pass ${DEFAULT_FLAG.label_id})`);
  }
  if (missing.length > 0) {
    throw new UsageError(`the CSV has no ${missing.join(', ')} column`, {
      hint: `expected a header row with: ${CSV_FIELDS.join(', ')}`,
    });
  }
}

/** Fills `input` (reused for every row, to keep the hot loop allocation-free) from a parsed row. */
export function fillInput(fields: string[], columns: ColumnMap, input: CallReasonInput): void {
  const ix = columns.indexes;
  input.caller_number = ix.caller_number === undefined ? undefined : fields[ix.caller_number];
  input.receiver_number = ix.receiver_number === undefined ? undefined : fields[ix.receiver_number];
  input.starts_at = ix.starts_at === undefined ? undefined : fields[ix.starts_at];
  input.ends_at = ix.ends_at === undefined ? undefined : fields[ix.ends_at];
  input.label_id = ix.label_id === undefined ? undefined : fields[ix.label_id];
  input.dynamic_label_name = ix.dynamic_label_name === undefined ? undefined : fields[ix.dynamic_label_name];
  input.dynamic_call_reason = ix.dynamic_call_reason === undefined ? undefined : fields[ix.dynamic_call_reason];
}

export interface ReadCsvOptions {
  /** How messages name the file (default: the path); e.g. "stdin" for a spooled stdin. */
  label?: string;
  /** Called with the header (after mapping) before the first data row. */
  onHeader(columns: ColumnMap): void;
  /** Called for every data row, synchronously, in file order. */
  onRow(line: number, fields: string[]): void;
  /** Awaited after each chunk: the place for back-pressure and for noticing Ctrl-C. */
  afterChunk?: () => Promise<void> | void;
  /** Computes the SHA-256 of the bytes read. */
  hash?: boolean;
  /** Stops reading early (the promise resolves normally). */
  shouldStop?: () => boolean;
  chunkSize?: number;
}

export interface ReadCsvResult {
  rows: number;
  bytes: number;
  /** Hex SHA-256 of the file content, when asked for. */
  sha256?: string;
  lines: number;
  stopped: boolean;
}

const LF = 10;
const CR = 13;

/** Counts '\n' bytes between absolute offsets over the chunks still held (fast path: the newest chunk). */
class LineCounter {
  private chunks: { start: number; buf: Buffer }[] = [];
  private lastStart = 0;
  private lastBuf: Buffer = Buffer.alloc(0);
  /** Results of skipBlank (kept in fields: no allocation per row). */
  skippedTo = 0;
  skippedNewlines = 0;

  add(start: number, buf: Buffer): void {
    this.chunks.push({ start, buf });
    this.lastStart = start;
    this.lastBuf = buf;
  }

  /** Drops chunks that end at or before `offset`. */
  release(offset: number): void {
    let drop = 0;
    while (drop < this.chunks.length - 1 && this.chunks[drop]!.start + this.chunks[drop]!.buf.length <= offset) drop += 1;
    if (drop > 0) this.chunks.splice(0, drop);
  }

  countNewlines(from: number, to: number): number {
    if (from >= this.lastStart) return countIn(this.lastBuf, from - this.lastStart, Math.min(to - this.lastStart, this.lastBuf.length));
    let count = 0;
    for (const { start, buf } of this.chunks) {
      const end = start + buf.length;
      if (end <= from) continue;
      if (start >= to) break;
      count += countIn(buf, Math.max(from, start) - start, Math.min(to, end) - start);
    }
    return count;
  }

  /** Skips blank-line bytes (CR/LF) from `from`, up to `to`; sets skippedTo and skippedNewlines. */
  skipBlank(from: number, to: number): void {
    this.skippedTo = from;
    this.skippedNewlines = 0;
    if (from >= this.lastStart && from < this.lastStart + this.lastBuf.length) {
      const byte = this.lastBuf[from - this.lastStart];
      if (byte !== LF && byte !== CR) return; // the usual case: no blank line before the row
    }
    let offset = from;
    for (const { start, buf } of this.chunks) {
      const end = start + buf.length;
      if (end <= offset) continue;
      while (offset < end && offset < to) {
        const byte = buf[offset - start];
        if (byte === LF) this.skippedNewlines += 1;
        else if (byte !== CR) {
          this.skippedTo = offset;
          return;
        }
        offset += 1;
      }
      if (offset >= to) break;
    }
    this.skippedTo = offset;
  }
}

function countIn(buf: Buffer, from: number, to: number): number {
  let count = 0;
  let pos = from;
  while (pos < to) {
    const found = buf.indexOf(LF, pos);
    if (found === -1 || found >= to) break;
    count += 1;
    pos = found + 1;
  }
  return count;
}

/** A record longer than MAX_CSV_RECORD_BYTES, starting at `line`. */
export function recordTooLong(label: string, line: number): UsageError {
  return new UsageError(`${label}: line ${line}: the record is longer than ${MAX_CSV_RECORD_BYTES / 1024} KiB`, {
    hint: 'a call-reason row is a few hundred bytes: is a quote left open, or is this not a call-reason CSV?',
  });
}

function csvProblem(error: CsvError, label: string, line: number): UsageError {
  // csv-parse quotes the offending field in its message: keep the message short whatever the field.
  return new UsageError(`${label} is not a readable CSV: line ${line}: ${escapeText(error.message, 200)}`, {
    details: { csv_code: error.code },
  });
}

/** A line of nothing but spaces or tabs reads as one blank field: it is a blank line, and skipped. */
function isBlankRecord(record: string[]): boolean {
  return record.length === 1 && record[0]!.trim() === '';
}

/**
 * Reads FILE: BOM (UTF-8), LF or CRLF, quoted fields with commas, quotes and newlines. Blank lines
 * (also lines of only spaces) are skipped; rows with a different number of fields than the header
 * still reach onRow (the caller reports them). Refused before any row is read: UTF-16 or binary
 * files; refused at the line: records longer than MAX_CSV_RECORD_BYTES (memory stays bounded).
 */
export async function readCsv(file: string, options: ReadCsvOptions): Promise<ReadCsvResult> {
  const label = options.label ?? file;
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
    relax_quotes: false,
    max_record_size: MAX_CSV_RECORD_BYTES,
  });
  const api = (parser as unknown as { api: CsvApi }).api;
  const info = parser.info as unknown as { bytes: number };
  const hash: Hash | undefined = options.hash ? createHash('sha256') : undefined;
  const lines = new LineCounter();
  let offset = 0;
  let lastEnd = 0;
  let linesBefore = 0;
  let rows = 0;
  let header: ColumnMap | undefined;
  let stopped = false;

  const push = (record: string[]): void => {
    const end = info.bytes;
    lines.skipBlank(lastEnd, end);
    const blank = lines.skippedNewlines;
    const startLine = linesBefore + blank + 1;
    if (end - lines.skippedTo > MAX_CSV_RECORD_BYTES) throw recordTooLong(label, startLine);
    linesBefore += blank + lines.countNewlines(lines.skippedTo, end);
    lastEnd = end;
    if (isBlankRecord(record)) return;
    if (header === undefined) {
      header = mapHeader(record);
      options.onHeader(header);
      return;
    }
    rows += 1;
    options.onRow(startLine, record);
  };
  const close = () => {};
  /** The line where the record being parsed starts (for errors). */
  const currentLine = (): number => {
    lines.skipBlank(lastEnd, offset);
    return linesBefore + lines.skippedNewlines + 1;
  };

  const parseChunk = async (chunk: Buffer): Promise<void> => {
    hash?.update(chunk);
    lines.add(offset, chunk);
    offset += chunk.length;
    const error = api.parse(chunk, false, push, close);
    if (error) throw error;
    // A record still open: its fields so far, their bytes and separators. Endless empty fields
    // (",,,,") grow nothing csv-parse measures, so the field count is added.
    const state = api.state;
    if (state.record_length + state.field.length + state.record.length > MAX_CSV_RECORD_BYTES) throw recordTooLong(label, currentLine());
    lines.release(Math.min(lastEnd, offset));
    if (options.afterChunk) await options.afterChunk();
    if (options.shouldStop?.()) stopped = true;
  };

  const stream = createReadStream(file, { highWaterMark: options.chunkSize ?? 64 * 1024 });
  // The first bytes are held until there are enough to tell a CSV from UTF-16 or a binary file.
  let held: Buffer[] | undefined = [];
  let heldBytes = 0;
  const release = async (): Promise<void> => {
    const chunks = held!;
    held = undefined;
    const kind = nonTextKind(Buffer.concat(chunks, Math.min(heldBytes, SNIFF_BYTES * 2)));
    if (kind) throw nonTextError(label, kind, 'a CSV file with a header row');
    for (const chunk of chunks) {
      if (!stopped) await parseChunk(chunk);
    }
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      if (held) {
        held.push(chunk);
        heldBytes += chunk.length;
        if (heldBytes >= SNIFF_BYTES) await release();
      } else await parseChunk(chunk);
      if (stopped) break;
    }
    if (held) await release();
    if (!stopped) {
      const error = api.parse(undefined, true, push, close);
      if (error) throw error;
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    if (error instanceof CsvError) {
      if (error.code === 'CSV_MAX_RECORD_SIZE') throw recordTooLong(label, currentLine());
      throw csvProblem(error, label, currentLine());
    }
    throw inputFileError(error, label);
  } finally {
    stream.destroy();
  }
  if (header === undefined && !stopped) throw new UsageError(`${label} is empty: expected a header row and data rows`);
  return { rows, bytes: offset, sha256: hash?.digest('hex'), lines: linesBefore + 1, stopped };
}

interface CsvApi {
  parse(buf: Buffer | undefined, end: boolean, push: (record: string[]) => void, close: () => void): Error | undefined;
  /** csv-parse's state of the record being read (internal, like parse() above). */
  state: { record: string[]; record_length: number; field: { length: number } };
}

/** SHA-256 of a file, streamed. */
export async function hashFile(file: string): Promise<string> {
  const hash = createHash('sha256');
  try {
    for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) hash.update(chunk);
  } catch (error) {
    throw inputFileError(error, file);
  }
  return hash.digest('hex');
}
