// `tcb call-reason stream`: a long-running consumer. Lines are read as they arrive, validated like
// push and upload do, cut into batches (full, or due once --max-latency has passed since their first
// record) and handed to the transport under the rate limiter; each answer becomes an acknowledgement.
// Reading stops while too many records wait (back-pressure on the pipe).
import type { Readable } from 'node:stream';
import { outcomeUnknown } from '../../../api/call-reasons.js';
import { ApiError, AuthError, TcbError, TransientError } from '../../../errors.js';
import { validateCallReason, type CallReasonDefaults, type CallReasonRecord } from '../record.js';
import { Batcher, type PendingBatch } from '../upload/batching.js';
import { LineSplitter, type Line } from './lines.js';
import { CsvLines, parseNdjsonLine, type InputFormat, type ParsedLine } from './records.js';

export type StreamMode = 'batch' | 'realtime';

export interface StreamOptions {
  mode: StreamMode;
  format: InputFormat;
  /** Records per batch (batch mode). */
  batchSize: number;
  /** A batch is due this long after its first record arrived. */
  maxLatencyMs: number;
  /** Times may be text (relative forms are resolved against each record's arrival). */
  defaults: CallReasonDefaults;
  /** Requests in flight at most (those on the wire plus the one waiting for the rate limiter). */
  maxInFlight: number;
  /** Reading pauses while more records than this wait to be sent. */
  maxBufferedRecords: number;
  maxLineBytes?: number;
  /**
   * Failed or unknown outcomes in a row (requests sent together count once) after which the
   * stream stops (default 3).
   */
  maxConsecutiveProblems?: number;
  now?: () => number;
}

/** Called by the transport just before a request goes on the wire (after the rate limiter); throwing stops it. */
export interface SendHooks {
  onSend(): void;
  signal: AbortSignal;
}

/** How records reach the API; the service's tests pass their own. */
export interface StreamTransport {
  /** Resolves with the batch id (null when the API accepted the batch without naming it). */
  sendBatch(records: CallReasonRecord[], hooks: SendHooks): Promise<string | null>;
  sendRecord(record: CallReasonRecord, hooks: SendHooks): Promise<void>;
}

export type BatchAck =
  | { status: 'accepted'; batch_id: string | null; first_line: number; last_line: number; records: number }
  | { status: 'uncertain' | 'failed' | 'unsent'; first_line: number; last_line: number; records: number; error: string };

export type RecordAck =
  | { line: number; status: 'accepted' }
  | { line: number; status: 'rejected' | 'uncertain' | 'failed' | 'unsent'; error: string; field?: string };

export type StreamAck = BatchAck | RecordAck;

export interface RejectedLine {
  line: number;
  error: string;
  input: string;
}

export interface StreamEvents {
  /** One answer (or abandonment) of a batch, or of a record in realtime mode. */
  ack(ack: StreamAck): void;
  /** An input line that is not a valid record: reported and skipped. */
  reject(rejected: RejectedLine): void;
}

export interface StreamStats {
  linesRead: number;
  recordsIn: number;
  rejected: number;
  accepted: number;
  uncertain: number;
  failed: number;
  unsent: number;
  /** Requests that went on the wire, retries included. */
  requests: number;
  buffered: number;
  inFlight: number;
}

export interface StreamResult {
  stats: StreamStats;
  /** Why reading ended. */
  end: 'eof' | 'stopped' | 'abandoned' | 'fatal';
  /** The failure that stopped the stream (authentication, a run of unknown outcomes, unreadable input). */
  fatal?: TcbError;
}

class Abandoned extends Error {
  constructor() {
    super('abandoned before it was sent');
    this.name = 'Abandoned';
  }
}

type Work = { kind: 'batch'; batch: PendingBatch } | { kind: 'record'; line: number; record: CallReasonRecord };

interface Request {
  work: Work;
  sent: boolean;
  /** Order of its first send among all requests (0 until sent). */
  sendSeq: number;
  /** Launched, not yet past the rate limiter. */
  waiting: boolean;
  abandoned: boolean;
  controller: AbortController;
}

