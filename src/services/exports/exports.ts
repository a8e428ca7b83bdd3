import { realpath } from 'node:fs/promises';
import path from 'node:path';
import type { Format, Settings } from '../../config/settings.js';
import type { CommandContext } from '../../context.js';
import { InterruptedError, UsageError, isTcbError } from '../../errors.js';
import { fileError } from '../../output/atomic-file.js';
import { checkDestination, sqliteCompanions, type Destination, type ProtectedPath } from '../../output/destination.js';
import { onInterrupt } from '../../util/interrupt.js';
import { limitYoungGeneration } from '../../util/young-generation.js';
import { TimeParseError, formatIso, parseTime } from '../../util/time.js';
import { durationFlag } from '../../util/flags.js';
import { MAX_OVERLAP_MS, apiSource } from './api-source.js';
import { openSink, RowEmitter, type ExportSink } from './sink.js';
import { ExportStateStore, exportStateKey } from './state.js';
import type { ExportOptions, ExportSourceName, ExportType, RecordSource, SourceRun, TimeUnit } from './types.js';
import { webhookSource } from './webhook-source.js';
import { resolveStoreLocation } from '../webhooks/stores.js';

export type { ExportOptions, ExportType } from './types.js';

/**
 * `tcb cmb export` and `tcb feedback export`: a record source (the log API, or the webhook
 * store) → batches of rows → the output module (stdout or an atomic file) → and only when the
 * output is complete, the --since-last cursor.
 */

const LABEL: Record<ExportType, string> = { cmb: 'Call Me Back requests', feedback: 'User Feedback responses' };

function timeOption(value: unknown, flag: string, now: number): number | undefined {
  if (value === undefined || value === null) return undefined;
  const text = String(value);
  try {
    return parseTime(text, now);
  } catch (error) {
    if (error instanceof TimeParseError) throw new UsageError(`${flag}: ${error.message}`, { field: flag.slice(2) });
    throw error;
  }
}

function timeUnitOption(value: unknown): TimeUnit {
  if (value === undefined) return 'ms';
  const text = String(value).trim().toLowerCase();
  if (['ms', 'millis', 'milliseconds'].includes(text)) return 'ms';
  if (['s', 'sec', 'secs', 'seconds'].includes(text)) return 's';
  throw new UsageError(`--time-unit must be ms or s (got "${String(value)}")`, { field: 'time-unit' });
}

export type FormatSettings = Pick<Settings, 'format' | 'formatSource'>;

/**
 * The output format. On stdout: the global rule (flag, TCB_FORMAT, TTY). A file gets a data
 * format: --format/--json if given, else its extension (.json, .ndjson/.jsonl, anything else
 * csv); TCB_FORMAT does not apply, and a table (columns dropped for people) is refused.
 */
export function exportFormat(settings: FormatSettings, output: string | undefined): Format {
  if (output === undefined) return settings.format;
  if (settings.formatSource === 'flag') {
    if (settings.format === 'table') {
      throw new UsageError('--format table is for people on a terminal and cannot be written with --output', {
        field: 'format',
        hint: 'files get csv, json or ndjson (the default comes from the extension); leave out --format, or pick one of those',
      });
    }
    return settings.format;
  }
  const ext = path.extname(output).toLowerCase();
  if (ext === '.json') return 'json';
  if (ext === '.ndjson' || ext === '.jsonl') return 'ndjson';
  return 'csv';
}

/** --overlap DURATION: 0 turns it off; at most a day (the fingerprints must cover it). */
function overlapOption(value: unknown): number {
  const text = String(value).trim();
  if (/^0+(\.0*)?[a-z]*$/i.test(text)) return 0;
  const ms = durationFlag(text, '--overlap');
  if (ms > MAX_OVERLAP_MS) throw new UsageError(`--overlap must be at most 24h (got "${text}")`, { field: 'overlap' });
  return ms;
}

const SURVEY_ID = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

