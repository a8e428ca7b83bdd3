import {
  downloadStreamError,
  openDownload,
  requestCmbLogs,
  requestFeedbackLogs,
  type LogAnswer,
} from '../../api/logs.js';
import type { CommandContext } from '../../context.js';
import { ApiError, AuthError, UsageError, isTcbError } from '../../errors.js';
import { formatIso } from '../../util/time.js';
import { BoundaryTracker, detectTimeColumn, parseRowTime } from './boundary.js';
import { csvBatches, recordBatches, type CsvBatches } from './csv-records.js';
import type { ExportOptions, ExportRow, RecordSource, SourceRun, TimeUnit } from './types.js';

/** What the API source remembers between --since-last runs. */
export interface ApiCursor {
  /** The next run starts here (epoch ms): exactly where this run stopped. */
  to: number;
  /** Unit the times were sent in (a change of --time-unit keeps the same instant). */
  unit: TimeUnit;
  /** Fingerprints of the rows near `to`, which the next run may be served again. */
  boundary: string[];
  time_column: string | null;
}

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
  /** Epoch ms sent as the start. */
  from: number;
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
 * in the unit sent, so the next run starts precisely there.
 */
export function planApiRun(options: ExportOptions, previous: ApiCursor | undefined): ApiRunPlan {
  const unit = options.timeUnit;
  let from: number;
  if (previous) from = previous.to;
  else if (options.from !== undefined) from = options.from;
  else {
    throw new UsageError('--from is required for the first --since-last run (later runs start where the previous one stopped)', {
      hint: 'e.g. --from -24h --since-last',
      field: 'from',
    });
  }
  const end = Math.min(options.to ?? options.now, options.now);
  const sentTo = options.to ?? options.now;
  const cursor = fromUnit(toUnit(end, unit), unit);
  from = fromUnit(toUnit(from, unit), unit);
  return {
    from,
    to: fromUnit(toUnit(sentTo, unit), unit),
    cursor: Math.max(cursor, from),
    clientTo: options.type === 'feedback' && options.to !== undefined ? options.to : undefined,
    nothingToDo: options.sinceLast && previous !== undefined && from >= cursor,
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
      const tracker = new BoundaryTracker(new Set(previous?.boundary ?? []), plan.cursor);
      const cursor = (): ApiCursor => ({
        to: plan.cursor,
        unit: options.timeUnit,
        boundary: tracker.fingerprints(),
        time_column: tracker.timeColumnName ?? null,
      });

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
