// `tcb call-reason stream [FILE]`: flags → the stream service → acknowledgements on stdout, rejected
// lines and problems on stderr (and in --reject-file), a status line on a terminal.
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import type { CommandInput } from '../../cli.js';
import type { CommandContext } from '../../context.js';
import { parseRateLimit, type RateLimit } from '../../api/rate-limiter.js';
import { InterruptedError, PartialFailureError, UsageError } from '../../errors.js';
import { checkDestination } from '../../output/destination.js';
import { parsePositiveInt } from '../../services/catalog/listing.js';
import { DefaultFlagError, defaultsFromFlags, type CallReasonDefaults } from '../../services/call-reasons/record.js';
import { openInput, sameFileAsInput } from '../../services/call-reasons/stream/input.js';
import {
  CallReasonStream,
  type StreamAck,
  type StreamMode,
  type StreamOptions,
  type StreamResult,
} from '../../services/call-reasons/stream/stream.js';
import type { InputFormat } from '../../services/call-reasons/stream/records.js';
import { apiTransport } from '../../services/call-reasons/stream/transport.js';
import { MAX_BATCH_SIZE } from '../../services/call-reasons/upload/types.js';
import { streamStatusLine } from '../../ui/stream-status.js';
import { durationFlag } from '../../util/flags.js';
import { interruptedBy, onInterrupt, onRepeatedInterrupt } from '../../util/interrupt.js';
import { limitYoungGeneration } from '../../util/young-generation.js';

const DEFAULT_MAX_LATENCY = '2s';
/** Batches waiting before reading pauses. */
const BUFFERED_BATCHES = 2;

const ENDPOINT: Record<StreamMode, string> = { batch: 'cp-batch-v2', realtime: 'cp-realtime-v2' };
const DOCUMENTED_RATE: Record<StreamMode, RateLimit> = {
  batch: { limit: 60, windowMs: 60_000 },
  realtime: { limit: 100, windowMs: 1000 },
};

function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function choice<T extends string>(value: unknown, flag: string, choices: readonly T[], fallback: T): T {
  if (value === undefined) return fallback;
  const text = String(value).trim().toLowerCase();
  if ((choices as readonly string[]).includes(text)) return text as T;
  throw new UsageError(`${flag} must be ${choices.join(' or ')} (got "${String(value)}")`);
}

/**
 * Defaults as upload takes them, checked once up front; times stay text so that a relative
 * --starts-at (+5m) is taken from each record's arrival, not from when the stream started.
 */
function streamDefaults(opts: Record<string, unknown>): CallReasonDefaults {
  const flags = {
    labelId: str(opts.labelId),
    labelName: str(opts.labelName),
    reason: str(opts.reason),
    startsAt: str(opts.startsAt),
    endsAt: str(opts.endsAt),
    duration: str(opts.duration),
  };
  let checked: CallReasonDefaults;
  try {
    checked = defaultsFromFlags(flags, Date.now());
  } catch (error) {
    if (error instanceof DefaultFlagError) throw new UsageError(error.message, { field: error.flag });
    throw error;
  }
  const defaults: CallReasonDefaults = { ...checked };
  if (flags.startsAt !== undefined) defaults.starts_at = flags.startsAt.trim();
  if (flags.endsAt !== undefined) defaults.ends_at = flags.endsAt.trim();
  return defaults;
}

function rateFor(mode: StreamMode, value: unknown): RateLimit {
  if (value === undefined) return DOCUMENTED_RATE[mode];
  try {
    return parseRateLimit(String(value));
  } catch (error) {
    throw new UsageError(`--rate-limit: ${(error as Error).message}`);
  }
}

/**
 * Requests in flight: enough that answers taking up to ~3 s do not leave the limiter idle (only
 * two of them wait for it; the others are on the wire), never unbounded.
 */
