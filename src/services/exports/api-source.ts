import {
  downloadStreamError,
  openDownload,
  requestCmbLogs,
  requestFeedbackLogs,
  type LogAnswer,
} from '../../api/logs.js';
import type { CommandContext } from '../../context.js';
import { ApiError, AuthError, UsageError, isTcbError } from '../../errors.js';
import { formatDuration, formatIso } from '../../util/time.js';
import { BOUNDARY_WINDOW_MS, BoundaryTracker, detectTimeColumn, parseRowTime } from './boundary.js';
import { csvBatches, recordBatches, type CsvBatches } from './csv-records.js';
import type { ExportOptions, ExportRow, RecordSource, SourceRun, TimeUnit } from './types.js';

/** What the API source remembers between --since-last runs. */
export interface ApiCursor {
  /** Where this run stopped (epoch ms); the next run starts an overlap before it. */
  to: number;
  /** Unit the times were sent in (a change of --time-unit keeps the same instant). */
  unit: TimeUnit;
  /** Fingerprints of the rows near `to` (within window_ms before it, or after it). */
  boundary: string[];
  time_column: string | null;
  /** How far before `to` the fingerprints reach: the largest overlap the next run can use. Absent in old state: 15 min. */
  window_ms?: number;
}

/** --overlap default: the next run asks again for the last minutes of the previous one. */
export const DEFAULT_OVERLAP_MS = 5 * 60_000;
export const MAX_OVERLAP_MS = 24 * 3_600_000;

/** Columns of a header-only CSV when the API found nothing (the sandbox's file columns). */
const CMB_DEFAULT_COLUMNS = [
  'request_id', 'requested_at', 'business_number', 'feature_set', 'client_number', 'requested_date',
  'requested_slot', 'preferred_from_time', 'preferred_to_time', 'is_interested', 'alternate_number', 'cmb_config_name',
];
const FEEDBACK_DEFAULT_COLUMNS = [
  'response_id', 'requested_at', 'survey_name', 'business_number', 'feature_set', 'client_number', 'question', 'response',
];
const CMB_TABLE = ['requested_at', 'client_number', 'business_number', 'feature_set', 'requested_date', 'requested_slot', 'is_interested'];
const FEEDBACK_TABLE = ['requested_at', 'client_number', 'survey_name', 'question', 'response'];

const ACCESS_LEVEL = { cmb: 'Call Me Back', feedback: 'User Feedback' } as const;

export function isApiCursor(value: unknown): value is ApiCursor {
  const cursor = value as ApiCursor;
  return typeof cursor === 'object' && cursor !== null && Number.isFinite(cursor.to) && Array.isArray(cursor.boundary);
}

/** Epoch ms in the unit the server wants (seconds round down, so no instant is skipped). */
export function toUnit(ms: number, unit: TimeUnit): number {
  return unit === 's' ? Math.floor(ms / 1000) : Math.floor(ms);
}

export function fromUnit(value: number, unit: TimeUnit): number {
  return unit === 's' ? value * 1000 : value;
}

/** A 403 says which access level the key lacks. */
function explainForbidden(error: unknown, type: ExportOptions['type']): unknown {
  if (error instanceof AuthError && error.httpStatus === 403) {
    return new AuthError(`${error.message} (the ${ACCESS_LEVEL[type]} log needs a key with ${ACCESS_LEVEL[type]} access)`, {
      code: error.code,
      httpStatus: 403,
      slug: error.slug,
      hint: `create an API key with the ${ACCESS_LEVEL[type]} access level under Manage API Keys in the console, then run \`tcb auth login\` with it`,
    });
  }
  return error;
}

/** The plan of one API run: what to ask for and where the cursor lands. */
export interface ApiRunPlan {
  /** Epoch ms sent as the start (an overlap before the previous run's end). */
  from: number;
  /** How far before the previous run's end this run starts (0 on a first run). */
  overlapMs: number;
  /** --overlap was larger than the previous run remembered: the overlap was cut to that. */
  overlapLimited: boolean;
  /** How far back this run's fingerprints reach (see BoundaryTracker). */
  windowMs: number;
  /** Epoch ms sent as the end (cmb only; feedback has no end parameter). */
  to: number;
  /** Where the next --since-last run starts. */
  cursor: number;
  /** Rows at or after this time are dropped client-side (feedback with --to). */
  clientTo?: number;
  /** Nothing to ask: the previous run already reached the requested end. */
  nothingToDo: boolean;
}

