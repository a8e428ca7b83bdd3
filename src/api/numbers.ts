import type { ApiClient } from './client.js';
import type { Page, PageQuery } from './pagination.js';

/** One number, as numbers-details returns it (api/README.md §5.4). */
export interface NumberDetails {
  phone_number: string;
  phone_type?: string;
  status?: string;
  client_account_id?: string;
  created_by_email?: string;
  department?: string;
  operation?: string;
  process?: string;
  subprocess?: string;
  feature_set_name?: string;
  call_me_back?: string;
  created_at?: string;
  updated_at?: string;
  label_name?: string;
  [field: string]: unknown;
}

interface NumbersDetailsBody {
  numbers?: NumberDetails[];
  /** The documented envelope of numbers-details. */
  pagination_information?: { total_page_count?: number; current_page?: number };
  /** The feature-sets envelope; accepted here too in case a server answers with it. */
  pagination_info?: { total_page_count?: number; current_page?: number };
}

/** The most numbers one publish or delist request may carry (phone_numbers maxLength 10000). */
export const MAX_NUMBERS_PER_REQUEST = 10_000;

/**
 * The bucket arrays of the publish (numbers-list) and delist (numbers-delist) responses.
 * Publish has migrated/delisted/updated but no processing; delist the reverse (§5.1, §5.2).
 */
export const BUCKETS = [
  'new_numbers',
  'existing_numbers',
  'migrated_numbers',
  'delisted_numbers',
  'updated_numbers',
  'processing_numbers',
  'invalid_numbers',
  'other_feature_set_numbers',
  'other_phonetype_numbers',
  'others_numbers',
] as const;
export type Bucket = (typeof BUCKETS)[number];

/** A publish or delist response: the API's own object, every field kept as it came. */
export type NumbersChangeResponse = {
  client_account_id?: string;
  created_by_email?: string;
  phone_type?: string;
  status?: string;
} & Partial<Record<Bucket, string[]>> &
  Record<string, unknown>;

export type NumbersAction = 'publish' | 'delist';

export const ACTION_ENDPOINT: Record<NumbersAction, 'numbers-list' | 'numbers-delist'> = {
  publish: 'numbers-list',
  delist: 'numbers-delist',
};

export function numbersChangePath(accountId: string, featureSetId: string, action: NumbersAction): string {
  return `/clients/${encodeURIComponent(accountId)}/number_management/feature_sets/${encodeURIComponent(featureSetId)}/numbers/${action}`;
}

export async function fetchNumbersPage(client: ApiClient, accountId: string, query: PageQuery, signal?: AbortSignal): Promise<Page<NumberDetails>> {
  const response = await client.request<NumbersDetailsBody>({
    endpoint: 'numbers-details',
    method: 'GET',
    path: `/clients/${encodeURIComponent(accountId)}/number_management/numbers`,
    query,
    signal,
  });
  const body = (response.body ?? {}) as NumbersDetailsBody;
  const info = body.pagination_information ?? body.pagination_info;
  return {
    items: Array.isArray(body.numbers) ? body.numbers : [],
    totalPages: typeof info?.total_page_count === 'number' ? info.total_page_count : undefined,
    page: typeof info?.current_page === 'number' ? info.current_page : (query.page ?? 1),
  };
}

/** POST …/numbers/publish or …/numbers/delist with up to 10 000 numbers. */
export async function changeNumbers(
  client: ApiClient,
  accountId: string,
  featureSetId: string,
  action: NumbersAction,
  phoneNumbers: readonly string[],
): Promise<NumbersChangeResponse> {
  const response = await client.request<NumbersChangeResponse>({
    endpoint: ACTION_ENDPOINT[action],
    method: 'POST',
    path: numbersChangePath(accountId, featureSetId, action),
    json: { phone_numbers: phoneNumbers },
  });
  const body = response.body;
  return body !== null && typeof body === 'object' && !Array.isArray(body) ? body : {};
}
