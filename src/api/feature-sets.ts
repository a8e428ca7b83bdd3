import type { ApiClient } from './client.js';
import type { Page, PageQuery } from './pagination.js';

/** One feature set, as feature-sets-get returns it. */
export interface FeatureSet {
  id: string;
  name: string;
  description?: string;
  status?: string;
  process_id?: string;
  department_id?: string;
  department_name?: string;
  operation_id?: string;
  calling_operation_name?: string;
  process_name?: string;
  sub_process_name?: string;
  call_me_back?: boolean;
  survey?: boolean;
  label_id?: string;
  created_at?: string;
  updated_at?: string;
  [field: string]: unknown;
}

interface FeatureSetsBody {
  feature_sets?: FeatureSet[];
  pagination_info?: { total_page_count?: number; current_page?: number; page_limit?: number };
}

export async function fetchFeatureSetsPage(
  client: ApiClient,
  accountId: string,
  query: PageQuery,
): Promise<Page<FeatureSet>> {
  const response = await client.request<FeatureSetsBody>({
    endpoint: 'feature-sets-get',
    method: 'GET',
    path: `/clients/${encodeURIComponent(accountId)}/number_management/feature_sets`,
    query,
  });
  const body = response.body ?? {};
  const info = body.pagination_info;
  return {
    items: Array.isArray(body.feature_sets) ? body.feature_sets : [],
    totalPages: typeof info?.total_page_count === 'number' ? info.total_page_count : undefined,
    page: typeof info?.current_page === 'number' ? info.current_page : (query.page ?? 1),
  };
}
