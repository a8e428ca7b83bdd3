import type { ApiClient } from './client.js';
import type { Page, PageQuery } from './pagination.js';

/** One dynamic label, as labels-get returns it. */
export interface Label {
  id: string;
  name: string;
  logo_url?: string;
  category?: number;
  sub_category?: number;
  created_by_email?: string;
  created_at?: string;
  label_type?: string;
  [field: string]: unknown;
}

/** labels-get answers a bare array; its documented defaults are page 1, limit 1000. */
export const LABELS_DEFAULT_LIMIT = 1000;

export async function fetchLabelsPage(client: ApiClient, accountId: string, query: PageQuery): Promise<Page<Label>> {
  const response = await client.request<unknown>({
    endpoint: 'labels-get',
    method: 'GET',
    path: `/clients/${encodeURIComponent(accountId)}/labels`,
    query,
  });
  const body = response.body;
  const items = Array.isArray(body)
    ? (body as Label[])
    : Array.isArray((body as { labels?: unknown })?.labels)
      ? ((body as { labels: Label[] }).labels)
      : [];
  return { items, page: query.page ?? 1 };
}
