// Query-string helpers shared by the paginated endpoints.
import { SandboxHttpError } from '../errors.js';

/** A positive integer query parameter; absent or empty means the default. */
export function positiveIntParam(query: URLSearchParams, name: string, defaultValue: number): number {
  const raw = query.get(name);
  if (raw === null || raw.trim() === '') return defaultValue;
  const value = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(value) || value < 1) {
    throw SandboxHttpError.invalidInput(`${name} must be a positive integer`);
  }
  return value;
}

/** An optional filter value; empty counts as absent. */
export function filterParam(query: URLSearchParams, name: string): string | undefined {
  const raw = query.get(name);
  return raw === null || raw.trim() === '' ? undefined : raw.trim();
}

export interface Page<T> {
  items: T[];
  page: number;
  limit: number;
  /** 0 when there are no items at all. */
  totalPages: number;
}

/** 1-based pages; a page past the end is empty, not an error. */
export function paginate<T>(items: readonly T[], page: number, limit: number): Page<T> {
  const start = (page - 1) * limit;
  return {
    items: items.slice(start, start + limit),
    page,
    limit,
    totalPages: Math.ceil(items.length / limit),
  };
}