/** Pure: the command's flags → validated options. Nothing is sent when this throws (exit 2). */
export function parseExportOptions(
  type: ExportType,
  opts: Record<string, unknown>,
  settings: FormatSettings,
  now: number = Date.now(),
  env: Record<string, string | undefined> = process.env,
): ExportOptions {
  const source = String(opts.source ?? 'api').toLowerCase() as ExportSourceName;
  if (source !== 'api' && source !== 'webhook') {
    throw new UsageError(`--source must be api or webhook (got "${String(opts.source)}")`, { field: 'source' });
  }
  const store = typeof opts.store === 'string' ? opts.store.trim() : undefined;
  if (source === 'webhook' && !store) {
    throw new UsageError('--source webhook needs --store (the file or postgres:// URL `tcb webhook listen --store` writes)', { field: 'store' });
  }
  if (source === 'api' && store) {
    throw new UsageError('--store is only used with --source webhook', { field: 'store', hint: 'add --source webhook' });
  }

  // Read now: a bad URL is exit 2 before anything runs, and its password is masked from here on.
  const storeLocation = source === 'webhook' && store ? resolveStoreLocation(store, env) : undefined;
  const sinceLast = Boolean(opts.sinceLast);
  const from = timeOption(opts.from, '--from', now);
  const to = timeOption(opts.to, '--to', now);
  // Checked before anything is sent; --to defaults to now, so a --from in the future is refused too.
  if (from !== undefined && from > (to ?? now)) {
    throw new UsageError(
      to === undefined
        ? `--from (${formatIso(from)}) is in the future; --to defaults to now (${formatIso(now)})`
        : `--from (${formatIso(from)}) is after --to (${formatIso(to)})`,
      { field: 'from' },
    );
  }
  if (source === 'api' && from === undefined && !sinceLast) {
    throw new UsageError('--from is required', {
      field: 'from',
      hint: type === 'cmb' ? 'e.g. tcb cmb export --from yesterday --to today' : 'e.g. tcb feedback export --survey-id ID --from -7d',
    });
  }
  if (source === 'webhook' && sinceLast && to !== undefined) {
    throw new UsageError('--to cannot be combined with --since-last for --source webhook', {
      field: 'to',
      hint: 'the cursor is the store\'s insertion order: each run exports every event stored since the previous one',
    });
  }

  let surveyId: string | undefined;
  if (opts.surveyId !== undefined) {
    surveyId = String(opts.surveyId).trim();
    if (!SURVEY_ID.test(surveyId)) throw new UsageError(`--survey-id is not a survey id: "${surveyId}"`, { field: 'survey-id' });
  }
  if (type === 'feedback' && source === 'api' && surveyId === undefined) {
    throw new UsageError('--survey-id is required', { field: 'survey-id', hint: 'the survey (campaign) id from the console' });
  }
  if (source === 'webhook' && surveyId !== undefined) {
    throw new UsageError('--survey-id cannot filter webhook events: they carry the survey name, not its id', {
      field: 'survey-id',
      hint: 'export them all and filter on survey_name, e.g. with jq',
    });
  }

  let overlapMs: number | undefined;
  if (opts.overlap !== undefined) {
    if (!sinceLast) throw new UsageError('--overlap is used only with --since-last', { field: 'overlap' });
    if (source !== 'api') {
      throw new UsageError('--overlap applies to the log API: the webhook store\'s --since-last follows its insertion order, which needs none', {
        field: 'overlap',
      });
    }
    overlapMs = overlapOption(opts.overlap);
  }

  let output = typeof opts.output === 'string' ? opts.output : undefined;
  if (output === '-') output = undefined;
  else if (output !== undefined && output.trim() === '') throw new UsageError('--output is empty', { field: 'output' });

  return {
    type,
    source,
    store,
    storeLocation,
    surveyId,
    from,
    to,
    sinceLast,
    overlapMs,
    output,
    force: Boolean(opts.force),
    format: exportFormat(settings, output),
    timeUnit: timeUnitOption(opts.timeUnit),
    now,
  };
}

export interface ExportSummary {
  records: number;
  skipped: number;
  output?: string;
  describe: string;
}

async function recordSource(ctx: CommandContext, options: ExportOptions): Promise<RecordSource> {
  return options.source === 'webhook' ? webhookSource(options) : apiSource(ctx, options);
}

