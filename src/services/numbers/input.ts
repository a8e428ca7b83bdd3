import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { UsageError } from '../../errors.js';
import { inputFileError, nonTextError, nonTextKind, SNIFF_BYTES } from '../../util/input-file.js';
import { normalisePhoneNumber } from '../../util/phone.js';
import { escapeText } from '../../util/text.js';

/**
 * Phone numbers for publish/delist come from arguments, from --file FILE, or from stdin with
 * `--file -`. A file is one number a line (blank lines and #-comments skipped) or a CSV with a
 * `phone_number` column; a BOM and CRLF line ends are tolerated. Every entry keeps where it came
 * from, so invalid ones are reported as "argument 2" or "numbers.csv:7".
 *
 * Files are read as a stream with bounded memory: a line (or CSV record) longer than 1 KiB, a
 * binary or UTF-16 file, or more than a million entries is refused (exit 2) before anything is sent.
 */
export interface NumberEntry {
  input: string;
  source: string;
}

export interface InvalidEntry extends NumberEntry {
  reason: string;
}

export interface CollectedNumbers {
  /** Normalised (digits with country code, no "+"), duplicates removed, first-seen order. */
  numbers: string[];
  invalid: InvalidEntry[];
  /** Entries dropped because the same number came earlier. */
  duplicates: number;
  /** Entries read, before validation and de-duplication. */
  total: number;
}

/** Longest line (or CSV record) of a numbers file, in bytes: a number with a few columns fits easily. */
export const MAX_NUMBER_LINE_BYTES = 1024;
/** Most entries one run reads (100 requests of 10 000): past it the input is not a numbers list. */
export const MAX_NUMBER_ENTRIES = 1_000_000;
/** Invalid entries listed in the message and in the error's details; the rest are counted. */
export const SHOWN_INVALID = 20;

const LF = 10;
const CR = 13;

function isCsvHeader(cells: string[]): boolean {
  return cells.some((cell) => cell.trim().toLowerCase() === 'phone_number');
}

function firstLineCells(line: string): string[] {
  try {
    const rows = parseSync(line, { relax_quotes: true, relax_column_count: true }) as string[][];
    return rows[0] ?? [];
  } catch {
    return line.split(',');
  }
}

interface CsvApi {
  /** The parser's own count: the line (from 1 = the header) where the current record ends. */
  info: { lines: number };
  parse(buf: Buffer | undefined, end: boolean, push: (record: string[]) => void, close: () => void): Error | undefined;
}

/**
 * The line-by-line reader behind every source: decides on the first meaningful line whether the
 * input is a list or a CSV, then turns lines into entries. Lines arrive already cut (no line end).
 */
class NumberLines {
  readonly entries: NumberEntry[] = [];
  private mode: 'unknown' | 'list' | 'csv' = 'unknown';
  private csv: CsvApi | undefined;
  private phoneColumn = -1;
  /** File line of the CSV header, minus one: added to the parser's line count. */
  private csvOffset = 0;

  constructor(private readonly label: string) {}

  add(line: number, text: string): void {
    if (this.mode === 'unknown') {
      const value = text.trim();
      if (value === '' || value.startsWith('#')) return;
      const cells = firstLineCells(text);
      if (isCsvHeader(cells)) {
        this.mode = 'csv';
        const parser = parse({
          record_delimiter: '\n',
          skip_empty_lines: true,
          relax_column_count: true,
          trim: true,
          max_record_size: MAX_NUMBER_LINE_BYTES,
        });
        this.csv = (parser as unknown as { api: CsvApi }).api;
        this.csvOffset = line - 1;
      } else if (cells.length > 1) {
        throw new UsageError(`${this.label}:${line} looks like CSV but there is no phone_number column`, {
          hint: 'give the CSV a header row with a phone_number column, or list one number a line',
        });
      } else this.mode = 'list';
    }
    if (this.mode === 'list') {
      const value = text.trim();
      if (value !== '' && !value.startsWith('#')) this.push(value, line);
      return;
    }
    this.feedCsv(Buffer.from(`${text}\n`), false);
  }

  end(): NumberEntry[] {
    if (this.mode === 'csv') this.feedCsv(undefined, true);
    return this.entries;
  }

