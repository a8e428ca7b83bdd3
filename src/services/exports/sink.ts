import type { Format, Settings } from '../../config/settings.js';
import { openAtomicFile, type AtomicFile } from '../../output/atomic-file.js';
import { csvLines } from '../../output/csv.js';
import type { Destination } from '../../output/destination.js';
import { Output, type Column, type ListWriter } from '../../output/output.js';
import type { ExportRow } from './types.js';

/**
 * Where an export's rows go: stdout (ctx.output), or a file written atomically (temporary file
 * in the same folder, renamed into place by commit(); abort() or Ctrl-C leaves nothing).
 */
export interface ExportSink {
  output: Output;
  /** The file's final path, or undefined for stdout. */
  path?: string;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

export async function openSink(stdout: Output, settings: Settings, target: Destination | undefined, format: Format): Promise<ExportSink> {
  if (target === undefined) {
    return { output: stdout, commit: async () => {}, abort: async () => {} };
  }
  const file: AtomicFile = await openAtomicFile(target);
  const output = new Output({
    format,
    color: false,
    stderrColor: settings.stderrColor,
    stderrIsTTY: settings.stderrIsTTY,
    verbose: settings.verbose,
    quiet: settings.quiet,
    stdout: file.stream,
  });
  return { output, path: file.path, commit: () => file.commit(), abort: () => file.abort() };
}

/** The table shows the preferred columns that exist; with fewer than two of them, every column. */
export function tableColumnsFor(columns: readonly string[], preferred: readonly string[]): Column<ExportRow>[] {
  const present = preferred.filter((name) => columns.includes(name));
  const chosen = present.length >= 2 ? present : columns;
  return chosen.map((name) => ({ header: name, value: (row: ExportRow) => row[name] }));
}

/**
 * Re-emits rows through the output module's list writer in batches: JSON stays one array,
 * ndjson and CSV stream, a table is printed at the end. An empty CSV still gets its header.
 */
export class RowEmitter {
  private writer: ListWriter<ExportRow> | undefined;
  private rows = 0;

  constructor(
    private readonly output: Output,
    private readonly preferred: readonly string[],
  ) {}

  get count(): number {
    return this.rows;
  }

  async write(columns: readonly string[], rows: readonly ExportRow[]): Promise<void> {
    if (rows.length === 0) return;
    this.writer ??= this.output.listWriter(tableColumnsFor(columns, this.preferred));
    await this.writer.write(rows);
    this.rows += rows.length;
  }

  async end(columns: readonly string[]): Promise<void> {
    this.writer ??= this.output.listWriter(tableColumnsFor(columns, this.preferred));
    if (this.rows === 0 && this.output.format === 'csv' && columns.length > 0) {
      await this.output.writeStdout(csvLines([], columns, true));
    }
    await this.writer.end();
  }
}
