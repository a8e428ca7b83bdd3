import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultKnobs, mergeKnobs } from '../../src/sandbox/knobs.js';
import { startSandbox, type SandboxHandle } from '../../src/sandbox/server.js';
import { parseAccessAreas, parseClockOffset } from '../../src/services/sandbox/sandbox.js';

describe('sandbox knobs for tcb doctor', () => {
  it('clockOffsetMs may be negative; deniedAccess takes known areas only', () => {
    expect(mergeKnobs(defaultKnobs(), { clockOffsetMs: -90_000 }).clockOffsetMs).toBe(-90_000);
    expect(() => mergeKnobs(defaultKnobs(), { clockOffsetMs: 'soon' })).toThrow(/clockOffsetMs must be a number/);
    expect(mergeKnobs(defaultKnobs(), { deniedAccess: ['labels', 'labels', 'call-me-back'] }).deniedAccess).toEqual(['labels', 'call-me-back']);
    expect(() => mergeKnobs(defaultKnobs(), { deniedAccess: ['billing'] })).toThrow(/unknown access area "billing"/);
    expect(() => mergeKnobs(defaultKnobs(), { deniedAccess: 'labels' })).toThrow(/must be an array/);
  });

  it('--clock-offset takes signed durations or seconds; --deny-access a comma list', () => {
    expect(parseClockOffset('+10m')).toBe(600_000);
    expect(parseClockOffset('-90s')).toBe(-90_000);
    expect(parseClockOffset('45')).toBe(45_000);
    expect(parseClockOffset('-1.5h')).toBe(-5_400_000);
    expect(() => parseClockOffset('ten minutes')).toThrow(/--clock-offset must be a signed duration/);
    expect(parseAccessAreas('labels, call-me-back')).toEqual(['labels', 'call-me-back']);
    expect(() => parseAccessAreas('labels,nope')).toThrow(/--deny-access: unknown access area "nope"/);
  });
});

describe('sandbox: clock offset, denied access, echo', () => {
  let sandbox: SandboxHandle;
  let token: string;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${sandbox.url}${path}`, { ...init, headers: { Authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });

  beforeAll(async () => {
    sandbox = await startSandbox({ port: 0 });
    const { clientAccountId, keyId, apiKey } = sandbox.credentials;
    const response = await fetch(`${sandbox.url}/clients/${clientAccountId}/token`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'X-Public-Access': 'allow' },
      body: JSON.stringify({ key_id: keyId, api_key: apiKey }),
    });
    token = ((await response.json()) as { token: string }).token;
  });
  afterAll(() => sandbox.close());

  it('shifts the Date header and the token times by the offset', async () => {
    sandbox.configure({ clockOffsetMs: 3_600_000 });
    const before = Date.now();
    const response = await api(`/clients/${sandbox.credentials.clientAccountId}/labels`);
    const serverDate = Date.parse(response.headers.get('date')!);
    expect(serverDate - before).toBeGreaterThan(3_590_000);
    expect(serverDate - before).toBeLessThan(3_610_000);
    sandbox.configure({ clockOffsetMs: 0 });
    const plain = await api(`/clients/${sandbox.credentials.clientAccountId}/labels`);
    expect(Math.abs(Date.parse(plain.headers.get('date')!) - Date.now())).toBeLessThan(10_000);
  });

  it('answers 403 on every endpoint of a denied area, for the full-access key too', async () => {
    const account = sandbox.credentials.clientAccountId;
    sandbox.configure({ deniedAccess: ['number-management'] });
    const denied = await api(`/clients/${account}/number_management/feature_sets`);
    expect(denied.status).toBe(403);
    expect(await denied.json()).toEqual({ slug: 'forbidden-error', message: 'not authorized. please contact your admin.' });
    expect((await api(`/clients/${account}/number_management/numbers`)).status).toBe(403);
    expect((await api(`/clients/${account}/labels`)).status).toBe(200);
    sandbox.configure({ deniedAccess: [] });
    expect((await api(`/clients/${account}/number_management/feature_sets`)).status).toBe(200);
  });

  it('echoes a request as received, and the bearer token in X-Echo-Token', async () => {
    const bytes = Buffer.from([0x7b, 0xff, 0x7d]);
    const response = await api('/__sandbox/echo/any/path?x=1', { method: 'PUT', body: bytes, headers: { 'X-Trace': 'abc' } });
    expect(response.headers.get('x-echo-token')).toBe(token);
    const echoed = (await response.json()) as Record<string, unknown>;
    expect(echoed).toMatchObject({ method: 'PUT', path: '/__sandbox/echo/any/path', query: { x: '1' }, body: null, body_base64: bytes.toString('base64') });
    expect((echoed.headers as Record<string, string>)['x-trace']).toBe('abc');
  });
});
