// token-create: exchange a key pair for a bearer token (API reference §4).
import type { RouteContext, RouteDefinition, RouteResponse } from '../types.js';
import { moduleState } from '../state.js';
import { issueToken } from '../auth.js';
import { SlidingWindowLimiter, retryAfterSeconds } from '../sliding-window.js';
import { MESSAGES, invalidInput, slugResponse, tooManyRequests } from '../errors.js';

/** Tokens issued per key_id, for the "10 tokens per 30 minutes" quota. */
const issuedTokens = (ctx: RouteContext) => moduleState(ctx.state, 'token-create.quota', () => new SlidingWindowLimiter());

function requiredString(body: Record<string, unknown>, field: string): string | RouteResponse {
  const value = body[field];
  if (value === undefined || value === null || value === '') return invalidInput(`${field} is required`);
  if (typeof value !== 'string') return invalidInput(`${field} must be a string`);
  return value;
}

function createToken(ctx: RouteContext): RouteResponse {
  // The docs disagree on whether X-Public-Access is required (§10): accept
  // requests without it, but count them so tests can see a client omits it.
  if (String(ctx.headers['x-public-access'] ?? '').toLowerCase() !== 'allow') {
    ctx.bump('tokenRequestsWithoutPublicAccessHeader');
  }

  const body = ctx.body ?? {};
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return invalidInput('request body must be a JSON object');
  }
  const keyId = requiredString(body as Record<string, unknown>, 'key_id');
  if (typeof keyId !== 'string') return keyId;
  const apiKey = requiredString(body as Record<string, unknown>, 'api_key');
  if (typeof apiKey !== 'string') return apiKey;

  const key = ctx.state.apiKeys.find(
    (k) => k.keyId === keyId && k.apiKey === apiKey && k.clientAccountId === ctx.params.clientAccountId,
  );
  if (!key) return slugResponse(401, 'authorization-error', MESSAGES.invalidKeyPair);

  const { tokenQuota, tokenQuotaWindowSeconds, tokenLifetimeSeconds } = ctx.knobs;
  const admission = issuedTokens(ctx).tryAdmit(key.keyId, tokenQuota, tokenQuotaWindowSeconds * 1000, ctx.now);
  if (!admission.admitted) {
    const seconds = retryAfterSeconds(admission.retryAfterMs);
    return tooManyRequests(
      seconds,
      `token limit exceeded: at most ${tokenQuota} tokens per ${tokenQuotaWindowSeconds} seconds, retry after ${seconds} seconds`,
    );
  }

  const token = issueToken(ctx.state, key, tokenLifetimeSeconds, ctx.now);
  ctx.counters.tokensCreated += 1;
  return { status: 200, json: { token: token.token, created_at: new Date(token.createdAt).toISOString() } };
}

export const tokenRoutes: RouteDefinition[] = [
  {
    id: 'token-create',
    method: 'POST',
    path: '/clients/:clientAccountId/token',
    auth: 'none',
    randomFailures: false,
    handler: createToken,
  },
];