/** --output is checked before anything is sent: it must not be the store, tcb's own files, a folder … */
async function checkOutput(ctx: CommandContext, options: ExportOptions): Promise<Destination | undefined> {
  if (options.output === undefined) return undefined;
  const protect: ProtectedPath[] = [];
  // A PostgreSQL store has no file to protect.
  if (options.store !== undefined && options.storeLocation?.kind !== 'postgres') {
    const store = path.resolve(options.store);
    protect.push(...sqliteCompanions(store));
    // SQLite keeps -wal and -shm next to the real file when the store is a symbolic link.
    const real = await realpath(store).catch(() => store);
    if (real !== store) protect.push(...sqliteCompanions(real));
  }
  return checkDestination(
    { flag: '--output', given: options.output, force: options.force },
    { protect, configDir: ctx.settings.configDir },
  );
}

export async function runExport(ctx: CommandContext, options: ExportOptions): Promise<ExportSummary> {
  const releaseYoungGeneration = limitYoungGeneration();
  try {
    return await exportRecords(ctx, options);
  } finally {
    releaseYoungGeneration();
  }
}

async function exportRecords(ctx: CommandContext, options: ExportOptions): Promise<ExportSummary> {
  const destination = await checkOutput(ctx, options);
  const source = await recordSource(ctx, options);
  const label = LABEL[options.type];
  const state = options.sinceLast ? new ExportStateStore(ctx.settings.configDir) : undefined;
  const key = exportStateKey(ctx.settings.profileName, options.type, source.name, source.stateKeyParts);
  const releaseRun = state ? await state.lockRun(key, `${label} (profile ${ctx.settings.profileName})`) : undefined;

  const controller = new AbortController();
  const unsubscribe = onInterrupt(() => controller.abort(new InterruptedError('interrupted: nothing was written and --since-last state was not advanced')));
  let sink: ExportSink | undefined;
  let run: SourceRun | undefined;
  try {
    const previous = state ? (await state.get(key))?.cursor : undefined;
    if (state && previous === undefined) ctx.output.info(`First --since-last run for ${label}: starting at --from.`);
    else if (state && options.from !== undefined) ctx.output.info('--since-last: continuing where the previous run stopped (--from only sets the first run\'s start).');
    run = await source.open(previous, controller.signal);
    ctx.output.info(`Exporting ${label}: ${run.describe}`);
    sink = await openSink(ctx.output, ctx.settings, destination, options.format);
    const emitter = new RowEmitter(sink.output, source.tableColumns);
    for await (const batch of run.batches) {
      if (controller.signal.aborted) break;
      await emitter.write(run.columns(), batch);
    }
    if (controller.signal.aborted) throw controller.signal.reason;
    const columns = run.columns().length > 0 ? run.columns() : source.defaultColumns;
    await emitter.end(columns);
    await sink.commit();
    // Only now is the output complete: the cursor may move.
    if (state) {
      await state.put(key, {
        profile: ctx.settings.profileName,
        type: options.type,
        source: source.name,
        scope: source.stateKeyParts,
        cursor: run.nextCursor(),
        updated_at: new Date().toISOString(),
        last_run: { records: emitter.count, skipped: run.skipped(), range: run.describe },
      });
    }
    if (emitter.count === 0) ctx.output.info(`No ${label} found${run.emptyNote ? ` (${run.emptyNote})` : ''}.`);
    else ctx.output.success(`Exported ${emitter.count} ${emitter.count === 1 ? 'row' : 'rows'}${sink.path ? ` to ${sink.path}` : ''}.`);
    if (run.skipped() > 0) ctx.output.info(`Skipped ${run.skipped()} already exported by the previous run.`);
    const done = run;
    return { records: emitter.count, skipped: done.skipped(), output: sink.path, describe: done.describe };
  } catch (error) {
    await sink?.abort().catch(() => {});
    if (controller.signal.aborted) {
      throw isTcbError(controller.signal.reason) ? controller.signal.reason : new InterruptedError('interrupted');
    }
    // A failed write (disk full …) names the file instead of reading as a bug.
    throw sink?.path ? fileError(error, sink.path) : error;
  } finally {
    // A source left unread (the output could not be opened) still lets go of its connections.
    await run?.close?.().catch(() => {});
    unsubscribe();
    await releaseRun?.().catch(() => {});
  }
}
