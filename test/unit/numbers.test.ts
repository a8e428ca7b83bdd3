import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { FeatureSet } from '../../src/api/feature-sets.js';
import type { NumbersChangeResponse } from '../../src/api/numbers.js';
import type { CommandContext } from '../../src/context.js';
import { ApiError, UsageError } from '../../src/errors.js';
import {
  collectNumbers,
  gatherEntries,
  normaliseEntries,
  parseNumberText,
} from '../../src/services/numbers/input.js';
import {
  assessOutcome,
  chunk,
  dryRunRequests,
  judge,
  matchFeatureSet,
  mergeResponses,
  planChange,
  sendChange,
  waitForSettle,
} from '../../src/services/numbers/numbers.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/numbers/', import.meta.url));
const fixture = (name: string): string => path.join(FIXTURES, name);
const example = (name: string): NumbersChangeResponse =>
  JSON.parse(readFileSync(new URL(`../fixtures/api/${name}`, import.meta.url), 'utf8'));

async function usageError(promise: Promise<unknown>): Promise<UsageError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(UsageError);
    return error as UsageError;
  }
  throw new Error('expected a UsageError');
}

describe('reading numbers', () => {
  it('reads one number a line, skipping blank lines and comments, with file:line sources', () => {
    const entries = parseNumberText('# header comment\r\n+91 98100 01000\r\n\r\n919810001037\n', 'list.txt');
    expect(entries).toEqual([
      { input: '+91 98100 01000', source: 'list.txt:2' },
      { input: '919810001037', source: 'list.txt:4' },
    ]);
  });

  it('reads the phone_number column of a CSV with a BOM, CRLF, quoted commas and blank lines', async () => {
    const entries = await gatherEntries({ args: [], file: fixture('numbers-bom-crlf.csv') });
    const source = fixture('numbers-bom-crlf.csv');
    expect(entries).toEqual([
      { input: '+91 98100 01000', source: `${source}:2` },
      { input: '91-98100-01037', source: `${source}:3` },
      { input: '919810001000', source: `${source}:5` },
    ]);
  });

  it('counts CSV lines from the top of the file when comments come before the header', () => {
    const entries = parseNumberText('# exported\nphone_number\n919810001000\n', 'x.csv');
    expect(entries).toEqual([{ input: '919810001000', source: 'x.csv:3' }]);
  });

  it('refuses a CSV without a phone_number column', () => {
    expect(() => parseNumberText('number,name\n919810001000,a\n', 'x.csv')).toThrow(/no phone_number column/);
  });

  it('normalises, removes duplicates in first-seen order and keeps invalid entries with their source', () => {
    const result = normaliseEntries([
      { input: '+91 98100-01000', source: 'argument 1' },
      { input: '919810001000', source: 'argument 2' },
      { input: '12345', source: 'f.txt:3' },
      { input: '919810001037', source: 'f.txt:4' },
    ]);
    expect(result.numbers).toEqual(['919810001000', '919810001037']);
    expect(result.duplicates).toBe(1);
    expect(result.total).toBe(4);
    expect(result.invalid).toHaveLength(1);
    expect(result.invalid[0]).toMatchObject({ input: '12345', source: 'f.txt:3' });
  });

  it('combines arguments and stdin, and reports every invalid entry with where it came from', async () => {
    const error = await usageError(
      collectNumbers({
        args: ['919810001000', 'abc'],
        file: '-',
        readStdin: async () => readFileSync(fixture('numbers-lines.txt'), 'utf8'),
      }),
    );
    expect(error.message).toContain('argument 2');
    expect(error.message).toContain('stdin:5');
    expect(error.message).toContain('stdin:6');
    expect((error.details?.invalid as unknown[]).length).toBe(3);
  });

  it('accepts a clean file and stdin, de-duplicated', async () => {
    const result = await collectNumbers({
      args: ['+919810001037'],
      file: '-',
      readStdin: async () => '919810001000\r\n919810001037\r\n',
    });
    expect(result.numbers).toEqual(['919810001037', '919810001000']);
    expect(result.duplicates).toBe(1);
  });

  it('fails on no numbers at all and on a missing file', async () => {
    await usageError(collectNumbers({ args: [] }));
    const missing = await usageError(collectNumbers({ args: [], file: fixture('does-not-exist.txt') }));
    expect(missing.message).toMatch(/no such file/);
  });
});

const SETS = [
  { id: '11111111-1111-4111-8111-111111111111', name: 'Collections', department_name: 'Retail' },
  { id: '22222222-2222-4222-8222-222222222222', name: 'Collections', department_name: 'Loans' },
  { id: '33333333-3333-4333-8333-333333333333', name: 'Support Callbacks' },
  { id: 'fs-legacy-7', name: 'prio1' },
] as FeatureSet[];

