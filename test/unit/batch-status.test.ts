import { describe, expect, it } from 'vitest';
import {
  checkBatches,
  classifyStatus,
  mergeTargets,
  parseStatusOptions,
  recordStatus,
  summarise,
  targetsFromArgs,
  totals,
  type BatchResult,
  type BatchTarget,
  type WaitHooks,
} from '../../src/services/call-reasons/batch-status.js';
import { UsageError } from '../../src/errors.js';

describe('classifyStatus', () => {
  it.each([
    ['success', 'success'],
    ['SUCCESS', 'success'],
    ['failed', 'failed'],
    ['failure', 'failed'],
    ['error', 'failed'],
    ['pending', 'pending'],
    ['processing', 'pending'],
    [undefined, 'pending'],
    ['', 'pending'],
    ['expired', 'other'],
  ])('%s → %s', (status, outcome) => {
    expect(classifyStatus(status)).toBe(outcome);
  });
});

describe('recordStatus', () => {
  it('reads v2 status_info (snake and camel) and v1 flat status with a reason', () => {
    expect(recordStatus({ status_info: { status: 'success' } })).toEqual({ status: 'success' });
    expect(recordStatus({ statusInfo: { status: 'failed', message: 'OS not supported' } })).toEqual({
      status: 'failed',
      reason: 'OS not supported',
    });
    expect(recordStatus({ status: 'failure', reason: 'Failed to push' })).toEqual({ status: 'failure', reason: 'Failed to push' });
    expect(recordStatus({})).toEqual({ status: 'pending' });
  });
});

const v2 = (status: string, message?: string) => ({ status_info: message ? { status, message } : { status } });

describe('summarise', () => {
  it('counts by status and reason, failures after successes, most frequent first', () => {
    const s = summarise({ batchId: 'b' }, [
      v2('success'),
      v2('failed', 'OS not supported'),
      v2('failed', 'Not a Truecaller user'),
      v2('success'),
      v2('failed', 'Not a Truecaller user'),
    ]);
    expect(s.state).toBe('complete');
    expect({ records: s.records, success: s.success, failed: s.failed, pending: s.pending }).toEqual({
      records: 5,
      success: 2,
      failed: 3,
      pending: 0,
    });
    expect(s.counts.map((c) => [c.status, c.reason, c.count])).toEqual([
      ['success', null, 2],
      ['failed', 'Not a Truecaller user', 2],
      ['failed', 'OS not supported', 1],
    ]);
  });

  it('is pending while any record is pending, when nothing is visible yet, or fewer than expected', () => {
    expect(summarise({ batchId: 'b' }, [v2('success'), v2('pending')]).state).toBe('pending');
    expect(summarise({ batchId: 'b' }, []).state).toBe('pending');
    expect(summarise({ batchId: 'b', expectedRecords: 3 }, [v2('success'), v2('success')]).state).toBe('pending');
    expect(summarise({ batchId: 'b', expectedRecords: 2 }, [v2('success'), v2('success')]).state).toBe('complete');
  });

  it('keeps journal line ranges', () => {
    const s = summarise({ batchId: 'b', firstLine: 2, lastLine: 501 }, [v2('success')]);
    expect([s.first_line, s.last_line]).toEqual([2, 501]);
  });
});

describe('options and targets', () => {
  it('parses --interval and the global --timeout as durations (bare numbers are seconds)', () => {
    const o = parseStatusOptions({ wait: true, interval: '1500ms' }, '90');
    expect(o).toMatchObject({ api: 'v2', apiVersion: 'v2', wait: true, intervalMs: 1500, waitTimeoutMs: 90_000 });
    expect(parseStatusOptions({ wait: true, interval: '2' }, undefined).intervalMs).toBe(2000);
    expect(parseStatusOptions({ apiVersion: 'V3' }, undefined).apiVersion).toBe('v3');
  });

  it('--wait-timeout (as on numbers and upload) wins over the global --timeout', () => {
    expect(parseStatusOptions({ wait: true, waitTimeout: '15m' }, '90').waitTimeoutMs).toBe(900_000);
    expect(parseStatusOptions({ wait: true }, undefined).waitTimeoutMs).toBe(600_000);
  });

  it.each([
    [{ apiVersion: 'v4' }],
    [{ api: 'v3' }],
    [{ api: 'v1', apiVersion: 'v3' }],
    [{ interval: '5s' }],
    [{ waitTimeout: '5m' }],
    [{ wait: true, interval: '0' }],
    [{ wait: true, interval: 'later' }],
  ])('rejects %o', (opts) => {
    expect(() => parseStatusOptions(opts, undefined)).toThrow(UsageError);
  });

  it('dedupes batch ids and merges journal facts', () => {
    expect(targetsFromArgs(['a', ' b ', 'a']).map((t) => t.batchId)).toEqual(['a', 'b']);
    expect(() => targetsFromArgs([' '])).toThrow(UsageError);
    expect(mergeTargets([{ batchId: 'a', expectedRecords: 5, firstLine: 2, lastLine: 6 }], [{ batchId: 'a' }, { batchId: 'c' }])).toEqual([
      { batchId: 'a', expectedRecords: 5, firstLine: 2, lastLine: 6 },
      { batchId: 'c' },
    ]);
  });
});

