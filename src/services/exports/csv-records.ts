import { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { ApiError } from '../../errors.js';
import type { ExportRow } from './types.js';

/**
 * Rows per batch. Small, so that a batch is dead long before V8's young generation fills up again:
 * at 500 rows a batch outlived two collections often enough to be promoted, and the old generation
 * grew to four times its live size with dead rows (a 200 000-row export: 87 MB peak; at 100: 70).
 */
export const DEFAULT_BATCH_SIZE = 100;

/** Header cells as column names: trimmed; blanks become column_N; duplicates get _2, _3… */
export function normaliseHeader(header: readonly unknown[]): string[] {
  const seen = new Map<string, number>();
  return header.map((cell, index) => {
    let name = String(cell ?? '').trim();
    if (name === '') name = `column_${index + 1}`;
    const count = (seen.get(name) ?? 0) + 1;
    seen.set(name, count);
    return count === 1 ? name : `${name}_${count}`;
  });
}

export interface CsvBatches {
  /** The header, once the first line has been read (empty for an empty file). */
  columns(): readonly string[];
  batches: AsyncGenerator<ExportRow[]>;
}

/**
 * Parses a CSV stream (UTF-8, with or without BOM, CRLF or LF, quoted fields) into batches of
 * records keyed by the header's column names. Only one batch is held at a time; csv-parse pulls
 * from the input as the batches are consumed, so memory stays flat whatever the size.
 * Short rows are padded with '' and extra cells are dropped, because the files come from a
 * deprecated API whose exact format is undocumented.
 */
export function csvBatches(input: Readable | string, batchSize = DEFAULT_BATCH_SIZE): CsvBatches {
  let columns: string[] = [];
  const stream = typeof input === 'string' ? Readable.from([input]) : input;
  const parser = parse({
    bom: true,
    skip_empty_lines: true,
    relax_column_count: true,
    // Raw arrays: naming the cells here keeps short and long rows under our control.
    columns: false,
  });

  async function* generate(): AsyncGenerator<ExportRow[]> {
    let batch: ExportRow[] = [];
    let header = true;
    const source = stream.pipe(parser);
    stream.on('error', (error) => parser.destroy(error));
    // A download can break before it is read (the output file is opened in between): piping a
    // stream that already failed would wait for ever.
    if (stream.errored) parser.destroy(stream.errored);
    else if (stream.destroyed && !stream.readableEnded) parser.destroy(new Error('the stream was closed before its end'));
    try {
      for await (const cells of source as AsyncIterable<string[]>) {
        if (header) {
          columns = normaliseHeader(cells);
          header = false;
          continue;
        }
        const row: ExportRow = {};
        for (let i = 0; i < columns.length; i += 1) row[columns[i]!] = cells[i] ?? '';
        batch.push(row);
        if (batch.length >= batchSize) {
          yield batch;
          batch = [];
        }
      }
    } catch (error) {
      if (error instanceof CsvError) {
        throw new ApiError(`the downloaded log is not valid CSV: ${error.message}`, {
          hint: 'run with --verbose to see where it came from; the log endpoints are deprecated, consider webhooks',
          cause: error,
        });
      }
      throw error;
    } finally {
      stream.destroy();
    }
    if (batch.length > 0) yield batch;
  }

  return { columns: () => columns, batches: generate() };
}

/** JSON records (an answer that was the data itself): batched, with the union of their keys as columns. */
export function recordBatches(records: readonly Record<string, unknown>[], batchSize = DEFAULT_BATCH_SIZE): CsvBatches {
  const seen = new Set<string>();
  for (const record of records) for (const key of Object.keys(record)) seen.add(key);
  const columns = [...seen];
  async function* generate(): AsyncGenerator<ExportRow[]> {
    for (let i = 0; i < records.length; i += batchSize) {
      yield records.slice(i, i + batchSize).map((record) => {
        const row: ExportRow = {};
        for (const column of columns) row[column] = record[column] ?? null;
        return row;
      });
    }
  }
  return { columns: () => columns, batches: generate() };
}
