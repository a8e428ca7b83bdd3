import { readFile } from 'node:fs/promises';
import { parse } from 'csv-parse/sync';
import { UsageError } from '../../errors.js';
import { normalisePhoneNumber } from '../../util/phone.js';

/**
 * Phone numbers for publish/delist come from arguments, from --file FILE, or from stdin with
 * `--file -`. A file is one number a line (blank lines and #-comments skipped) or a CSV with a
 * `phone_number` column; a BOM and CRLF line ends are tolerated. Every entry keeps where it came
 * from, so invalid ones are reported as "argument 2" or "numbers.csv:7".
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

function isCsvHeader(cells: string[]): boolean {
  return cells.some((cell) => cell.trim().toLowerCase() === 'phone_number');
}

function firstLineCells(line: string): string[] {
  try {
    const rows = parse(line, { relax_quotes: true, relax_column_count: true }) as string[][];
    return rows[0] ?? [];
  } catch {
    return line.split(',');
  }
}

/** Parses the text of a file (or stdin) named `label` in messages. */
export function parseNumberText(text: string, label: string): NumberEntry[] {
  const body = text.replace(/^\uFEFF/, '');
  const lines = body.split(/\r\n|\n|\r/);
  const firstIndex = lines.findIndex((line) => line.trim() !== '' && !line.trim().startsWith('#'));
  if (firstIndex === -1) return [];
  const firstLine = lines[firstIndex]!;
  const cells = firstLineCells(firstLine);
  if (isCsvHeader(cells)) return parseCsv(body, label, firstIndex);
  if (cells.length > 1) {
    throw new UsageError(`${label}:${firstIndex + 1} looks like CSV but there is no phone_number column`, {
      hint: 'give the CSV a header row with a phone_number column, or list one number a line',
    });
  }
  const entries: NumberEntry[] = [];
  lines.forEach((line, index) => {
    const value = line.trim();
    if (value === '' || value.startsWith('#')) return;
    entries.push({ input: value, source: `${label}:${index + 1}` });
  });
  return entries;
}

function parseCsv(body: string, label: string, skipLines: number): NumberEntry[] {
  let records: { record: Record<string, string>; info: { lines: number } }[];
  try {
    records = parse(body, {
      bom: true,
      from_line: skipLines + 1,
      columns: (header: string[]) => header.map((name) => name.trim().toLowerCase()),
      skip_empty_lines: true,
      relax_column_count: true,
      trim: true,
      info: true,
    }) as typeof records;
  } catch (error) {
    const line = (error as { lines?: number }).lines;
    throw new UsageError(`${label}${line ? `:${line}` : ''} is not valid CSV: ${(error as Error).message}`);
  }
  return records.map(({ record, info }) => ({
    input: record.phone_number ?? '',
    source: `${label}:${info.lines}`,
  }));
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
  readStdin?: () => Promise<string>;
}

/** Gathers every entry from arguments and --file, in that order. */
export async function gatherEntries(inputs: NumberInputs): Promise<NumberEntry[]> {
  const entries: NumberEntry[] = inputs.args.map((input, index) => ({ input, source: `argument ${index + 1}` }));
  if (inputs.file !== undefined) {
    const file = inputs.file.trim();
    if (file === '') throw new UsageError('--file is empty; give a path, or - for stdin');
    let text: string;
    if (file === '-') {
      text = await (inputs.readStdin ?? readStdinText)();
    } else {
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        throw new UsageError(`cannot read --file ${file}: ${code === 'ENOENT' ? 'no such file' : (error as Error).message}`);
      }
    }
    entries.push(...parseNumberText(text, file === '-' ? 'stdin' : file));
  }
  return entries;
}

const SHOWN_INVALID = 20;

/** Reads and validates the numbers; any invalid entry, or none at all (unless allowed), is a usage error (exit 2). */
export async function collectNumbers(inputs: NumberInputs, options: { allowEmpty?: boolean } = {}): Promise<CollectedNumbers> {
  const collected = normaliseEntries(await gatherEntries(inputs));
  if (collected.invalid.length > 0) {
    const count = collected.invalid.length;
    const lines = collected.invalid.slice(0, SHOWN_INVALID).map((entry) => `  ${entry.source}: ${entry.reason}`);
    if (count > SHOWN_INVALID) lines.push(`  … and ${count - SHOWN_INVALID} more`);
    throw new UsageError(
      `${count} ${count === 1 ? 'entry is' : 'entries are'} not a plausible phone number; nothing was sent:\n${lines.join('\n')}`,
      {
        hint: 'numbers need the country code, digits only (spaces, dashes and a leading + are removed), e.g. 919810001000',
        details: { invalid: collected.invalid },
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
