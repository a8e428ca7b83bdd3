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
 * envelope has one, else a short or empty page (labels answer a bare array), or a page that
 * repeats the one before it.
 */
export async function* walkPages<T>(
  fetchPage: (page: number) => Promise<Page<T>>,
  start: number,
  limit: number | undefined,
): AsyncGenerator<T[]> {
  let previous: string | undefined;
  for (let page = start; ; page += 1) {
    const result = await fetchPage(page);
    // A server that ignores `page` answers the same page forever: stop at the first repeat.
    const fingerprint = result.items.length > 0 ? JSON.stringify(result.items) : undefined;
    if (fingerprint !== undefined && fingerprint === previous) return;
    previous = fingerprint;
    if (result.items.length > 0) yield result.items;
    if (result.totalPages !== undefined) {
      if (page >= result.totalPages) return;
      if (result.items.length === 0) return; // guards against a server that overstates the count
    } else if (result.items.length === 0 || (limit !== undefined && result.items.length < limit)) {
      return;
    }
  }
}
