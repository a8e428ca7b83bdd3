/**
 * Every failure a user can see is one of these classes. Each carries the exit code of
 * design.md §5; the top level (src/main.ts) is the only place that turns one into an exit.
 */
export const ExitCode = {
  ok: 0,
  bug: 1,
  usage: 2,
  auth: 3,
  api: 4,
  transient: 5,
  partial: 6,
  waitTimeout: 7,
  interrupted: 130,
} as const;

export interface ErrorDetails {
  hint?: string;
  httpStatus?: number;
  slug?: string;
  field?: string;
  /** Extra machine-readable facts for the JSON envelope. */
  details?: Record<string, unknown>;
  cause?: unknown;
}

export abstract class TcbError extends Error {
  abstract readonly exitCode: number;
  abstract readonly code: string;
  readonly hint?: string;
  readonly httpStatus?: number;
  readonly slug?: string;
  readonly field?: string;
  readonly details?: Record<string, unknown>;

  constructor(message: string, extra: ErrorDetails = {}) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = new.target.name;
    this.hint = extra.hint;
    this.httpStatus = extra.httpStatus;
    this.slug = extra.slug;
    this.field = extra.field;
    this.details = extra.details;
  }
}

/** Bad flags, bad input files, missing prompts without a TTY: nothing was sent. */
export class UsageError extends TcbError {
  readonly exitCode = ExitCode.usage;
  readonly code = 'usage_error';
}

/** 401/403, missing credentials, token quota. */
export class AuthError extends TcbError {
  readonly exitCode = ExitCode.auth;
  readonly code: string;
  constructor(message: string, extra: ErrorDetails & { code?: string } = {}) {
    super(message, extra);
    this.code = extra.code ?? 'auth_error';
  }
}

/** The API understood the request and rejected it (4xx other than 401/403/408/429). */
export class ApiError extends TcbError {
  readonly exitCode = ExitCode.api;
  readonly code = 'api_error';
}

/** 429, 5xx, network failures and timeouts that outlasted the retries. */
export class TransientError extends TcbError {
  readonly exitCode = ExitCode.transient;
  readonly code: string;
  constructor(message: string, extra: ErrorDetails & { code?: string } = {}) {
    super(message, extra);
    this.code = extra.code ?? 'transient_error';
  }
}

/** The work finished but some items failed; the details were already printed on stdout. */
export class PartialFailureError extends TcbError {
  readonly exitCode = ExitCode.partial;
  readonly code = 'partial_failure';
}

/** --wait gave up before the work finished. */
export class WaitTimeoutError extends TcbError {
  readonly exitCode = ExitCode.waitTimeout;
  readonly code = 'wait_timeout';
}

/** Ctrl-C: the command stopped cleanly. */
export class InterruptedError extends TcbError {
  readonly exitCode = ExitCode.interrupted;
  readonly code = 'interrupted';
}

export function isTcbError(error: unknown): error is TcbError {
  return error instanceof TcbError;
}
