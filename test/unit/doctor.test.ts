import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { checkClock, checkNode, MIN_NODE_MAJOR, skewSeconds } from '../../src/services/tools/doctor.js';

describe('doctor: clock', () => {
  // This machine at .4 of a second; the server sends its time cut to the second, as Date does.
  const local = 1_700_000_000_400;
  const at = (skewMs: number) => ({ serverMs: Math.floor((local + skewMs) / 1000) * 1000, localMs: local });

  it('measures server minus local in whole seconds from a Date header cut to the second', () => {
    expect(skewSeconds(at(0))).toBe(0);
    expect(skewSeconds(at(600_000))).toBe(600);
    expect(skewSeconds(at(-45_000))).toBe(-45);
    expect(skewSeconds(at(999))).toBe(1);
  });

  it('warns at 30 s and fails at 5 minutes, either way, with skew_seconds', () => {
    expect(checkClock(at(29_000))).toMatchObject({ status: 'ok', skew_seconds: 29 });
    expect(checkClock(at(-31_000))).toMatchObject({ status: 'warn', skew_seconds: -31 });
    expect(checkClock(at(299_000))).toMatchObject({ status: 'warn' });
    expect(checkClock(at(300_000))).toMatchObject({ status: 'fail', skew_seconds: 300 });
    expect(checkClock(at(-3_600_000))).toMatchObject({ status: 'fail', skew_seconds: -3600 });
    expect(checkClock(at(-3_600_000)).detail).toContain('3600 s behind');
    expect(checkClock(undefined)).toMatchObject({ status: 'skip' });
  });
});

describe('doctor: node', () => {
  it('matches the engines field of package.json', () => {
    const engines = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).engines.node;
    expect(engines).toBe(`>=${MIN_NODE_MAJOR}`);
    expect(checkNode('20.0.0').status).toBe('ok');
    expect(checkNode('18.19.1')).toMatchObject({ status: 'fail', hint: `install Node.js ${MIN_NODE_MAJOR} or later` });
  });
});
