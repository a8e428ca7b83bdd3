import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { Chalk, type ChalkInstance } from 'chalk';
import { createRequire } from 'node:module';
import type { Format } from '../config/settings.js';
import { isTcbError, type TcbError } from '../errors.js';
import { columnsOf, csvLines } from './csv.js';
import { redactor } from './redact.js';

type TableConstructor = typeof import('cli-table3');
let Table: TableConstructor | undefined;

/** cli-table3 (CommonJS, with its string-width stack) is required by the first table, never for data formats. */
function tableConstructor(): TableConstructor {
  return (Table ??= createRequire(import.meta.url)('cli-table3') as TableConstructor);
}

/** A table column: its header and how to read the cell from a row. */
export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

export interface OutputOptions {
  format: Format;
  color: boolean;
  stderrColor: boolean;
  stderrIsTTY: boolean;
  verbose: boolean;
  quiet: boolean;
  stdout?: Writable;
  stderr?: Writable;
}

/** Streams a list in any format; JSON stays one array however many pages arrive. */
export interface ListWriter<T> {
  write(rows: readonly T[]): Promise<void>;
  end(): Promise<void>;
}

export interface ErrorEnvelope {
  code: string;
  message: string;
  http_status: number | null;
  slug: string | null;
  hint: string | null;
  exit_code: number;
  field?: string;
  details?: Record<string, unknown>;
}

/**
 * The one module that writes to stdout and stderr. stdout carries data only;
 * info, warnings and logs go to stderr, through the redactor, and only on a TTY unless asked.
 */
export class Output {
  readonly format: Format;
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly color: ChalkInstance;
  readonly errColor: ChalkInstance;
  private readonly options: OutputOptions;

  constructor(options: OutputOptions) {
    this.options = options;
    this.format = options.format;
    this.stdout = options.stdout ?? process.stdout;
    this.stderr = options.stderr ?? process.stderr;
    this.color = new Chalk({ level: options.color ? 1 : 0 });
    this.errColor = new Chalk({ level: options.stderrColor ? 1 : 0 });
  }

  get verbose(): boolean {
    return this.options.verbose;
  }

  /** Progress bars and spinners are for people: a TTY on stderr, and not --quiet. */
  get showsProgress(): boolean {
    return this.options.stderrIsTTY && !this.options.quiet;
  }

  /** Data: text, or bytes passed through unchanged (`tcb api` prints a body as it came). */
  async writeStdout(data: string | Uint8Array): Promise<void> {
    if (data.length === 0) return;
    if (!this.stdout.write(data)) await once(this.stdout, 'drain');
  }

  private writeStderr(text: string): void {
    this.stderr.write(redactor.redact(text));
  }

  /** What the user asked to see on stderr (`tcb api --include`): always written, redacted. */
  requested(text: string): void {
    this.writeStderr(text);
  }

  /** error() writes one JSON line (json formats, or no TTY on stderr) rather than a message. */
  get errorsAsJson(): boolean {
    return this.format === 'json' || this.format === 'ndjson' || !this.options.stderrIsTTY;
  }

  /** Informational line: on a TTY (or with --verbose), never with --quiet. */
  info(message: string): void {
    if (this.options.quiet) return;
    if (this.options.stderrIsTTY || this.options.verbose) this.writeStderr(`${message}\n`);
  }

  success(message: string): void {
    this.info(`${this.errColor.green('✓')} ${message}`);
  }

  warn(message: string): void {
    if (this.options.stderrIsTTY || this.options.verbose) {
      this.writeStderr(`${this.errColor.yellow('Warning:')} ${message}\n`);
    }
  }

  /** A line a command promises on stderr whatever the terminal (e.g. each rejected input line). */
  report(message: string): void {
    this.writeStderr(`${message}\n`);
  }

  /** --verbose diagnostics (HTTP log). */
  debug(message: string): void {
    if (this.options.verbose) this.writeStderr(`${this.errColor.dim(message)}\n`);
  }

  async list<T extends object>(rows: readonly T[], columns: readonly Column<T>[]): Promise<void> {
    const writer = this.listWriter(columns);
    await writer.write(rows);
    await writer.end();
  }

  listWriter<T extends object>(columns: readonly Column<T>[]): ListWriter<T> {
    switch (this.format) {
      case 'json':
        return this.jsonArrayWriter<T>();
      case 'ndjson':
        return {
          write: (rows) => this.writeStdout(rows.map((row) => `${JSON.stringify(row)}\n`).join('')),
          end: async () => {},
        };
      case 'csv':
        return this.csvWriter<T>();
      case 'table':
        return this.tableWriter(columns);
    }
  }