/**
 * Pure: from the options and the previous cursor, the range to ask for. The cursor never runs
 * ahead of the clock (records still to come must not be skipped) and is the exact instant sent,
 * in the unit sent.
 *
 * A --since-last run starts an overlap (--overlap) before the previous run's end: log records
 * carry whole seconds and can show up in the API some time after the moment they are stamped
 * with, so a record stamped in the previous run's last second, or a little before it, may only be
 * visible now. Rows the previous run already exported in that overlap are recognised by
 * fingerprint and skipped (BoundaryTracker), so each record is exported exactly once.
 */
export function planApiRun(options: ExportOptions, previous: ApiCursor | undefined): ApiRunPlan {
  const unit = options.timeUnit;
  const wantedOverlap = options.overlapMs ?? DEFAULT_OVERLAP_MS;
  let from: number;
  let overlapMs = 0;
  let overlapLimited = false;
  if (previous) {
    // Only rows the previous run fingerprinted can be recognised as already exported.
    const remembered = previous.window_ms ?? BOUNDARY_WINDOW_MS;
    overlapMs = Math.min(wantedOverlap, remembered);
    overlapLimited = wantedOverlap > remembered;
    from = previous.to - overlapMs;
  } else if (options.from !== undefined) from = options.from;
  else {
    throw new UsageError('--from is required for the first --since-last run (later runs start where the previous one stopped)', {
      hint: 'e.g. --from -24h --since-last',
      field: 'from',
    });
  }
  const end = fromUnit(toUnit(Math.min(options.to ?? options.now, options.now), unit), unit);
  const sentTo = options.to ?? options.now;
  from = fromUnit(toUnit(from, unit), unit);
  return {
    from,
    overlapMs,
    overlapLimited,
    windowMs: Math.max(BOUNDARY_WINDOW_MS, wantedOverlap),
    to: fromUnit(toUnit(sentTo, unit), unit),
    // Never backwards: a run with an earlier --to leaves the cursor where it was.
    cursor: Math.max(end, previous ? previous.to : from),
    clientTo: options.type === 'feedback' && options.to !== undefined ? options.to : undefined,
    nothingToDo: options.sinceLast && previous !== undefined && end < from,
  };
}

