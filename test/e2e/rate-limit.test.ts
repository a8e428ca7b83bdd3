import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, tempDir, type Harness } from '../helpers/cli.js';

const LABEL = '255297eb-7f13-44f9-967a-f287ff0f5025';
const HEADER = 'caller_number,receiver_number,starts_at,ends_at,label_id,dynamic_label_name,dynamic_call_reason';

let h: Harness;
let work: { dir: string; cleanup: () => void };

beforeAll(async () => {
  // The sandbox itself never limits here: the only 429 is the injected one.
  h = await startHarness({ rateLimits: { 'cp-batch-v2': { limit: 100_000, windowMs: 60_000 } } });
  work = tempDir('tcb-rate-');
});
afterAll(async () => {
  await h.close();
  work.cleanup();
});

describe('Retry-After during an upload', () => {
  it('no batch POST leaves before the time a 429 asked for, including those already waiting for a slot', async () => {
    const now = Date.now();
    const lines = Array.from(
      { length: 5 },
      (_, i) => `91800${String(i).padStart(7, '0')},9190${String(i).padStart(6, '0')}55,${now},${now + 3_600_000},${LABEL},Acme Bank,Your parcel ${i} is on its way`,
    );
    const file = path.join(work.dir, 'calls.csv');
    writeFileSync(file, [HEADER, ...lines].join('\n') + '\n');
    // At 120/min a slot comes every 500 ms, and at least three batches are in flight, so when the
    // second POST is answered 429 + Retry-After: 1, the third is already asleep until its slot,
    // 500 ms later: before the second that Retry-After asks for.
    h.sandbox.inject({ endpoint: 'cp-batch-v2', status: 429, retryAfterSeconds: 1, after: 1 });
    const from = h.sandbox.requests().length;

    const result = await h.run(['call-reason', 'upload', file, '--batch-size', '1', '--rate-limit', '120/min', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).records_accepted).toBe(5);

    const posts = h.sandbox.requests().slice(from).filter((r) => r.endpoint === 'cp-batch-v2');
    const limited = posts.filter((r) => r.status === 429);
    expect(limited).toHaveLength(1);
    expect(limited[0]!.retryAfter).toBe('1');
    const pauseEnds = limited[0]!.answeredAt + 1000;
    // Five accepted batches, one of them sent again after the 429.
    expect(posts).toHaveLength(6);
    const afterThe429 = posts.filter((r) => r.receivedAt > limited[0]!.answeredAt);
    expect(afterThe429.length).toBeGreaterThanOrEqual(1);
    for (const post of afterThe429) expect(post.receivedAt).toBeGreaterThanOrEqual(pauseEnds);
  });
});
