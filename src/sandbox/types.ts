// Shared types of the sandbox. The public ones are re-exported from server.ts,
// which is the module other code imports; route modules import from here so
// they never depend on the server wiring.
import type { IncomingHttpHeaders } from 'node:http';
import type { SandboxState, ApiKeyRecord, TokenRecord } from './state.js';
import type { Hold, HoldSpec } from './holds.js';

export interface SandboxKnobs {
  /** Lifetime of a newly issued token (the API documents 60 minutes). */
  tokenLifetimeSeconds: number;
  /** Tokens a key may create per window (the API documents 10 per 30 minutes). */
  tokenQuota: number;
  tokenQuotaWindowSeconds: number;
  /** Delay added before every API response (not control endpoints). */
  latencyMs: number;
  /** Probability (0..1) of a random 503 on API endpoints other than token-create. */
  failureRate: number;
  /** Per-token sliding-window limits, keyed by endpoint id from endpoints.json. */
  rateLimits: Record<string, RateLimit>;
  /** How long a number publish/delist stays pending (unset: the numbers module's default). */
  numberProcessingMs?: number;
  /** How long a call-reason batch stays pending (unset: the call-reasons module's default). */
  batchDelayMs?: number;
  /**
   * The server's clock minus the real one, in ms (may be negative): shifts the Date header, token
   * times and every "now" the API checks against, to show what a skewed client clock meets.
   */
  clockOffsetMs: number;
  /** Access areas no key may use: every endpoint of such an area answers 403 forbidden-error. */
  deniedAccess: AccessArea[];
}

export interface RateLimit {
  limit: number;
  windowMs: number;
}

export interface SandboxOptions extends Partial<SandboxKnobs> {
  port?: number;
  /** Defaults to 127.0.0.1: the sandbox is for loopback use only. */
  host?: string;
}

export interface SandboxCredentials {
  clientAccountId: string;
  keyId: string;
  apiKey: string;
}

export interface SandboxCounters {
  tokensCreated: number;
  /** endpoint id → requests that matched it, rejected ones included. */
  requests: Record<string, number>;
  /** HTTP status → responses sent with it. */
  responses: Record<string, number>;
  /** Every 429 sent, whatever produced it (rate limit, token quota, injection). */
  rateLimited: number;
  /** Free-form counters owned by route modules. */
  extra: Record<string, number>;
}

export type FailureMode = 'respond' | 'drop-connection' | 'after-processing';

export interface InjectedFailure {
  /** Endpoint id (e.g. "labels-get") or "*" for any endpoint. */
  endpoint: string;
  /** Status to answer with (default 503). */
  status?: number;
  /** How many matching requests get it (default 1). */
  count?: number;
  /** Body to send (default: a slug envelope suited to the status). */
  body?: unknown;
  retryAfterSeconds?: number;
  /**
   * respond: answer at once; drop-connection: destroy the socket without
   * answering; after-processing: run the real handler, then answer with the
   * failure anyway (the client cannot know whether the work happened).
   */
  mode?: FailureMode;
  /**
   * Let this many matching requests through first (default 0): aims the failure at one
   * request, e.g. `after: 2` answers the third batch POST.
   */
  after?: number;
  /** Extra headers on the failure response (e.g. an X-Request-Id echoing something). */
  headers?: Record<string, string>;
}

/** One API request as the sandbox saw it (control endpoints are not logged). */
export interface LoggedRequest {
  /** Endpoint id, or null for a path that matched no endpoint. */
  endpoint: string | null;
  method: string;
  path: string;
  /** Epoch ms when the request arrived. */
  receivedAt: number;
  /** Status sent, or null when the connection was dropped without an answer. */
  status: number | null;
  /** Epoch ms just before the answer was written (or the connection dropped). */
  answeredAt: number;
  /** Retry-After sent with the answer, in seconds. */
  retryAfter?: string;
}

export interface SandboxHandle {
  /** e.g. http://127.0.0.1:43121 (no trailing slash) */
  url: string;
  port: number;
  /** Full-access key. */
  credentials: SandboxCredentials;
  /** Same account; this key lacks labels and number-management access. */
  restrictedCredentials: SandboxCredentials;
  counters(): SandboxCounters;
  configure(patch: Partial<SandboxKnobs>): SandboxKnobs;
  inject(failure: InjectedFailure): void;
  /** Holds matching requests (unprocessed) until the hold is released. */
  hold(spec: HoldSpec): Hold;
  /** Resolves once the endpoint has been requested `count` times in all (counters.requests). */
  whenRequests(endpoint: string, count: number): Promise<void>;
  /** Every issued token expires now: the next request with one is answered 401. Returns how many. */
  expireTokens(): number;
  /** The API requests received, oldest first (the most recent REQUEST_LOG_LIMIT). */
  requests(): LoggedRequest[];
  state: SandboxState;
  close(): Promise<void>;
}

/**
 * Feature areas an API key can be granted. The console shows an access level
 * per feature when a key is created; the sandbox models that as a set.
 */
export type AccessArea =
  | 'labels'
  | 'number-management'
  | 'call-personalisation'
  | 'call-me-back'
  | 'user-feedback';

export const ALL_ACCESS_AREAS: readonly AccessArea[] = [
  'labels',
  'number-management',
  'call-personalisation',
  'call-me-back',
  'user-feedback',
];

export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a handler answers with: JSON (the normal case) or raw bytes (downloads). */
export type RouteResponse =
  | { status: number; json: unknown; headers?: Record<string, string> }
  | { status: number; raw: string | Buffer; contentType: string; headers?: Record<string, string> };

export interface RouteContext {
  route: RouteDefinition;
  /** Path parameters, already URI-decoded (e.g. clientAccountId). */
  params: Record<string, string>;
  query: URLSearchParams;
  /** Parsed JSON body; undefined when the request had no body. */
  body: unknown;
  headers: IncomingHttpHeaders;
  /** The key behind the bearer token; undefined on routes with auth 'none'. */
  key: ApiKeyRecord | undefined;
  token: TokenRecord | undefined;
  state: SandboxState;
  knobs: Readonly<SandboxKnobs>;
  /** The live counters (mutate directly for core ones such as tokensCreated). */
  counters: SandboxCounters;
  /** Base URL of this sandbox, for building links (e.g. download URLs). */
  baseUrl: string;
  /** Increments counters.extra[name]. */
  bump(name: string, by?: number): void;
  /** Current time in ms; use it instead of Date.now() so handlers stay consistent. */
  now: number;
}

export interface RouteDefinition {
  /** Endpoint id from endpoints.json; used for counters, rate limits and injection. */
  id: string;
  method: HttpMethod;
  /** Path pattern with :params, e.g. /clients/:clientAccountId/labels */
  path: string;
  /** 'bearer' (default) requires a valid token; 'none' skips auth entirely. */
  auth?: 'bearer' | 'none';
  /** Feature area the key must be granted; omit for routes any key may call. */
  access?: AccessArea;
  /** Set false to keep the random failureRate away from this route (token-create). */
  randomFailures?: boolean;
  handler(ctx: RouteContext): RouteResponse | Promise<RouteResponse>;
}