describe('feature set by id or name', () => {
  it('finds by id, by exact name, and by name ignoring case', () => {
    expect(matchFeatureSet('fs-legacy-7', SETS)).toEqual({ id: 'fs-legacy-7', name: 'prio1' });
    expect(matchFeatureSet('Support Callbacks', SETS).id).toBe('33333333-3333-4333-8333-333333333333');
    expect(matchFeatureSet('support callbacks', SETS).id).toBe('33333333-3333-4333-8333-333333333333');
  });

  it('lists the candidates when a name is ambiguous', () => {
    let error: UsageError | undefined;
    try {
      matchFeatureSet('Collections', SETS);
    } catch (caught) {
      error = caught as UsageError;
    }
    expect(error).toBeInstanceOf(UsageError);
    expect(error!.message).toContain('11111111-1111-4111-8111-111111111111');
    expect(error!.message).toContain('22222222-2222-4222-8222-222222222222');
    expect((error!.details?.candidates as unknown[]).length).toBe(2);
  });

  it('lists the feature sets when nothing matches', () => {
    expect(() => matchFeatureSet('Nope', SETS)).toThrow(/no feature set is called "Nope"[\s\S]*Support Callbacks/);
  });
});

describe('buckets and exit status', () => {
  it('reads the documented publish response as a success', () => {
    const outcome = assessOutcome('publish', example('numbers-list.response.200-pending.json'));
    expect(outcome.partial).toBe(false);
    expect(outcome.accepted).toEqual(['911234567891']);
    expect(outcome.status).toBe('pending');
  });

  it('reads the documented delist responses: pending is a success, failed (new_numbers) is partial', () => {
    const pending = assessOutcome('delist', example('numbers-delist.response.200-pending.json'));
    expect(pending.partial).toBe(false);
    expect(pending.accepted).toEqual(['911234567891']);
    const failed = assessOutcome('delist', example('numbers-delist.response.200-failed.json'));
    expect(failed.partial).toBe(true);
    expect(failed.statusFailed).toBe(true);
    expect(failed.failed.map((b) => b.bucket)).toEqual(['new_numbers']);
  });

  it('treats numbers owned elsewhere, in another feature set, of another phone type or still processing as failed', () => {
    const outcome = assessOutcome('publish', {
      status: 'pending',
      new_numbers: ['1'],
      existing_numbers: ['2'],
      invalid_numbers: ['3'],
      others_numbers: ['4'],
      other_feature_set_numbers: ['5'],
      other_phonetype_numbers: ['6'],
      processing_numbers: ['7'],
    });
    expect(outcome.accepted.sort()).toEqual(['1', '2']);
    expect(outcome.failedCount).toBe(5);
    expect(outcome.processing).toEqual(['7']);
    expect(outcome.partial).toBe(true);
  });

  it('merges responses of several requests into one object of the same shape', () => {
    const a = example('numbers-delist.response.200-pending.json');
    const b = { ...example('numbers-delist.response.200-failed.json'), new_numbers: ['919810009999'] };
    const merged = mergeResponses([a, b]);
    expect(merged.existing_numbers).toEqual(['911234567891']);
    expect(merged.new_numbers).toEqual(['919810009999']);
    expect(merged.client_account_id).toBe(a.client_account_id);
    expect(merged.status).toBe('mixed');
    expect(merged.request_count).toBe(2);
    expect(merged.statuses).toEqual(['pending', 'failed']);
    expect(assessOutcome('delist', merged).statusFailed).toBe(true);
    const same = mergeResponses([a, a]);
    expect(same.status).toBe('pending');
    expect(mergeResponses([a])).toBe(a);
  });
});

