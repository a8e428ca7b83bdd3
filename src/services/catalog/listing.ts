import { fetchFeatureSetsPage, type FeatureSet } from '../../api/feature-sets.js';
import { fetchLabelsPage, LABELS_DEFAULT_LIMIT, type Label } from '../../api/labels.js';
import { walkPages, type Page, type PageQuery } from '../../api/pagination.js';
import type { CommandContext } from '../../context.js';
import { UsageError } from '../../errors.js';
import { quoteValue } from '../../util/text.js';

export interface ListOptions {
  page: number;
  limit?: number;
  all: boolean;
  filters: Record<string, string | undefined>;
}

/** --page and --limit: the docs type them as 32-bit integers for some endpoints (int64 for others). */
export const MAX_PAGE_PARAMETER = 2_147_483_647;

/** A whole number from 1 to `max` (default: the largest --page/--limit the API takes), naming the flag. */
export function parsePositiveInt(value: unknown, flag: string, max = MAX_PAGE_PARAMETER): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  if (!/^\d+$/.test(text) || Number(text) < 1 || Number(text) > max) {
    throw new UsageError(`${flag} must be a whole number from 1 to ${max} (got ${quoteValue(text)})`, {
      field: flag.replace(/^--/, ''),
    });
  }
  return Number(text);
}

/** --page/--limit/--all plus the id filters, validated before anything is sent. */
export function parseListOptions(opts: Record<string, unknown>, filterFlags: Record<string, string> = {}): ListOptions {
  const filters: Record<string, string | undefined> = {};
  for (const [option, queryName] of Object.entries(filterFlags)) {
    const value = opts[option];
    if (typeof value === 'string') {
      if (value.trim() === '') throw new UsageError(`--${option.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} is empty`);
      filters[queryName] = value.trim();
    }
  }
  return {
    page: parsePositiveInt(opts.page, '--page') ?? 1,
    limit: parsePositiveInt(opts.limit, '--limit'),
    all: Boolean(opts.all),
    filters,
  };
}

/** One page, or with --all every page from --page on, yielded as they arrive. */
async function* pages<T>(
  options: ListOptions,
  fetchPage: (query: PageQuery) => Promise<Page<T>>,
  defaultLimit?: number,
): AsyncGenerator<T[]> {
  const query = (page: number): PageQuery => ({ ...options.filters, page, limit: options.limit });
  if (!options.all) {
    yield (await fetchPage(query(options.page))).items;
    return;
  }
  yield* walkPages((page) => fetchPage(query(page)), options.page, options.limit ?? defaultLimit);
}

export function listLabels(ctx: CommandContext, options: ListOptions): AsyncGenerator<Label[]> {
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  return pages(options, (query) => fetchLabelsPage(client, account, query), LABELS_DEFAULT_LIMIT);
}

export const FEATURE_SET_FILTERS = {
  departmentId: 'department_id',
  operationId: 'operation_id',
  processId: 'process_id',
};

export function listFeatureSets(ctx: CommandContext, options: ListOptions): AsyncGenerator<FeatureSet[]> {
  const client = ctx.api();
  const account = ctx.credentials().clientAccountId;
  return pages(options, (query) => fetchFeatureSetsPage(client, account, query));
}

/** Every feature set of the account (used to resolve a feature set by name). */
export async function allFeatureSets(ctx: CommandContext): Promise<FeatureSet[]> {
  const result: FeatureSet[] = [];
  for await (const page of listFeatureSets(ctx, { page: 1, all: true, filters: {} })) result.push(...page);
  return result;
}