/** A fake clock: sleep advances time instead of waiting. */
function fakeHooks(): WaitHooks & { slept: number[] } {
  let now = 0;
  const slept: number[] = [];
  return {
    slept,
    now: () => now,
    sleep: async (ms) => {
      slept.push(ms);
      now += ms;
    },
  };
}

/** Batches that turn complete after `polls` fetches each. */
function fetcherCompletingAfter(polls: Record<string, number>) {
  const calls: Record<string, number> = {};
  const fetcher = async (target: BatchTarget): Promise<BatchResult> => {
    calls[target.batchId] = (calls[target.batchId] ?? 0) + 1;
    const done = calls[target.batchId]! >= polls[target.batchId]!;
    const data = [v2(done ? 'success' : 'pending')];
    return { target, summary: summarise(target, data), response: { batch_id: target.batchId, data } };
  };
  return { fetcher, calls };
}

describe('checkBatches', () => {
  const targets = [{ batchId: 'a' }, { batchId: 'b' }];

  it('without --wait fetches each batch once', async () => {
    const { fetcher, calls } = fetcherCompletingAfter({ a: 3, b: 1 });
    const out = await checkBatches(targets, fetcher, { wait: false, intervalMs: 1000, waitTimeoutMs: 60_000 }, new AbortController().signal, fakeHooks());
    expect(calls).toEqual({ a: 1, b: 1 });
    expect(out.results.map((r) => r.summary.state)).toEqual(['pending', 'complete']);
    expect(out.timedOut).toBe(false);
  });

  it('with --wait polls only the pending batches until all complete', async () => {
    const { fetcher, calls } = fetcherCompletingAfter({ a: 3, b: 1 });
    const hooks = fakeHooks();
    const out = await checkBatches(targets, fetcher, { wait: true, intervalMs: 1000, waitTimeoutMs: 60_000 }, new AbortController().signal, hooks);
    expect(calls).toEqual({ a: 3, b: 1 });
    expect(hooks.slept).toEqual([1000, 1000]);
    expect(out.results.map((r) => r.target.batchId)).toEqual(['a', 'b']);
    expect(totals(out.results)).toMatchObject({ batches: 2, complete: 2, success: 2 });
  });

  it('times out at the deadline, never sleeping past it', async () => {
    const { fetcher } = fetcherCompletingAfter({ a: 100, b: 1 });
    const hooks = fakeHooks();
    const out = await checkBatches(targets, fetcher, { wait: true, intervalMs: 2000, waitTimeoutMs: 5000 }, new AbortController().signal, hooks);
    expect(out.timedOut).toBe(true);
    expect(hooks.slept).toEqual([2000, 2000, 1000]);
    expect(out.results[0]!.summary.state).toBe('pending');
  });

  it('stops when interrupted', async () => {
    const { fetcher } = fetcherCompletingAfter({ a: 100, b: 100 });
    const controller = new AbortController();
    const hooks = fakeHooks();
    const sleep = hooks.sleep;
    hooks.sleep = async (ms, signal) => {
      await sleep(ms, signal);
      controller.abort();
    };
    const out = await checkBatches(targets, fetcher, { wait: true, intervalMs: 1000, waitTimeoutMs: 60_000 }, controller.signal, hooks);
    expect(out.interrupted).toBe(true);
    expect(out.timedOut).toBe(false);
  });
});
