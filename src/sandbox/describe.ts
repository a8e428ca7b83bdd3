// The text `tcb sandbox` prints on start: where it listens and how to log in.
import type { SandboxHandle } from './types.js';

export function describeSandbox(handle: Pick<SandboxHandle, 'url' | 'credentials' | 'restrictedCredentials'>): string {
  const { url, credentials: full, restrictedCredentials: restricted } = handle;
  return [
    `Truecaller for Business API sandbox listening on ${url}`,
    'Data is seeded and kept in memory only; it resets when the sandbox stops.',
    '',
    'Full-access API key:',
    `  client account id  ${full.clientAccountId}`,
    `  key id             ${full.keyId}`,
    `  api key            ${full.apiKey}`,
    '',
    'Restricted API key (no labels or number-management access: those answer 403):',
    `  key id             ${restricted.keyId}`,
    `  api key            ${restricted.apiKey}`,
    '',
    'Point tcb at it from another shell:',
    `  export TCB_BASE_URL=${url}`,
    `  export TCB_CLIENT_ACCOUNT_ID=${full.clientAccountId}`,
    `  export TCB_KEY_ID=${full.keyId}`,
    `  export TCB_API_KEY=${full.apiKey}`,
    '  tcb labels list',
    '',
    'Control endpoints (no auth needed):',
    `  GET  ${url}/__sandbox/counters   requests, responses, tokens created, 429s`,
    `  GET  ${url}/__sandbox/config     current knobs`,
    `  POST ${url}/__sandbox/config     e.g. {"latencyMs":200,"failureRate":0.1,"tokenLifetimeSeconds":60}`,
    `  POST ${url}/__sandbox/inject     e.g. {"endpoint":"labels-get","status":503,"count":2}`,
    `  POST ${url}/__sandbox/holds      hold requests unanswered, e.g. {"endpoint":"cp-batch-v2","count":1}`,
    `  POST ${url}/__sandbox/holds/release   let held requests go on ({"id":1}, or {} for all)`,
    `  POST ${url}/__sandbox/tokens/expire   every issued token expires now`,
    `  POST ${url}/__sandbox/batches/complete  pending call-reason batches complete now`,
    `  POST ${url}/__sandbox/numbers/finish    pending publishes/delists finish now, e.g. {"failed":["919812345678"]}`,
    `  POST ${url}/__sandbox/reset      clear counters, injected failures and holds`,
    `  ANY  ${url}/__sandbox/echo       the request as received (try: tcb api /__sandbox/echo -f a=1)`,
    '',
  ].join('\n');
}