  /** One object: the API's own JSON, or a human rendering for tables ('' prints nothing). */
  async object<T extends object>(value: T, human: (value: T) => string): Promise<void> {
    switch (this.format) {
      case 'json':
        return this.writeStdout(`${JSON.stringify(value, null, 2)}\n`);
      case 'ndjson':
        return this.writeStdout(`${JSON.stringify(value)}\n`);
      case 'csv': {
        const row = value as unknown as Record<string, unknown>;
        return this.writeStdout(csvLines([row], columnsOf([row]), true));
      }
      case 'table': {
        const text = human(value);
        return text ? this.writeStdout(ensureNewline(text)) : undefined;
      }
    }
  }

  renderTable(head: readonly string[], rows: readonly unknown[][]): string {
    const table = new (tableConstructor())({
      head: head.map((h) => this.color.bold(h)),
      style: { head: [], border: [], compact: true },
      wordWrap: false,
    });
    for (const row of rows) table.push(row.map(tableCell));
    return table.toString();
  }

  /**
   * JSON is all or nothing: the array is held (serialised) until end(), so a run that fails part
   * way prints nothing rather than a broken array jq cannot read. ndjson and csv stream instead.
   */
  private jsonArrayWriter<T>(): ListWriter<T> {
    const chunks: string[] = [];
    return {
      write: async (rows) => {
        for (const row of rows) {
          const body = JSON.stringify(row, null, 2).replace(/\n/g, '\n  ');
          chunks.push(`${chunks.length === 0 ? '[\n  ' : ',\n  '}${body}`);
        }
      },
      end: async () => {
        if (chunks.length === 0) return this.writeStdout('[]\n');
        chunks.push('\n]\n');
        // Written in slices so a huge array never becomes one giant string.
        for (let i = 0; i < chunks.length; i += 1000) await this.writeStdout(chunks.slice(i, i + 1000).join(''));
        chunks.length = 0;
      },
    };
  }

  private csvWriter<T>(): ListWriter<T> {
    let columns: string[] | undefined;
    return {
      write: async (rows) => {
        const records = rows as unknown as Record<string, unknown>[];
        if (records.length === 0) return;
        const withHeader = columns === undefined;
        columns ??= columnsOf(records);
        await this.writeStdout(csvLines(records, columns, withHeader));
      },
      end: async () => {},
    };
  }

  /** Tables need every row to size their columns, so they are printed at the end. */
  private tableWriter<T>(columns: readonly Column<T>[]): ListWriter<T> {
    const buffered: T[] = [];
    return {
      write: async (rows) => {
        buffered.push(...rows);
      },
      end: async () => {
        if (buffered.length === 0) {
          this.info('No results.');
          return;
        }
        const rows = buffered.map((row) => columns.map((column) => column.value(row)));
        await this.writeStdout(`${this.renderTable(columns.map((c) => c.header), rows)}\n`);
      },
    };
  }

  /** Errors: one JSON line for machines (json formats or no TTY on stderr), else a readable message. */
  error(error: unknown): void {
    const envelope = toEnvelope(error, this.options.verbose);
    if (this.errorsAsJson) {
      this.writeStderr(`${JSON.stringify({ error: envelope })}\n`);
    } else {
      let text = `${this.errColor.red('Error:')} ${envelope.message}\n`;
      if (envelope.hint) text += `${this.errColor.dim('Hint:')} ${envelope.hint}\n`;
      this.writeStderr(text);
    }
    if (this.options.verbose && !isTcbError(error) && error instanceof Error && error.stack) {
      this.writeStderr(`${error.stack}\n`);
    }
  }
}

function tableCell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '';
  if (Array.isArray(value)) return value.join(', ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function ensureNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

export function toEnvelope(error: unknown, verbose = false): ErrorEnvelope {
  if (isTcbError(error)) {
    const tcb = error as TcbError;
    const envelope: ErrorEnvelope = {
      code: tcb.code,
      message: tcb.message,
      http_status: tcb.httpStatus ?? null,
      slug: tcb.slug ?? null,
      hint: tcb.hint ?? null,
      exit_code: tcb.exitCode,
    };
    if (tcb.field) envelope.field = tcb.field;
    if (tcb.details) envelope.details = tcb.details;
    return envelope;
  }
  const message = error instanceof Error ? error.message : String(error);
  return {
    code: 'internal_error',
    message: `unexpected error, this is a bug in tcb: ${message}`,
    http_status: null,
    slug: null,
    hint: verbose
      ? 'please report it with the stack trace below'
      : 'please report it; run again with --verbose to see the stack trace',
    exit_code: 1,
  };
}
