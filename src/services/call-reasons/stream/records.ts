// Lines → call-reason inputs, for NDJSON (one object a line) and CSV (a header row, then records;
// a quoted field may span lines). A line that cannot be read is a rejection of that line, never
// the end of the stream. Validation itself is record.ts's, as for push and upload.
import { parse as parseCsv } from 'csv-parse/sync';
import { checkRequiredColumns, fillInput, mapHeader, type ColumnMap } from '../upload/csv-reader.js';
import type { CallReasonDefaults, CallReasonField, CallReasonInput } from '../record.js';
import type { Line } from './lines.js';

/** One record to validate, or a line that could not be read; `line` is where it starts. */
export type ParsedLine =
  | { line: number; input: CallReasonInput; raw: string }
  | { line: number; error: string; raw: string };

export type InputFormat = 'ndjson' | 'csv';

const V2_FIELDS: readonly CallReasonField[] = [
  'caller_number',
  'receiver_number',
  'starts_at',
  'ends_at',
  'label_id',
  'dynamic_label_name',
  'dynamic_call_reason',
];
const V1_FIELDS: Readonly<Record<string, CallReasonField>> = {
  caller: 'caller_number',
  receiver: 'receiver_number',
  label_name: 'dynamic_label_name',
  call_reason: 'dynamic_call_reason',
};

function unreadable(line: Line): ParsedLine | undefined {
  if (line.problem === 'too-long') return { line: line.number, error: 'the line is longer than 1 MiB', raw: `${line.text}…` };
  if (line.problem === 'not-utf8') return { line: line.number, error: 'the line is not valid UTF-8', raw: line.text };
  return undefined;
}

function fieldValue(name: string, value: unknown): string | undefined | { error: string } {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return { error: `${name} must be a string or a number` };
}

/** One NDJSON line: undefined for a blank line. v2 field names, or the v1 ones; other keys are ignored. */
export function parseNdjsonLine(line: Line): ParsedLine | undefined {
  const bad = unreadable(line);
  if (bad) return bad;
  const text = line.text.trim();
  if (text === '') return undefined;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    return { line: line.number, error: `not JSON: ${(error as Error).message}`, raw: line.text };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return { line: line.number, error: 'not a JSON object', raw: line.text };
  }
  const object = value as Record<string, unknown>;
  const input: CallReasonInput = {};
  for (const [key, raw] of Object.entries(object)) {
    const field = (V2_FIELDS as readonly string[]).includes(key) ? (key as CallReasonField) : V1_FIELDS[key];
    if (!field) continue;
    if (input[field] !== undefined) {
      return { line: line.number, error: `${field} is given twice (with its v1 and its v2 name)`, raw: line.text };
    }
    const read = fieldValue(key, raw);
    if (typeof read === 'object') return { line: line.number, error: read.error, raw: line.text };
    input[field] = read;
  }
  return { line: line.number, input, raw: line.text };
}

/** Lines a quoted field may span before the record counts as broken (an unclosed quote). */
const MAX_RECORD_LINES = 100;

function quotes(text: string): number {
  let count = 0;
  for (let at = text.indexOf('"'); at !== -1; at = text.indexOf('"', at + 1)) count += 1;
  return count;
}

/**
 * CSV with a header row (v2 or v1 column names, as `upload` reads them). A record ends at the
 * first line end outside quotes: lines are gathered while the count of quote characters is odd.
 */
export class CsvLines {
  private columns: ColumnMap | undefined;
  private pending: Line[] = [];
  private pendingQuotes = 0;

  constructor(private readonly defaults: CallReasonDefaults) {}

  /** Throws UsageError for a header that cannot work (a column twice, a required one missing). */
  push(line: Line): ParsedLine[] {
    const bad = unreadable(line);
    if (bad) return [...this.abandonPending(), bad];
    if (this.pending.length === 0 && line.text.trim() === '') return [];
    this.pending.push(line);
    this.pendingQuotes += quotes(line.text);
    if (this.pendingQuotes % 2 === 1) {
      return this.pending.length >= MAX_RECORD_LINES ? this.abandonPending('a quoted field is not closed') : [];
    }
    const lines = this.pending;
    this.pending = [];
    this.pendingQuotes = 0;
    return this.record(lines);
  }

  end(): ParsedLine[] {
    return this.abandonPending('a quoted field is not closed at the end of the input');
  }

  private abandonPending(error?: string): ParsedLine[] {
    if (this.pending.length === 0) return [];
    const first = this.pending[0]!.number;
    const raw = this.pending.map((line) => line.text).join('\n');
    this.pending = [];
    this.pendingQuotes = 0;
    return [{ line: first, error: error ?? 'a quoted field is not closed before an unreadable line', raw }];
  }

  private record(lines: Line[]): ParsedLine[] {
    const line = lines[0]!.number;
    const raw = lines.map((l) => l.text).join('\n');
    let fields: string[];
    try {
      fields = (parseCsv(raw, { relax_column_count: true }) as string[][])[0] ?? [];
    } catch (error) {
      return [{ line, error: `not valid CSV: ${(error as Error).message.replace(/ at line \d+/, '')}`, raw }];
    }
    if (!this.columns) {
      this.columns = mapHeader(fields);
      checkRequiredColumns(this.columns, this.defaults);
      return [];
    }
    if (fields.length !== this.columns.header.length) {
      return [{ line, error: `has ${fields.length} fields, the header has ${this.columns.header.length}`, raw }];
    }
    const input: CallReasonInput = {};
    fillInput(fields, this.columns, input);
    return [{ line, input, raw }];
  }
}
