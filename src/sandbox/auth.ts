// Bearer tokens: issuing them and checking the Authorization header.
import { randomInt } from 'node:crypto';
import type { RouteResponse } from './types.js';
import type { ApiKeyRecord, SandboxState, TokenRecord } from './state.js';
import { MESSAGES, slugResponse } from './errors.js';

const TOKEN_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const TOKEN_LENGTH = 64; // like the documented example token

function randomToken(): string {
  let token = '';
  for (let i = 0; i < TOKEN_LENGTH; i++) token += TOKEN_ALPHABET[randomInt(TOKEN_ALPHABET.length)];
  return token;
}

export function issueToken(state: SandboxState, key: ApiKeyRecord, lifetimeSeconds: number, now: number): TokenRecord {
  forgetExpiredTokens(state, now);
  const record: TokenRecord = {
    token: randomToken(),
    keyId: key.keyId,
    clientAccountId: key.clientAccountId,
    createdAt: now,
    expiresAt: now + lifetimeSeconds * 1000,
  };
  state.tokens.set(record.token, record);
  return record;
}

/** Keeps a long-running sandbox from accumulating dead tokens. */
function forgetExpiredTokens(state: SandboxState, now: number): void {
  for (const [token, record] of state.tokens) {
    if (record.expiresAt <= now) state.tokens.delete(token);
  }
}

export type Authentication =
  | { ok: true; token: TokenRecord; key: ApiKeyRecord }
  | { ok: false; response: RouteResponse };

const loginAgain = (): Authentication => ({
  ok: false,
  response: slugResponse(401, 'authorization-error', MESSAGES.loginAgain),
});

export function authenticate(authorization: string | undefined, state: SandboxState, now: number): Authentication {
  if (authorization === undefined || authorization.trim() === '') {
    return { ok: false, response: slugResponse(401, 'authorization-error', MESSAGES.missingAuthorization) };
  }
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match) return loginAgain();
  const token = state.tokens.get(match[1]!);
  if (!token || token.expiresAt <= now) return loginAgain();
  const key = state.apiKeys.find((k) => k.keyId === token.keyId);
  if (!key) return loginAgain(); // the key was revoked after the token was issued
  return { ok: true, token, key };
}

/** Ends the life of every issued token now (the control endpoint POST /__sandbox/tokens/expire). */
export function expireTokens(state: SandboxState, now: number): number {
  let expired = 0;
  for (const record of state.tokens.values()) {
    if (record.expiresAt > now) {
      record.expiresAt = now;
      expired += 1;
    }
  }
  return expired;
}
