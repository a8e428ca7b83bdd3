// Rows written back out as CSV (the --skip-invalid and --report files). The user's own cells are
// written verbatim, without the formula guard, so a fixed file can be uploaded again as it is.
import { CSV_QUOTE_WHEN } from '../../../output/csv.js';

function csvCell(value: unknown): string {
  const text = value === undefined || value === null ? '' : String(value);
  return CSV_QUOTE_WHEN.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\n`;
}