describe('planning', () => {
  it('splits more than 10 000 numbers into requests of at most 10 000', () => {
    const numbers = Array.from({ length: 20_001 }, (_, i) => String(919000000000 + i));
    const plan = planChange('publish', { id: 'fs' }, numbers);
    expect(plan.chunks.map((c) => c.length)).toEqual([10_000, 10_000, 1]);
    expect(plan.chunks.flat()).toEqual(numbers);
    expect(chunk([1, 2, 3], 2)).toEqual([[1, 2], [3]]);
  });

  it('describes the dry-run requests with the documented path and body', () => {
    const plan = planChange('delist', { id: 'fs 1' }, ['911234567891']);
    expect(dryRunRequests(plan, 'acc')).toEqual([
      {
        endpoint: 'numbers-delist',
        method: 'POST',
        path: '/clients/acc/number_management/feature_sets/fs%201/numbers/delist',
        body: example('numbers-delist.request.json'),
      },
    ]);
  });

  it('judges when a number has reached its new state', () => {
    expect(judge('publish', 'listed')).toBe('settled');
    expect(judge('publish', 'pending')).toBe('pending');
    expect(judge('publish', null)).toBe('pending');
    expect(judge('publish', 'delisted')).toBe('pending');
    expect(judge('publish', 'failed')).toBe('failed');
    expect(judge('delist', null)).toBe('settled');
    expect(judge('delist', 'delisted')).toBe('settled');
    expect(judge('delist', 'listed')).toBe('pending');
  });
});

/** A context whose API client answers from a script: enough for the service functions. */
function fakeContext(answer: (spec: { endpoint: string; json?: unknown; query?: Record<string, unknown> }) => unknown) {
  const calls: { endpoint: string; json?: unknown; query?: Record<string, unknown> }[] = [];
  const client = {
    request: async (spec: { endpoint: string; json?: unknown; query?: Record<string, unknown> }) => {
      calls.push(spec);
      return { status: 200, body: answer(spec), headers: new Headers() };
    },
  };
  const ctx = { api: () => client, credentials: () => ({ clientAccountId: 'acc', keyId: 'k', apiKey: 's' }) };
  return { ctx: ctx as unknown as CommandContext, calls };
}

describe('sending and waiting', () => {
  it('stops at the first failed request and reports what was accepted before it', async () => {
    let n = 0;
    const { ctx, calls } = fakeContext(() => {
      n += 1;
      if (n === 2) throw new ApiError('rejected');
      return { status: 'pending', new_numbers: ['x'] };
    });
    const plan = planChange('publish', { id: 'fs' }, ['1', '2', '3', '4', '5'], 2);
    const result = await sendChange(ctx, plan);
    expect(calls.map((c) => c.json)).toEqual([{ phone_numbers: ['1', '2'] }, { phone_numbers: ['3', '4'] }]);
    expect(result.responses).toHaveLength(1);
    expect(result.sent).toBe(2);
    expect(result.unsent).toBe(3);
    expect(result.error).toBeInstanceOf(ApiError);
  });

  it('a failure on the first request is thrown as it is', async () => {
    const { ctx } = fakeContext(() => {
      throw new ApiError('rejected');
    });
    await expect(sendChange(ctx, planChange('delist', { id: 'fs' }, ['1']))).rejects.toBeInstanceOf(ApiError);
  });

  it('polls numbers-details (every page, filtered by feature set) until each number is listed', async () => {
    let poll = 0;
    const { ctx, calls } = fakeContext((spec) => {
      if (spec.query?.page === 1) poll += 1;
      const status = poll >= 3 ? 'listed' : 'pending';
      const page = spec.query?.page as number;
      const numbers = page === 1 ? [{ phone_number: '1', status }] : [{ phone_number: '2', status: poll >= 2 ? 'listed' : 'pending' }];
      return { numbers, pagination_information: { total_page_count: 2 } };
    });
    let clock = 0;
    const result = await waitForSettle(ctx, 'publish', 'fs', ['1', '2'], {
      intervalMs: 1000,
      timeoutMs: 60_000,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    expect(result).toMatchObject({ timedOut: false, polls: 3, pending: [], failed: [] });
    expect(result.settled.map((e) => e.phone_number).sort()).toEqual(['1', '2']);
    expect(calls.every((c) => c.query?.feature_set_id === 'fs')).toBe(true);
  });

  it('gives up at the deadline, and reports failed states', async () => {
    const { ctx } = fakeContext(() => ({
      numbers: [
        { phone_number: '1', status: 'pending' },
        { phone_number: '2', status: 'failed' },
      ],
      pagination_information: { total_page_count: 1 },
    }));
    let clock = 0;
    const result = await waitForSettle(ctx, 'delist', 'fs', ['1', '2', '3'], {
      intervalMs: 400,
      timeoutMs: 1000,
      now: () => clock,
      sleep: async (ms) => {
        clock += ms;
      },
    });
    expect(result.timedOut).toBe(true);
    expect(result.pending).toEqual([{ phone_number: '1', status: 'pending' }]);
    expect(result.failed).toEqual([{ phone_number: '2', status: 'failed' }]);
    expect(result.settled).toEqual([{ phone_number: '3', status: null }]);
    expect(clock).toBe(1000);
    expect(result.polls).toBe(4);
  });
});
