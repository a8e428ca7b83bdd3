// An interrupted `tcb numbers publish --wait` still says what the API accepted (cron logs keep it).
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { numbersSandbox } from '../../src/sandbox/routes/numbers.js';
import { BIN, ROOT, baseEnv, errorEnvelope, startHarness, type Harness } from '../helpers/cli.js';

const SUPPORT = '31b403a8-4d69-417c-ba06-31d25a2cd425';

let h: Harness;
let serial = 0;

beforeAll(async () => {
  h = await startHarness();
  // The numbers stay pending: --wait would wait until --wait-timeout.
  numbersSandbox(h.sandbox.state).config.processingMs = 3_600_000;
});
afterAll(async () => {
  await h.close();
});

describe('numbers publish --wait, interrupted', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`${signal} while waiting prints the API's answer and the interruption, exit 130`, async () => {
      const numbers = [`9196${String(serial++).padStart(8, '0')}`, `9196${String(serial++).padStart(8, '0')}`];
      const child = spawn(
        process.execPath,
        [BIN, 'numbers', 'publish', '--feature-set', SUPPORT, ...numbers, '--wait', '--interval', '1s', '--json', '--verbose'],
        { cwd: ROOT, env: baseEnv(h.env), stdio: ['ignore', 'pipe', 'pipe'] },
      );
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c) => (stdout += c));
      // The --verbose HTTP log says when the first poll has been answered: the change was accepted.
      const polled = new Promise<void>((resolve) => {
        child.stderr.setEncoding('utf8').on('data', (c) => {
          stderr += c;
          if (/← 200 GET \/clients\/[^ ]+\/number_management\/numbers/.test(stderr)) resolve();
        });
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      await polled;
      child.kill(signal);
      expect(await exited).toBe(130);

      const result = JSON.parse(stdout);
      expect(result.new_numbers).toEqual(numbers);
      expect(result.wait).toMatchObject({ interrupted: true, timed_out: false, settled: [] });
      expect(result.wait.pending.map((p: { phone_number: string }) => p.phone_number)).toEqual(numbers);
      const envelope = errorEnvelope(stderr);
      expect(envelope.code).toBe('interrupted');
      expect(envelope.message).toMatch(/interrupted while waiting: the API accepted 2 numbers/);
    });
  }
});
