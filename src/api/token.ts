import type { Credentials } from '../config/settings.js';
import { ApiError } from '../errors.js';
import type { ApiClient } from './client.js';
import type { IssuedToken } from '../auth/token-cache.js';

/** token-create: exchange the key pair for a 60-minute bearer token. */
export async function createToken(client: ApiClient, credentials: Credentials): Promise<IssuedToken> {
  const response = await client.request<Partial<IssuedToken>>({
    endpoint: 'token-create',
    method: 'POST',
    path: `/clients/${encodeURIComponent(credentials.clientAccountId)}/token`,
    auth: false,
    headers: { 'X-Public-Access': 'allow' },
    json: { key_id: credentials.keyId, api_key: credentials.apiKey },
  });
  const body = response.body;
  if (!body || typeof body.token !== 'string' || body.token === '') {
    throw new ApiError('the token endpoint answered without a token', { httpStatus: response.status });
  }
  return { token: body.token, created_at: typeof body.created_at === 'string' ? body.created_at : new Date().toISOString() };
}