export function apiSource(ctx: CommandContext, options: ExportOptions): RecordSource {
  const credentials = ctx.credentials();
  const scope: Record<string, string> = { account: credentials.clientAccountId, base_url: ctx.settings.baseUrl };
  if (options.surveyId) scope.survey_id = options.surveyId;
  const isCmb = options.type === 'cmb';

  return {
    name: 'api',
    stateKeyParts: scope,
    defaultColumns: isCmb ? CMB_DEFAULT_COLUMNS : FEEDBACK_DEFAULT_COLUMNS,
    tableColumns: isCmb ? CMB_TABLE : FEEDBACK_TABLE,

    async open(previousCursor, signal): Promise<SourceRun> {
      const previous = options.sinceLast && isApiCursor(previousCursor) ? previousCursor : undefined;
      const plan = planApiRun(options, previous);
      const describe = isCmb ? `${formatIso(plan.from)} → ${formatIso(plan.to)}` : `from ${formatIso(plan.from)}${plan.clientTo !== undefined ? ` to ${formatIso(plan.clientTo)}` : ''}`;
      const tracker = new BoundaryTracker(new Set(previous?.boundary ?? []), plan.cursor, plan.windowMs);
      const cursor = (): ApiCursor => ({
        to: plan.cursor,
        unit: options.timeUnit,
        boundary: tracker.fingerprints(),
        time_column: tracker.timeColumnName ?? null,
        window_ms: plan.windowMs,
      });
      if (plan.overlapLimited) {
        ctx.output.warn(
          `--overlap reaches back only ${formatDuration(plan.overlapMs)} this time: that is what the previous run remembered; later runs use the full overlap`,
        );
      }

      if (plan.nothingToDo) {
        return {
          batches: (async function* () {})(),
          columns: () => [],
          nextCursor: () => previous,
          emptyNote: `nothing new: the previous run already exported up to ${formatIso(previous!.to)}`,
          describe,
          skipped: () => 0,
        };
      }

      const client = ctx.api();
      let answer: LogAnswer;
      try {
        answer = isCmb
          ? await requestCmbLogs(client, credentials.clientAccountId, {
              from: toUnit(plan.from, options.timeUnit),
              to: toUnit(plan.to, options.timeUnit),
              signal,
            })
          : await requestFeedbackLogs(client, credentials.clientAccountId, {
              surveyId: options.surveyId!,
              fromDate: toUnit(plan.from, options.timeUnit),
              signal,
            });
      } catch (error) {
        throw explainForbidden(error, options.type);
      }

      let reader: CsvBatches | undefined;
      let emptyNote: string | undefined;
      switch (answer.kind) {
        case 'empty':
          emptyNote = answer.message;
          break;
        case 'csv':
          ctx.output.debug('  the API answered with the data itself (CSV)');
          reader = csvBatches(answer.text);
          break;
        case 'records':
          ctx.output.debug('  the API answered with the data itself (JSON)');
          reader = recordBatches(answer.records);
          break;
        case 'download': {
          ctx.output.debug(`  download link in field "${answer.field}"`);
          let download;
          try {
            download = await openDownload(answer.url, {
              apiBaseUrl: ctx.settings.baseUrl,
              token: () => ctx.accessToken(),
              idleTimeoutMs: ctx.settings.timeoutMs,
              logger: ctx.output,
              retryPolicy: ctx.retryPolicy(),
              signal,
            });
          } catch (error) {
            throw explainForbidden(error, options.type);
          }
          if (/json/i.test(download.contentType)) {
            // A JSON file cannot be streamed record by record without a streaming JSON parser; they are small.
            let text = '';
            for await (const chunk of download.body) text += chunk.toString();
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch (error) {
              throw new ApiError(`the log download says it is JSON but is not: ${(error as Error).message}`, {
                hint: 'the server sent a broken file; try again, or report it to Truecaller',
              });
            }
            const records = Array.isArray(parsed) ? parsed : ((parsed as { data?: unknown })?.data as unknown[]) ?? [];
            reader = recordBatches(records as Record<string, unknown>[]);
          } else {
            reader = csvBatches(download.body);
          }
          break;
        }
      }

      const source = reader;
      async function* batches(): AsyncGenerator<ExportRow[]> {
        if (!source) return;
        try {
          for await (const batch of source.batches) {
            const columns = source.columns();
            tracker.setColumns(columns);
            const timeColumn = plan.clientTo !== undefined ? detectTimeColumn(columns) : undefined;
            const kept = batch.filter((row) => {
              if (timeColumn !== undefined) {
                const time = parseRowTime(row[timeColumn]);
                if (time !== undefined && time >= plan.clientTo!) return false;
              }
              // Fingerprints matter only to --since-last.
              return options.sinceLast ? tracker.admit(row) : true;
            });
            if (kept.length > 0) yield kept;
          }
        } catch (error) {
          if (signal.aborted) throw error;
          throw isTcbError(error) ? error : downloadStreamError(error);
        }
        if (tracker.overflowed) {
          ctx.output.warn('more rows than tcb remembers for the --since-last boundary; rows at the boundary may repeat next time');
        }
        if (plan.clientTo !== undefined && detectTimeColumn(source.columns()) === undefined) {
          ctx.output.warn('--to could not be applied: the file has no time column tcb recognises (the API takes only a start)');
        }
      }

      return {
        batches: batches(),
        columns: () => reader?.columns() ?? [],
        nextCursor: cursor,
        emptyNote,
        describe,
        skipped: () => tracker.skipped,
      };
    },
  };
}
