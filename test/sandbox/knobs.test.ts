import { describe, expect, it } from 'vitest';
import { defaultKnobs, mergeKnobs } from '../../src/sandbox/knobs.js';
import { sandboxOptions } from '../../src/services/sandbox/sandbox.js';

describe('sandbox knobs for the asynchronous areas', () => {
  it('number and batch delays are optional knobs, validated like the others', () => {
    const base = defaultKnobs();
    expect(base.batchDelayMs).toBeUndefined();
    const next = mergeKnobs(base, { batchDelayMs: 0, numberProcessingMs: 250 });
    expect(next).toMatchObject({ batchDelayMs: 0, numberProcessingMs: 250 });
    expect(() => mergeKnobs(base, { batchDelayMs: -1 })).toThrow(/non-negative/);
  });

  it('tcb sandbox flags map onto the knobs, and bad values name the flag', () => {
    const defaults = { port: '0', host: '127.0.0.1', tokenLifetime: '3600', tokenQuota: '10', latency: '0', failureRate: '0' };
    expect(sandboxOptions({ ...defaults, batchDelay: '200', numberDelay: '100' })).toMatchObject({
      port: 0,
      batchDelayMs: 200,
      numberProcessingMs: 100,
    });
    expect(sandboxOptions(defaults).batchDelayMs).toBeUndefined();
    expect(() => sandboxOptions({ ...defaults, failureRate: '2' })).toThrow(/--failure-rate/);
    expect(() => sandboxOptions({ ...defaults, batchDelay: 'soon' })).toThrow(/--batch-delay/);
  });
});