  private push(input: string, line: number): void {
    if (this.entries.length >= MAX_NUMBER_ENTRIES) {
      throw new UsageError(`${this.label} has more than ${MAX_NUMBER_ENTRIES} entries (line ${line}); split it into smaller files`);
    }
    this.entries.push({ input, source: `${this.label}:${line}` });
  }

  private feedCsv(chunk: Buffer | undefined, end: boolean): void {
    const error = this.csv!.parse(
      chunk,
      end,
      (record) => this.csvRecord(record),
      () => {},
    );
    if (!error) return;
    const line = this.csvOffset + this.csv!.info.lines;
    const code = (error as { code?: string }).code;
    if (code === 'CSV_MAX_RECORD_SIZE') {
      throw new UsageError(`${this.label}:${line}: a CSV record is longer than 1 KiB`, {
        hint: 'is a quote left open? Each record needs its phone_number and at most a few short columns',
      });
    }
    throw new UsageError(`${this.label}:${line} is not valid CSV: ${error.message}`);
  }

  private csvRecord(record: string[]): void {
    if (this.phoneColumn === -1) {
      this.phoneColumn = record.findIndex((name) => name.trim().toLowerCase() === 'phone_number');
      return;
    }
    // A line of nothing but spaces is blank, not an entry.
    if (record.every((cell) => cell === '')) return;
    this.push(record[this.phoneColumn] ?? '', this.csvOffset + this.csv!.info.lines);
  }
}

/** Splits bytes into lines (LF, CRLF or CR), each at most MAX_NUMBER_LINE_BYTES, as UTF-8 text. */
class LineSplitter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private line = 0;
  private lastWasCr = false;
  /** Chunks held until the first SNIFF_BYTES have been seen, so a binary file is named as such. */
  private held: Buffer[] | undefined = [];
  private heldBytes = 0;

  constructor(
    private readonly label: string,
    private readonly sink: NumberLines,
  ) {}

  write(chunk: Buffer): void {
    if (this.held) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
      if (this.heldBytes >= SNIFF_BYTES) this.release();
      return;
    }
    this.split(chunk);
  }

  end(): void {
    if (this.held) this.release();
    if (this.pendingBytes > 0) this.emit();
  }

  private release(): void {
    const held = this.held!;
    this.held = undefined;
    const kind = nonTextKind(Buffer.concat(held, Math.min(this.heldBytes, SNIFF_BYTES * 2)));
    if (kind) throw nonTextError(this.label, kind, 'one phone number a line, or a CSV with a phone_number column');
    for (const chunk of held) this.split(chunk);
  }

  private split(chunk: Buffer): void {
    let start = 0;
    for (let i = 0; i < chunk.length; i += 1) {
      const byte = chunk[i];
      if (byte !== LF && byte !== CR) continue;
      if (byte === LF && this.lastWasCr && i === start && this.pendingBytes === 0) {
        // the LF of a CRLF whose CR ended the previous line
        this.lastWasCr = false;
        start = i + 1;
        continue;
      }
      this.take(chunk.subarray(start, i));
      this.emit();
      this.lastWasCr = byte === CR;
      start = i + 1;
    }
    if (start < chunk.length) {
      this.lastWasCr = false;
      this.take(chunk.subarray(start));
    }
  }

  private take(bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (this.pendingBytes + bytes.length > MAX_NUMBER_LINE_BYTES) {
      throw new UsageError(`${this.label}:${this.line + 1}: the line is longer than 1 KiB`, {
        hint: 'expected one phone number a line, or a CSV with a phone_number column',
      });
    }
    this.pending.push(Buffer.from(bytes));
    this.pendingBytes += bytes.length;
  }

  private emit(): void {
    this.line += 1;
    let text = Buffer.concat(this.pending, this.pendingBytes).toString('utf8');
    if (this.line === 1) text = text.replace(/^\uFEFF/, '');
    this.pending = [];
    this.pendingBytes = 0;
    this.sink.add(this.line, text);
  }
}

/** Parses the text of a file (or stdin) named `label` in messages. */
export function parseNumberText(text: string, label: string): NumberEntry[] {
  const lines = new NumberLines(label);
  const splitter = new LineSplitter(label, lines);
  splitter.write(Buffer.from(text, 'utf8'));
  splitter.end();
  return lines.end();
}

