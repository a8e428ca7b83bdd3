// Behaviour whose logic has unit tests, checked here through the built CLI so that unplugging it
// from its command fails a test: the --since-last run lock, and numbers --wait ending with a
// failed number. (The limiter's slow-down on 429 is in upload-guarantees.test.ts.)
// The sandbox holds requests and finishes changes when the test says so; nothing waits on time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorEnvelope, startHarness, tempDir, type Harness } from '../helpers/cli.js';
import { finishNumberChanges, numbersSandbox } from '../../src/sandbox/routes/numbers.js';
import { SANDBOX_SURVEYS } from '../../src/sandbox/routes/logs.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('--since-last run lock', () => {
  it('a second run of the same export while the first is under way exits 5 and sends nothing; other exports are not blocked', async () => {
    const { dir, cleanup } = tempDir();
    const env = { TCB_CONFIG_DIR: dir };
    try {
      const hold = h.sandbox.hold({ endpoint: 'cmb-logs-v1' });
      const first = h.run(['cmb', 'export', '--since-last', '--from', '-7d', '--json'], { env });
      await hold.whenArrived(1);

      const second = await h.run(['cmb', 'export', '--since-last', '--json'], { env });
      expect(second.code).toBe(5);
      expect(second.stdout).toBe('');
      const envelope = errorEnvelope(second.stderr);
      expect(envelope.code).toBe('export_in_progress');
      expect(envelope.message).toBe('another --since-last export of Call Me Back requests (profile default) is running');
      expect(h.sandbox.counters().requests['cmb-logs-v1']).toBe(1);

      // The lock is per export: feedback of a survey runs meanwhile.
      const feedback = await h.run(['feedback', 'export', '--survey-id', SANDBOX_SURVEYS[0]!.id, '--since-last', '--from', '-7d', '--json'], { env });
      expect(feedback.code, feedback.stderr).toBe(0);

      hold.release();
      const done = await first;
      expect(done.code, done.stderr).toBe(0);
      expect(JSON.parse(done.stdout).length).toBeGreaterThan(0);

      // Released: the next run goes ahead (and finds nothing new).
      const third = await h.run(['cmb', 'export', '--since-last', '--json'], { env });
      expect(third.code, third.stderr).toBe(0);
      expect(JSON.parse(third.stdout)).toEqual([]);
    } finally {
      cleanup();
    }
  });
});

describe('numbers --wait', () => {
  const PRIO1 = '069d2e3a-41e6-41f9-a768-157d7e3bd6b9';

  it('a number that ends in a failed state while waiting → exit 6, naming it; the others are listed', async () => {
    // The changes finish when the test says so, after the CLI has polled them pending.
    numbersSandbox(h.sandbox.state).config.processingMs = 600_000;
    const numbers = ['919712340001', '919712340002'];
    const polled = h.sandbox.counters().requests['numbers-details'] ?? 0;
    const running = h.run(['numbers', 'publish', '--feature-set', PRIO1, '--wait', '--interval', '1s', '--json', ...numbers]);
    await h.sandbox.whenRequests('numbers-details', polled + 2);
    expect(finishNumberChanges(h.sandbox.state, Date.now(), [numbers[1]!])).toBe(2);
    const result = await running;

    expect(result.code).toBe(6);
    const envelope = errorEnvelope(result.stderr);
    expect(envelope.code).toBe('partial_failure');
    expect(envelope.message).toBe('1 of 2 numbers were not published (1 ended in a failed state); the result is on stdout');
    const body = JSON.parse(result.stdout);
    expect(body.new_numbers).toEqual(numbers);
    expect(body.wait).toMatchObject({
      target_status: 'listed',
      timed_out: false,
      settled: [numbers[0]],
      failed: [{ phone_number: numbers[1], status: 'failed' }],
      pending: [],
    });
  });
});
