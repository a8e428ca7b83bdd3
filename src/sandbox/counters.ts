// Request/response bookkeeping, readable over /__sandbox/counters. The object
// is mutated in place (reset included) so route contexts can hold on to it.
import type { SandboxCounters } from './types.js';

export function createCounters(): SandboxCounters {
  return { tokensCreated: 0, requests: {}, responses: {}, rateLimited: 0, extra: {} };
}

export function resetCounters(counters: SandboxCounters): void {
  counters.tokensCreated = 0;
  counters.requests = {};
  counters.responses = {};
  counters.rateLimited = 0;
  counters.extra = {};
}

export function snapshotCounters(counters: SandboxCounters): SandboxCounters {
  return {
    tokensCreated: counters.tokensCreated,
    requests: { ...counters.requests },
    responses: { ...counters.responses },
    rateLimited: counters.rateLimited,
    extra: { ...counters.extra },
  };
}

function increment(record: Record<string, number>, key: string, by = 1): void {
  record[key] = (record[key] ?? 0) + by;
}

export function countRequest(counters: SandboxCounters, endpointId: string): void {
  increment(counters.requests, endpointId);
}

export function countResponse(counters: SandboxCounters, status: number): void {
  increment(counters.responses, String(status));
  if (status === 429) counters.rateLimited += 1;
}

export function bumpExtra(counters: SandboxCounters, name: string, by = 1): void {
  increment(counters.extra, name, by);
}