/** Reads a stream of bytes (a file, stdin) named `label` in messages, with bounded memory. */
export async function readNumberStream(source: AsyncIterable<Buffer | string>, label: string): Promise<NumberEntry[]> {
  const lines = new NumberLines(label);
  const splitter = new LineSplitter(label, lines);
  for await (const chunk of source) splitter.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  splitter.end();
  return lines.end();
}

/** Validates, normalises and de-duplicates entries; nothing here talks to the API. */
export function normaliseEntries(entries: readonly NumberEntry[]): CollectedNumbers {
  const seen = new Set<string>();
  const numbers: string[] = [];
  const invalid: InvalidEntry[] = [];
  let duplicates = 0;
  for (const entry of entries) {
    const result = normalisePhoneNumber(entry.input);
    if (!result.ok) {
      invalid.push({ ...entry, reason: result.reason });
      continue;
    }
    if (seen.has(result.number)) {
      duplicates += 1;
      continue;
    }
    seen.add(result.number);
    numbers.push(result.number);
  }
  return { numbers, invalid, duplicates, total: entries.length };
}

export async function readStdinText(stdin: NodeJS.ReadableStream = process.stdin): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}

export interface NumberInputs {
  args: readonly string[];
  /** --file value: a path, or "-" for stdin. */
  file?: string;
  /** Reads all of stdin as text (tests); without it, stdin is streamed. */
  readStdin?: () => Promise<string>;
  /** stdin for `--file -` (default process.stdin). */
  stdin?: NodeJS.ReadableStream;
}

/** Gathers every entry from arguments and --file, in that order. */
export async function gatherEntries(inputs: NumberInputs): Promise<NumberEntry[]> {
  const entries: NumberEntry[] = inputs.args.map((input, index) => ({ input, source: `argument ${index + 1}` }));
  if (inputs.file !== undefined) {
    const file = inputs.file.trim();
    if (file === '') throw new UsageError('--file is empty; give a path, or - for stdin');
    let read: NumberEntry[];
    if (file === '-') {
      read = inputs.readStdin
        ? parseNumberText(await inputs.readStdin(), 'stdin')
        : await readNumberStream((inputs.stdin ?? process.stdin) as AsyncIterable<Buffer>, 'stdin');
    } else {
      const stream = createReadStream(file, { highWaterMark: 64 * 1024 });
      try {
        read = await readNumberStream(stream as AsyncIterable<Buffer>, file);
      } catch (error) {
        throw inputFileError(error, `--file ${file}`, { field: 'file' });
      } finally {
        stream.destroy();
      }
    }
    for (const entry of read) entries.push(entry);
  }
  return entries;
}

/** An invalid entry as the error details show it: the input escaped and cut like the message. */
function shownEntry(entry: InvalidEntry): InvalidEntry {
  return { input: escapeText(entry.input), source: entry.source, reason: entry.reason };
}

/** Reads and validates the numbers; any invalid entry, or none at all (unless allowed), is a usage error (exit 2). */
export async function collectNumbers(inputs: NumberInputs, options: { allowEmpty?: boolean } = {}): Promise<CollectedNumbers> {
  const collected = normaliseEntries(await gatherEntries(inputs));
  if (collected.invalid.length > 0) {
    const count = collected.invalid.length;
    const shown = collected.invalid.slice(0, SHOWN_INVALID);
    const lines = shown.map((entry) => `  ${entry.source}: ${entry.reason}`);
    if (count > SHOWN_INVALID) lines.push(`  … and ${count - SHOWN_INVALID} more`);
    throw new UsageError(
      `${count} ${count === 1 ? 'entry is' : 'entries are'} not a plausible phone number; nothing was sent:\n${lines.join('\n')}`,
      {
        hint: 'numbers need the country code, digits only (spaces, dashes and a leading + are removed), e.g. 919810001000',
        details: { invalid: shown.map(shownEntry), invalid_count: count },
      },
    );
  }
  if (collected.numbers.length === 0 && !options.allowEmpty) {
    throw new UsageError('no phone numbers given', {
      hint: 'pass numbers as arguments, or use --file FILE (one a line, or a CSV with a phone_number column) or --file - for stdin',
    });
  }
  return collected;
}
