import pino from 'pino';
import { redactor } from '../../output/redact.js';

/**
 * The daemon's log on stderr. Warnings and errors are always written (a daemon's problems must reach
 * its journal without a TTY or --verbose); the access log and start/stop lines only when asked.
 * Every line has an ISO-8601 timestamp; `json` gives one JSON object a line (pino's format with
 * level labels), `text` a line a person reads. Every field is escaped (no raw newline, NUL or
 * terminal escape from a request reaches the log) and goes through the redactor.
 *
 * The writes are asynchronous and bounded (pino's destination): a stalled log reader never blocks
 * the server, and lines beyond the buffer are dropped. A closed log pipe (EPIPE) stops the log,
 * never the server.
 */
export type LogFormat = 'text' | 'json';

export interface AccessEntry {
  client: string;
  method: string;
  /** The request target with secrets masked (see maskTarget). */
  path: string;
  /** null when no answer was sent (the client went away first). */
  status: number | null;
  ms: number;
  event_id: string | null;
  /** stored, duplicate, conflict, unrecognised, rejected, unauthorized, too-large, timeout, aborted, store-failure, health… */
  outcome: string;
  /** A short reason for a refusal or failure. */
  detail?: string;
}

export interface DaemonLog {
  /** One line per request, when the access log is on. */
  access(entry: AccessEntry): void;
  /** Start/stop lines: with the access log. */
  info(message: string, fields?: Record<string, unknown>): void;
  /** Always written. */
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  readonly accessLog: boolean;
  /** Lines lost to a full buffer or a closed pipe. */
  readonly dropped: number;
  /** Writes what is buffered (at shutdown). */
  flush(): void;
}

/** Where lines go: pino's destination on fd 2, or any writable in tests. */
export interface LogDestination {
  write(line: string): unknown;
  on?(event: 'error' | 'drop', listener: (value: unknown) => void): unknown;
  flushSync?(): void;
}

export interface LogOptions {
  format: LogFormat;
  accessLog: boolean;
  destination?: LogDestination;
  now?: () => Date;
}

/** Bytes of log kept waiting for a slow reader before lines are dropped. */
const MAX_BUFFERED = 4 * 1024 * 1024;
const MAX_FIELD = 300;

/**
 * A field made safe for one log line: control characters, DEL, C1 controls and line separators
 * become escapes, and long values are cut. JSON output escapes again; text output relies on this.
 */
export function escapeField(value: unknown, max = MAX_FIELD): string {
  const text = String(value ?? '');
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return cut.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\\"]/g, (char) => {
    switch (char) {
      case '\n':
        return '\\n';
      case '\r':
        return '\\r';
      case '\t':
        return '\\t';
      case '\\':
        return '\\\\';
      case '"':
        return '\\"';
      default:
        return `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`;
    }
  });
}

function textFields(fields: Record<string, unknown> | undefined): string {
  if (!fields) return '';
  return Object.entries(fields)
    .filter(([, value]) => value !== undefined && value !== null)
    .map(([key, value]) => ` ${key}="${escapeField(value)}"`)
    .join('');
}

/** JSON escapes C0 controls itself; long strings are cut here. */
function cutFields(fields: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields ?? {})) {
    out[key] = typeof value === 'string' && value.length > MAX_FIELD ? `${value.slice(0, MAX_FIELD)}…` : value;
  }
  return out;
}

/** What JSON leaves raw but a terminal or a line-based reader may act on: DEL, C1 controls, U+2028/9. */
function escapeRawInJson(line: string): string {
  return line.replace(/[\u007f-\u009f\u2028\u2029]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function createDaemonLog(options: LogOptions): DaemonLog {
  let dead = false;
  let dropped = 0;
  const destination: LogDestination =
    options.destination ?? pino.destination({ dest: 2, sync: false, minLength: 0, maxLength: MAX_BUFFERED });
  // EPIPE (the reader went away) or any other write error: stop logging, keep serving.
  destination.on?.('error', () => {
    dead = true;
  });
  destination.on?.('drop', () => {
    dropped += 1;
  });
  const now = options.now ?? (() => new Date());

  const writeLine = (line: string) => {
    if (dead) {
      dropped += 1;
      return;
    }
    try {
      destination.write(line);
    } catch {
      dead = true;
      dropped += 1;
    }
  };

  let emit: (level: 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>) => void;
  let access: (entry: AccessEntry) => void;

  if (options.format === 'json') {
    const logger = pino(
      {
        base: null,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        hooks: { streamWrite: (line) => escapeRawInJson(redactor.redact(line)) },
      },
      { write: (line: string) => writeLine(line) },
    );
    emit = (level, message, fields) => logger[level](cutFields(fields), message.length > 2000 ? `${message.slice(0, 2000)}…` : message);
    access = (entry) => logger.info(cutFields({ ...entry, ms: Math.round(entry.ms * 10) / 10 }), 'request');
  } else {
    const stamp = () => now().toISOString();
    emit = (level, message, fields) =>
      writeLine(redactor.redact(`${stamp()} ${level.toUpperCase().padEnd(5)} ${escapeField(message, 2000)}${textFields(fields)}\n`));
    access = (entry) => {
      const parts = [
        stamp(),
        'ACCESS',
        escapeField(entry.client, 100),
        `"${escapeField(entry.method, 20)} ${escapeField(entry.path)}"`,
        entry.status === null ? '-' : String(entry.status),
        `${entry.ms.toFixed(1)}ms`,
        entry.outcome,
      ];
      if (entry.event_id !== null) parts.push(`event_id="${escapeField(entry.event_id, 200)}"`);
      if (entry.detail) parts.push(`detail="${escapeField(entry.detail)}"`);
      writeLine(redactor.redact(`${parts.join(' ')}\n`));
    };
  }

  return {
    accessLog: options.accessLog,
    get dropped() {
      return dropped;
    },
    access: (entry) => {
      if (options.accessLog) access(entry);
    },
    info: (message, fields) => {
      if (options.accessLog) emit('info', message, fields);
    },
    warn: (message, fields) => emit('warn', message, fields),
    error: (message, fields) => emit('error', message, fields),
    flush: () => {
      if (dead) return;
      try {
        destination.flushSync?.();
      } catch {
        dead = true;
      }
    },
  };
}
