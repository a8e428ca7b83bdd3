import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cmbLogEvents, type CmbLogEvent } from '../../src/sandbox/routes/logs.js';
import { startHarness, tempDir, type Harness } from '../helpers/cli.js';

let h: Harness;
let events: CmbLogEvent[];

beforeAll(async () => {
  h = await startHarness();
  events = cmbLogEvents(h.sandbox.state);
});
afterAll(async () => {
  await h.close();
});

/** A record as the log API stores it: whole seconds, like every time in the files. */
function record(id: string, at: number): CmbLogEvent {
  return { ...events[0]!, id, requestedAt: Math.floor(at / 1000) * 1000 };
}

describe('--since-last with records that show up late', () => {
  it('exports records stamped in, or shortly before, the previous run\'s last second exactly once', async () => {
    const { dir, cleanup } = tempDir();
    const env = { TCB_CONFIG_DIR: dir };
    const run = async (args: string[] = []) => {
      const result = await h.run(['cmb', 'export', '--since-last', '--json', ...args], { env });
      expect(result.code, result.stderr).toBe(0);
      return (JSON.parse(result.stdout) as { request_id: string }[]).map((r) => r.request_id);
    };
    const cursor = () =>
      (Object.values(JSON.parse(readFileSync(path.join(dir, 'export-state.json'), 'utf8')).exports)[0] as { cursor: { to: number } }).cursor.to;
    const added: CmbLogEvent[] = [];
    const add = (event: CmbLogEvent) => {
      added.push(event);
      events.push(event);
    };
    try {
      // Visible before the first run, and inside the next run's overlap: exported once, by run 1.
      add(record('seen-by-run-1', Date.now() - 60_000));
      const first = await run(['--from', '-1h']);
      expect(first).toContain('seen-by-run-1');
      // In milliseconds, while the records carry whole seconds.
      const end = cursor();

      // Stamped at and before the end of run 1, but visible only now.
      add(record('late-same-second', end));
      add(record('late-30s', end - 30_000));
      add(record('late-3m', end - 3 * 60_000));
      const second = await run();
      expect(second.sort()).toEqual(['late-30s', 'late-3m', 'late-same-second']);

      // Nothing again, however often it runs.
      expect(await run()).toEqual([]);
      // Later than the overlap: out of reach of the default 5 minutes; a wider --overlap catches it,
      // at first as far back as the previous run remembered (15 minutes), then in full.
      add(record('late-12m', cursor() - 12 * 60_000));
      expect(await run()).toEqual([]);
      expect(await run(['--overlap', '30m'])).toEqual(['late-12m']);
      add(record('late-20m', cursor() - 20 * 60_000));
      expect(await run(['--overlap', '30m'])).toEqual(['late-20m']);
      expect(await run(['--overlap', '30m'])).toEqual([]);
    } finally {
      for (const event of added) events.splice(events.indexOf(event), 1);
      cleanup();
    }
  });

  it('--overlap needs --since-last, and takes a duration', async () => {
    const without = await h.run(['cmb', 'export', '--from', '-1h', '--overlap', '5m']);
    expect(without.code).toBe(2);
    expect(without.stderr).toContain('--overlap is used only with --since-last');
    const bad = await h.run(['cmb', 'export', '--from', '-1h', '--since-last', '--overlap', 'a while']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--overlap');
  });
});