function maxInFlightFor(rate: RateLimit): number {
  const perSecond = rate.limit / (rate.windowMs / 1000);
  return Math.max(3, Math.min(32, Math.ceil(perSecond * 3) + 2));
}

function lines(ack: { first_line: number; last_line: number }): string {
  return ack.first_line === ack.last_line ? `line ${ack.first_line}` : `lines ${ack.first_line}-${ack.last_line}`;
}

function describeProblem(ack: StreamAck): string {
  if ('line' in ack) return `line ${ack.line}: ${ack.status}${'error' in ack ? `: ${ack.error}` : ''}`;
  const what = `${lines(ack)} (${ack.records} record${ack.records === 1 ? '' : 's'})`;
  if (ack.status === 'uncertain') return `${what}: outcome unknown, not resent: ${ack.error}`;
  if (ack.status === 'failed') return `${what}: not accepted: ${ack.error}`;
  if (ack.status === 'unsent') return `${what}: not sent: ${ack.error}`;
  return what;
}

function summaryLine(result: StreamResult): string {
  const s = result.stats;
  const parts = [`${s.linesRead} lines read`, `${s.accepted} records accepted in ${s.requests} request${s.requests === 1 ? '' : 's'}`, `${s.rejected} rejected`];
  if (s.uncertain) parts.push(`${s.uncertain} uncertain`);
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.unsent) parts.push(`${s.unsent} not sent`);
  return `Stream ended (${result.end === 'eof' ? 'end of input' : result.end}): ${parts.join(', ')}`;
}

