import { stringify } from 'csv-stringify/sync';

const FORMULA_START = /^[=+\-@\t\r]/;

/** Spreadsheet formula-injection guard: a cell starting with = + - @ (or tab/CR) gets a leading '. */
export function guardCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** The union of top-level keys, in first-seen order. */
export function columnsOf(rows: readonly Record<string, unknown>[]): string[] {
  const seen = new Set<string>();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

/**
 * RFC 4180: a field holding a comma, a quote, CR or LF is quoted. csv-stringify on its own quotes
 * only the record delimiter it writes, so a bare CR would end a record for other readers.
 */
export const CSV_QUOTE_WHEN = /[,"\r\n]/;

export function csvLines(rows: readonly Record<string, unknown>[], columns: readonly string[], withHeader: boolean): string {
  const records = rows.map((row) => columns.map((column) => guardCell(row[column])));
  return stringify(withHeader ? [columns.map(guardCell), ...records] : records, {
    record_delimiter: '\n',
    quoted_match: CSV_QUOTE_WHEN,
  });
}
