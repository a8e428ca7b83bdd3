/** Filters and paging shared by the list endpoints. */
export interface PageQuery {
  page?: number;
  limit?: number;
  [filter: string]: string | number | undefined;
}

export interface Page<T> {
  items: T[];
  /** Total pages when the API says so (feature sets, numbers); labels do not. */
  totalPages?: number;
  page: number;
}

/**
 * Walks pages from `start` until the API says there are no more: the page count when the
 * envelope has one, else a short or empty page (labels answer a bare array).
 */
export async function* walkPages<T>(
  fetchPage: (page: number) => Promise<Page<T>>,
  start: number,
  limit: number | undefined,
): AsyncGenerator<T[]> {
  for (let page = start; ; page += 1) {
    const result = await fetchPage(page);
    if (result.items.length > 0) yield result.items;
    if (result.totalPages !== undefined) {
      if (page >= result.totalPages) return;
      if (result.items.length === 0) return; // guards against a server that overstates the count
    } else if (result.items.length === 0 || (limit !== undefined && result.items.length < limit)) {
      return;
    }
  }
}