const STOP = Symbol('stop');
/** Requests queued at the rate limiter at once. */
const WAITING_AT_LIMITER = 4;
const MAX_SHOWN_INPUT = 10_000;

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export class CallReasonStream {
  private readonly now: () => number;
  private readonly batcher: Batcher;
  private readonly ready: Work[] = [];
  private readonly inFlight = new Set<Request>();
  private waitingForSlot = 0;
  private openRecords = 0;
  private openDue = false;
  private dueTimer: NodeJS.Timeout | undefined;
  private readyRecords = 0;
  private stopping = false;
  private flushAll = false;
  private abandoned = false;
  /** No more requests are launched (a fatal failure). */
  private halted = false;
  private fatal: TcbError | undefined;
  private consecutiveProblems = 0;
  private sendSeq = 0;
  /** sendSeq when the last problem was seen: requests sent before it belong to the same incident. */
  private problemMark = 0;
  private readonly counts: Omit<StreamStats, 'buffered' | 'inFlight'> = {
    linesRead: 0,
    recordsIn: 0,
    rejected: 0,
    accepted: 0,
    uncertain: 0,
    failed: 0,
    unsent: 0,
    requests: 0,
  };
  /** Interrupts the read in progress (a new promise per read, so none piles up). */
  private interruptRead: (() => void) | undefined;
  private wakeReader: (() => void) | undefined;
  private wakeDrained: (() => void) | undefined;

  constructor(
    private readonly options: StreamOptions,
    private readonly transport: StreamTransport,
    private readonly events: StreamEvents,
  ) {
    this.now = options.now ?? Date.now;
    this.batcher = new Batcher(options.batchSize, 1, (batch) => {
      this.ready.push({ kind: 'batch', batch });
      this.readyRecords += batch.records.length;
      this.openRecords = 0;
      this.openDue = false;
      if (this.dueTimer) clearTimeout(this.dueTimer);
      this.dueTimer = undefined;
    });
  }

  stats(): StreamStats {
    return { ...this.counts, buffered: this.buffered(), inFlight: this.inFlight.size };
  }

  private buffered(): number {
    return this.openRecords + this.readyRecords;
  }

  /** Reads `input` to its end (or until stop()), then sends what is buffered and waits for every answer. */
  async run(input: Readable): Promise<StreamResult> {
    const splitter = new LineSplitter(this.options.maxLineBytes);
    const csv = this.options.format === 'csv' ? new CsvLines(this.options.defaults) : undefined;
    const parse = (line: Line): ParsedLine[] => {
      if (csv) return csv.push(line);
      const parsed = parseNdjsonLine(line);
      return parsed ? [parsed] : [];
    };
    const iterator = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
    try {
      while (!this.stopping) {
        const interrupted = new Promise<typeof STOP>((resolve) => (this.interruptRead = () => resolve(STOP)));
        const next = await Promise.race([iterator.next(), interrupted]);
        this.interruptRead = undefined;
        if (next === STOP) break;
        if (next.done) {
          for (const line of splitter.end()) this.consume(line, parse);
          if (csv) for (const parsed of csv.end()) this.accept(parsed);
          break;
        }
        const chunk = typeof next.value === 'string' ? Buffer.from(next.value) : next.value;
        // After a stop signal the rest of a chunk already read is still taken in; after a failure it is not.
        for (const line of splitter.push(chunk)) {
          if (this.halted) break;
          this.consume(line, parse);
        }
        await this.room();
      }
    } catch (error) {
      // Unreadable input (or a CSV header that cannot work): what was read is still sent.
      this.fail(error instanceof TcbError ? error : new TransientError(`reading the input failed: ${message(error)}`, { cause: error }), false);
    } finally {
      void Promise.resolve(iterator.return?.()).catch(() => {});
    }
    let end: StreamResult['end'] = this.stopping ? 'stopped' : 'eof';
    this.stopping = true;
    this.flushAll = true;
    this.pump();
    await this.drained();
    if (this.dueTimer) clearTimeout(this.dueTimer);
    if (this.abandoned) end = 'abandoned';
    else if (this.fatal) end = 'fatal';
    return { stats: this.stats(), end, fatal: this.fatal };
  }

  /** Stop reading; what is buffered is still sent and answered (a signal's first arrival). */
  stop(): void {
    if (this.stopping) return;
    this.stopping = true;
    this.flushAll = true;
    this.interruptRead?.();
    this.wakeReader?.();
    this.pump();
  }

  /**
   * Give up on everything not yet answered (a second signal): requests on the wire are reported
   * uncertain, the rest unsent, and run() resolves at once.
   */
  abandon(): void {
    if (this.abandoned) return;
    this.abandoned = true;
    this.stopping = true;
    this.interruptRead?.();
    this.wakeReader?.();
    for (const request of this.inFlight) {
      request.abandoned = true;
      request.controller.abort();
      this.report(request.work, request.sent ? 'uncertain' : 'unsent', request.sent ? 'abandoned while on the wire: its outcome is unknown' : 'abandoned before it was sent');
    }
    this.inFlight.clear();
    this.waitingForSlot = 0;
    this.dropBuffered('abandoned before it was sent');
    this.wakeDrained?.();
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  private consume(line: Line, parse: (line: Line) => ParsedLine[]): void {
    this.counts.linesRead += 1;
    for (const parsed of parse(line)) this.accept(parsed);
  }

  private accept(parsed: ParsedLine): void {
    if ('error' in parsed) {
      this.rejectLine(parsed.line, parsed.error, parsed.raw);
      return;
    }
    const validated = validateCallReason(parsed.input, { now: this.now(), defaults: this.options.defaults });
    if (!validated.ok) {
      this.rejectLine(parsed.line, validated.errors.map((e) => e.message).join('; '), parsed.raw);
      return;
    }
    this.counts.recordsIn += 1;
    if (this.options.mode === 'realtime') {
      this.ready.push({ kind: 'record', line: parsed.line, record: validated.record });
      this.readyRecords += 1;
    } else {
      if (this.openRecords === 0) this.armDue();
      this.openRecords += 1;
      this.batcher.add(parsed.line, validated.record);
    }
    this.pump();
  }

  private rejectLine(line: number, error: string, raw: string): void {
    this.counts.rejected += 1;
    const input = raw.length > MAX_SHOWN_INPUT ? `${raw.slice(0, MAX_SHOWN_INPUT)}…` : raw;
    this.events.reject({ line, error, input });
  }

  private armDue(): void {
    this.dueTimer = setTimeout(() => {
      this.dueTimer = undefined;
      this.openDue = true;
      this.pump();
    }, this.options.maxLatencyMs);
  }

  /** Resolves when fewer records than the limit wait (or the stream stops). */
  private room(): Promise<void> {
    if (this.stopping || this.buffered() < this.options.maxBufferedRecords) return Promise.resolve();
    return new Promise((resolve) => {
      this.wakeReader = () => {
        this.wakeReader = undefined;
        resolve();
      };
    });
  }

  private drained(): Promise<void> {
    if (this.abandoned || (this.inFlight.size === 0 && this.ready.length === 0 && this.openRecords === 0)) return Promise.resolve();
    return new Promise((resolve) => {
      this.wakeDrained = () => {
        this.wakeDrained = undefined;
        resolve();
      };
    });
  }

  // -------------------------------------------------------------------------------------------
  // Sending

  /**
   * Launches work while there is room: at most WAITING_AT_LIMITER requests wait for the rate
   * limiter, so it always has the next request ready (a stalled event loop does not lose slots)
   * while records are not committed to batches long before a slot is free. The open batch is cut
   * when it is due (or the stream is ending).
   */
  private pump(): void {
    if (this.abandoned) return;
    while (!this.halted && this.inFlight.size < this.options.maxInFlight && this.waitingForSlot < WAITING_AT_LIMITER) {
      if (this.ready.length === 0 && this.openRecords > 0 && (this.openDue || this.flushAll)) this.batcher.flush();
      const work = this.ready.shift();
      if (!work) break;
      this.readyRecords -= work.kind === 'batch' ? work.batch.records.length : 1;
      this.launch(work);
    }
    if (this.wakeReader && this.buffered() < this.options.maxBufferedRecords) this.wakeReader();
    if (this.wakeDrained && this.stopping && this.inFlight.size === 0 && this.ready.length === 0 && this.openRecords === 0) {
      this.wakeDrained();
    }
  }

  private launch(work: Work): void {
    const request: Request = { work, sent: false, sendSeq: 0, waiting: true, abandoned: false, controller: new AbortController() };
    this.inFlight.add(request);
    this.waitingForSlot += 1;
    const hooks: SendHooks = {
      signal: request.controller.signal,
      onSend: () => {
        if (request.abandoned) throw new Abandoned();
        this.passedLimiter(request);
        if (!request.sent) {
          this.sendSeq += 1;
          request.sendSeq = this.sendSeq;
        }
        request.sent = true;
        this.counts.requests += 1;
      },
    };
    const sending =
      work.kind === 'batch'
        ? this.transport.sendBatch(work.batch.records, hooks).then((batchId) => this.answered(request, batchId))
        : this.transport.sendRecord(work.record, hooks).then(() => this.answered(request, null));
    sending
      .catch((error: unknown) => this.failed(request, error))
      .finally(() => {
        if (request.abandoned) return;
        this.passedLimiter(request);
        this.inFlight.delete(request);
        this.pump();
      });
  }

  private passedLimiter(request: Request): void {
    if (!request.waiting) return;
    request.waiting = false;
    this.waitingForSlot -= 1;
    queueMicrotask(() => this.pump());
  }

  private answered(request: Request, batchId: string | null): void {
    if (request.abandoned) return;
    this.consecutiveProblems = 0;
    const { work } = request;
    if (work.kind === 'batch') {
      const { batch } = work;
      this.counts.accepted += batch.records.length;
      this.events.ack({ status: 'accepted', batch_id: batchId, first_line: batch.firstLine, last_line: batch.lastLine, records: batch.records.length });
    } else {
      this.counts.accepted += 1;
      this.events.ack({ line: work.line, status: 'accepted' });
    }
  }

  private failed(request: Request, error: unknown): void {
    if (request.abandoned) return;
    const { work } = request;
    if (error instanceof TcbError && error.details?.outcome === 'accepted-without-id') {
      this.answered(request, null);
      return;
    }
    if (error instanceof Abandoned) {
      this.report(work, 'unsent', 'stopped before it was sent');
      return;
    }
    if (error instanceof AuthError) {
      this.report(work, 'failed', error.message);
      this.fail(error, true);
      return;
    }
    if (error instanceof ApiError) {
      // The API looked at it and said no: nothing to retry, nothing unknown.
      if (work.kind === 'record') this.report(work, 'rejected', error.message, error.field);
      else this.report(work, 'failed', error.message);
      return;
    }
    const uncertain = outcomeUnknown(error) || (!(error instanceof TcbError) && request.sent);
    this.report(work, uncertain ? 'uncertain' : 'failed', message(error));
    // Requests that were already out when the previous problem was seen (a burst of connection
    // resets, say) count as one incident; the stream stops after several incidents in a row.
    if (request.sendSeq === 0 || request.sendSeq > this.problemMark) this.consecutiveProblems += 1;
    this.problemMark = this.sendSeq;
    const limit = this.options.maxConsecutiveProblems ?? 3;
    if (this.consecutiveProblems >= limit) {
      this.fail(
        new TransientError(`requests failed or had an unknown outcome ${this.consecutiveProblems} times in a row; stopped reading`, {
          code: 'stream_stopped',
          hint: 'the API seems unwell: the acknowledgements on stdout say which lines were accepted; resend the rest later',
        }),
        true,
      );
    }
  }

  /**
   * Stops reading for good, keeping the first failure for the exit code. `halt`: launch nothing
   * more and report what waits as unsent (the API will not take it); otherwise it is still sent.
   */
  private fail(error: TcbError, halt: boolean): void {
    this.fatal ??= error;
    this.stopping = true;
    this.flushAll = true;
    this.interruptRead?.();
    this.wakeReader?.();
    if (halt) {
      this.halted = true;
      // Requests still waiting for the rate limiter are not sent any more.
      for (const request of this.inFlight) {
        if (request.sent) continue;
        request.abandoned = true;
        request.controller.abort();
        if (request.waiting) this.waitingForSlot -= 1;
        this.inFlight.delete(request);
        this.report(request.work, 'unsent', 'not sent: the stream stopped');
      }
      this.dropBuffered('not sent: the stream stopped');
    }
    this.pump();
  }

  private dropBuffered(why: string): void {
    if (this.openRecords > 0) this.batcher.flush();
    this.readyRecords = 0;
    for (const work of this.ready.splice(0)) this.report(work, 'unsent', why);
    if (this.dueTimer) clearTimeout(this.dueTimer);
    this.dueTimer = undefined;
  }

  private report(work: Work, status: 'uncertain' | 'failed' | 'unsent' | 'rejected', error: string, field?: string): void {
    if (work.kind === 'batch') {
      const { batch } = work;
      const records = batch.records.length;
      this.counts[status === 'rejected' ? 'failed' : status] += records;
      this.events.ack({ status: status === 'rejected' ? 'failed' : status, first_line: batch.firstLine, last_line: batch.lastLine, records, error });
    } else {
      // An API rejection counts as a record not accepted; `rejected` is for unreadable input lines.
      this.counts[status === 'rejected' ? 'failed' : status] += 1;
      this.events.ack({ line: work.line, status, error, ...(field ? { field } : {}) });
    }
  }
}