export default async function stream(ctx: CommandContext, { args, opts }: CommandInput): Promise<void> {
  const file = str(args[0]) ?? '-';
  const format = choice<InputFormat>(opts.inputFormat, '--input-format', ['ndjson', 'csv'], 'ndjson');
  const mode = choice<StreamMode>(opts.mode, '--mode', ['batch', 'realtime'], 'batch');
  const defaults = streamDefaults(opts);
  const batchSize = parsePositiveInt(opts.batchSize, '--batch-size') ?? MAX_BATCH_SIZE;
  if (batchSize > MAX_BATCH_SIZE) throw new UsageError(`--batch-size must be at most ${MAX_BATCH_SIZE} (the API's limit)`);
  if (mode === 'realtime' && opts.batchSize !== undefined) throw new UsageError('--batch-size has no meaning with --mode realtime (one record a request)');
  const maxLatencyMs = durationFlag(opts.maxLatency ?? DEFAULT_MAX_LATENCY, '--max-latency');
  const rate = rateFor(mode, opts.rateLimit);
  const rejectPath = str(opts.rejectFile);
  // The reject file is appended to as lines arrive (not replaced at the end): checked like every output first.
  const rejectDestination =
    rejectPath === undefined
      ? undefined
      : await checkDestination(
          { flag: '--reject-file', given: rejectPath },
          { protect: file === '-' ? [] : [{ path: file, what: 'the input' }], configDir: ctx.settings.configDir },
        );
  if (rejectPath !== undefined && sameFileAsInput(rejectPath, file)) {
    throw new UsageError(`--reject-file ${rejectPath}: that is the input (stdin); give another file`);
  }

  // Credentials and the input are checked before anything is read.
  ctx.setRateLimit(ENDPOINT[mode], rate);
  const transport = apiTransport(ctx);
  let rejectFd: number | undefined;
  if (rejectDestination) {
    try {
      for (const dir of rejectDestination.missingDirs) mkdirSync(dir, { mode: 0o700 });
      rejectFd = openSync(rejectDestination.path, 'a', 0o600);
    } catch (error) {
      throw new UsageError(`cannot write --reject-file ${rejectPath}: ${(error as Error).message}`);
    }
  }
  const input = await openInput(file);

  const out = ctx.output;
  const machineStderr = out.format === 'json' || out.format === 'ndjson' || !ctx.settings.stderrIsTTY;
  let status: ReturnType<typeof streamStatusLine>;
  const toStderr = (json: object, human: string) => {
    status?.clear();
    out.report(machineStderr ? JSON.stringify(json) : human);
  };
  const perRecordLimit = mode === 'realtime' ? maxInFlightFor(rate) * 4 : batchSize * BUFFERED_BATCHES;
  const options: StreamOptions = {
    mode,
    format,
    batchSize,
    maxLatencyMs,
    defaults,
    maxInFlight: maxInFlightFor(rate),
    maxBufferedRecords: perRecordLimit,
  };
  const runner = new CallReasonStream(options, transport, {
    ack(ack) {
      // Acknowledgements go out as they happen: a producer tracks what was accepted from them.
      status?.clear();
      out.stdout.write(`${JSON.stringify(ack)}\n`);
      if (ack.status !== 'accepted') toStderr(ack, describeProblem(ack));
    },
    reject(rejected) {
      toStderr({ status: 'rejected', line: rejected.line, error: rejected.error }, `line ${rejected.line} rejected: ${rejected.error}`);
      if (rejectFd === undefined) return;
      try {
        writeSync(rejectFd, `${JSON.stringify(rejected)}\n`);
      } catch (error) {
        // A full disk must not stop the stream: rejected lines are still reported on stderr.
        closeSync(rejectFd);
        rejectFd = undefined;
        toStderr(
          { status: 'warning', error: `cannot write --reject-file ${rejectPath}: ${(error as Error).message}; rejected lines go to stderr only` },
          `Warning: cannot write --reject-file ${rejectPath} (${(error as Error).message}); rejected lines go to stderr only`,
        );
      }
    },
  });
  status = streamStatusLine(out, () => runner.stats());
  const unsubscribe = onInterrupt(() => runner.stop());
  const unsubscribeRepeat = onRepeatedInterrupt((signal) => {
    runner.abandon();
    status?.stop();
    return signal === 'SIGINT' ? 130 : 6;
  });

  let result: StreamResult;
  // A long-running pipe allocates per line: keep V8's young generation small (see upload).
  const releaseYoungGeneration = limitYoungGeneration();
  try {
    result = await runner.run(input);
  } finally {
    releaseYoungGeneration();
    unsubscribe();
    unsubscribeRepeat();
    status?.stop();
    if (rejectFd !== undefined) closeSync(rejectFd);
    input.destroy();
  }
  out.info(summaryLine(result));
  if (result.fatal) throw result.fatal;
  const s = result.stats;
  const signal = interruptedBy();
  if (result.end === 'abandoned') {
    const message = 'stopped by a second signal: requests in flight were abandoned (reported uncertain) and buffered records not sent';
    throw signal === 'SIGINT' ? new InterruptedError(message) : new PartialFailureError(message, { details: { uncertain: s.uncertain, unsent: s.unsent } });
  }
  if (signal === 'SIGINT') throw new InterruptedError('stopped by Ctrl-C: what was read has been sent and answered (see the acknowledgements)');
  // A service manager's stop (SIGTERM, or SIGHUP) ends well even if some input lines were rejected on the way.
  const rejected = signal === 'SIGTERM' || signal === 'SIGHUP' ? 0 : s.rejected;
  if (rejected + s.uncertain + s.failed + s.unsent === 0) return;
  const parts: string[] = [];
  if (rejected) parts.push(`${rejected} line${rejected === 1 ? '' : 's'} rejected`);
  if (s.uncertain) parts.push(`${s.uncertain} records with an unknown outcome (not resent)`);
  if (s.failed) parts.push(`${s.failed} records not accepted`);
  if (s.unsent) parts.push(`${s.unsent} records not sent`);
  throw new PartialFailureError(`the stream ended with ${parts.join(', ')}; see stderr${rejectPath ? ` and ${rejectPath}` : ''}`, {
    details: { rejected, uncertain: s.uncertain, failed: s.failed, unsent: s.unsent, accepted: s.accepted },
  });
}
