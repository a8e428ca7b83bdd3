// Tunable behaviour of the sandbox: defaults, merging and validation. Patches
// come from TypeScript callers and from POST /__sandbox/config, so they are
// validated at runtime too.
import { ALL_ACCESS_AREAS, type AccessArea, type RateLimit, type SandboxKnobs } from './types.js';

export function defaultKnobs(): SandboxKnobs {
  return {
    tokenLifetimeSeconds: 3600,
    tokenQuota: 10,
    tokenQuotaWindowSeconds: 1800,
    latencyMs: 0,
    failureRate: 0,
    // The documented per-token limits (API reference §3.6); bulk v1 is inferred.
    rateLimits: {
      'cp-batch-v2': { limit: 60, windowMs: 60_000 },
      'cp-realtime-v2': { limit: 100, windowMs: 1000 },
      'cp-realtime-v1': { limit: 100, windowMs: 1000 },
      'cp-bulk-v1': { limit: 10, windowMs: 1000 },
    },
    clockOffsetMs: 0,
    deniedAccess: [],
  };
}

export class KnobError extends Error {}

const NUMERIC_KNOBS = [
  'tokenLifetimeSeconds',
  'tokenQuota',
  'tokenQuotaWindowSeconds',
  'latencyMs',
  'failureRate',
  'numberProcessingMs',
  'batchDelayMs',
] as const;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function checkNumber(name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new KnobError(`${name} must be a non-negative number`);
  }
  return value;
}

function checkRateLimit(endpoint: string, value: unknown): RateLimit {
  if (!isPlainObject(value)) throw new KnobError(`rateLimits.${endpoint} must be an object {limit, windowMs}`);
  const limit = checkNumber(`rateLimits.${endpoint}.limit`, value.limit);
  const windowMs = checkNumber(`rateLimits.${endpoint}.windowMs`, value.windowMs);
  if (!Number.isInteger(limit)) throw new KnobError(`rateLimits.${endpoint}.limit must be an integer`);
  if (windowMs === 0) throw new KnobError(`rateLimits.${endpoint}.windowMs must be positive`);
  return { limit, windowMs };
}

function checkAreas(value: unknown): AccessArea[] {
  if (!Array.isArray(value)) throw new KnobError(`deniedAccess must be an array of access areas (${ALL_ACCESS_AREAS.join(', ')})`);
  for (const area of value) {
    if (!(ALL_ACCESS_AREAS as readonly unknown[]).includes(area)) {
      throw new KnobError(`deniedAccess: unknown access area ${JSON.stringify(area)}; use ${ALL_ACCESS_AREAS.join(', ')}`);
    }
  }
  return [...new Set(value as AccessArea[])];
}

/**
 * Returns current ⊕ patch. rateLimits merge per endpoint, so configuring one
 * endpoint keeps the documented defaults of the others. Unknown keys are
 * rejected: a typo should not silently leave a knob at its default.
 */
export function mergeKnobs(current: SandboxKnobs, patch: unknown): SandboxKnobs {
  if (!isPlainObject(patch)) throw new KnobError('config must be a JSON object');
  const next: SandboxKnobs = { ...current, rateLimits: { ...current.rateLimits } };
  for (const [name, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if ((NUMERIC_KNOBS as readonly string[]).includes(name)) {
      next[name as (typeof NUMERIC_KNOBS)[number]] = checkNumber(name, value);
    } else if (name === 'clockOffsetMs') {
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new KnobError('clockOffsetMs must be a number of ms (negative: the server is behind)');
      next.clockOffsetMs = value;
    } else if (name === 'deniedAccess') {
      next.deniedAccess = checkAreas(value);
    } else if (name === 'rateLimits') {
      if (!isPlainObject(value)) throw new KnobError('rateLimits must be an object keyed by endpoint id');
      for (const [endpoint, limit] of Object.entries(value)) {
        next.rateLimits[endpoint] = checkRateLimit(endpoint, limit);
      }
    } else {
      throw new KnobError(`unknown knob: ${name}`);
    }
  }
  if (next.failureRate > 1) throw new KnobError('failureRate must be between 0 and 1');
  if (!Number.isInteger(next.tokenQuota)) throw new KnobError('tokenQuota must be an integer');
  return next;
}

export function cloneKnobs(knobs: SandboxKnobs): SandboxKnobs {
  return { ...knobs, deniedAccess: [...knobs.deniedAccess], rateLimits: Object.fromEntries(Object.entries(knobs.rateLimits).map(([k, v]) => [k, { ...v }])) };
}
