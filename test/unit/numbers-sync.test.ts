// The pure parts of numbers sync: reading statuses, the plan, the exit policy.
import { describe, expect, it } from 'vitest';
import type { FeatureSet } from '../../src/api/feature-sets.js';
import { PartialFailureError, UsageError, WaitTimeoutError } from '../../src/errors.js';
import { assessOutcome, planChange } from '../../src/services/numbers/numbers.js';
import type { ChangeResult } from '../../src/services/numbers/change.js';
import { findFeatureSet, heldByStatus, planSync, syncError, type SyncState } from '../../src/services/numbers/sync.js';

const FS = { id: '069d2e3a-41e6-41f9-a768-157d7e3bd6b9', name: 'prio1' };

function state(held: Record<string, string>, elsewhere: string[] = []): SyncState {
  return {
    held: new Map(Object.entries(held)),
    elsewhere: new Map(elsewhere.map((n) => [n, { phone_number: n, feature_set_id: 'other', feature_set_name: 'Other', status: 'listed' }])),
    foreign: 0,
  };
}

describe('heldByStatus', () => {
  it('counts listed and pending numbers as held, delisted/delisting/failed ones as not', () => {
    for (const status of ['listed', 'LISTED', 'pending', 'processing', '', 'something new']) expect(heldByStatus(status)).toBe(true);
    for (const status of ['delisted', 'delisting', 'pending_delist', 'Delist Pending', 'failed', 'rejected', 'error']) {
      expect(heldByStatus(status)).toBe(false);
    }
  });
});

describe('planSync', () => {
  it('splits desired and current numbers into publish, delist, unchanged and elsewhere, in order', () => {
    const plan = planSync(FS, ['1', '2', '3', '9'], 0, state({ 2: 'listed', 4: 'listed', 3: 'pending', 5: 'listed' }, ['9']), { delist: true });
    expect(plan.publish).toEqual(['1']);
    expect(plan.unchanged).toEqual(['2', '3']);
    expect(plan.unchangedPending).toBe(1);
    expect(plan.delist).toEqual(['4', '5']);
    expect(plan.elsewhere.map((e) => e.phone_number)).toEqual(['9']);
    expect(plan.kept).toEqual([]);
    expect(plan.currentCount).toBe(4);
  });

  it('--no-delist moves the delists to kept', () => {
    const plan = planSync(FS, ['1'], 0, state({ 4: 'listed' }), { delist: false });
    expect(plan.delist).toEqual([]);
    expect(plan.kept).toEqual(['4']);
  });

  it('an empty desired list delists everything', () => {
    const plan = planSync(FS, [], 0, state({ 4: 'listed', 5: 'pending' }), { delist: true });
    expect(plan.delist).toEqual(['4', '5']);
  });
});

describe('findFeatureSet', () => {
  const sets = [
    { id: FS.id, name: 'prio1' },
    { id: '775294a1-46cf-408f-8641-3e1ce72bd620', name: 'Collections' },
  ] as FeatureSet[];
  it('finds by id (any case) or name; an unknown id is a usage error', () => {
    expect(findFeatureSet(FS.id.toUpperCase(), sets)).toEqual(FS);
    expect(findFeatureSet('collections', sets).id).toBe('775294a1-46cf-408f-8641-3e1ce72bd620');
    expect(() => findFeatureSet('00000000-0000-4000-8000-000000000000', sets)).toThrow(UsageError);
    expect(() => findFeatureSet('  ', sets)).toThrow(/empty/);
  });
});

function change(action: 'publish' | 'delist', numbers: string[], response: Record<string, unknown>, wait?: ChangeResult['wait']): ChangeResult {
  const plan = planChange(action, FS, numbers);
  return { plan, responses: [response], merged: response, outcome: assessOutcome(action, response), wait };
}

describe('syncError', () => {
  const plan = planSync(FS, ['1'], 0, state({}), { delist: true });

  it('nothing when every change went through and nothing is elsewhere', () => {
    expect(syncError(plan, [change('publish', ['1'], { status: 'pending', new_numbers: ['1'] })])).toBeUndefined();
  });

  it('exit 6 for numbers elsewhere, and for failure buckets, naming both', () => {
    const withElsewhere = planSync(FS, ['1', '9'], 0, state({}, ['9']), { delist: true });
    const error = syncError(withElsewhere, [change('publish', ['1'], { status: 'pending', others_numbers: ['1'] })]);
    expect(error).toBeInstanceOf(PartialFailureError);
    expect(error!.message).toContain('1 desired number is listed in another feature set');
    expect(error!.message).toContain('1 of 1 numbers not published (1 others_numbers)');
    expect(error!.details).toEqual({ elsewhere: 1, publish_failed: { others_numbers: 1 } });
  });

  it('exit 7 wins when --wait gave up', () => {
    const wait = { target: 'listed' as const, settled: [], failed: [], pending: [{ phone_number: '1', status: 'pending' }], timedOut: true, polls: 3, elapsed_ms: 1500 };
    const error = syncError(plan, [change('publish', ['1'], { status: 'pending', new_numbers: ['1'], invalid_numbers: ['2'] }, wait)]);
    expect(error).toBeInstanceOf(WaitTimeoutError);
    expect(error!.message).toBe('1 number not yet listed after 2s; the changes may still finish');
  });
});
