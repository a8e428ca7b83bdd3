// Exit 1 is kept for bugs: a command that throws something that is not a tcb error must not end
// with 0 (a cron job would report success) nor with one of the documented failure codes.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, errorEnvelope, runTcb } from '../helpers/cli.js';

/**
 * Preloaded into the built tcb: `labels list` becomes a command that reads a property of undefined,
 * `feature-sets list` one that waits for ever on a stream that already failed.
 */
const PLANT_BUG = `--require=${path.join(ROOT, 'test', 'fixtures', 'unexpected-error', 'register.cjs')}`;

describe('an unexpected error (a bug)', () => {
  it('exits 1 with the internal_error envelope; the stack only with --verbose', async () => {
    const result = await runTcb(['labels', 'list'], { env: { NODE_OPTIONS: PLANT_BUG } });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(errorEnvelope(result.stderr)).toEqual({
      code: 'internal_error',
      message: "unexpected error, this is a bug in tcb: Cannot read properties of undefined (reading 'items')",
      http_status: null,
      slug: null,
      hint: 'please report it; run again with --verbose to see the stack trace',
      exit_code: 1,
    });
    expect(result.stderr).not.toContain('    at ');

    const verbose = await runTcb(['labels', 'list', '--verbose'], { env: { NODE_OPTIONS: PLANT_BUG } });
    expect(verbose.code).toBe(1);
    expect(errorEnvelope(verbose.stderr).hint).toBe('please report it with the stack trace below');
    expect(verbose.stderr).toMatch(/\nTypeError: Cannot read properties of undefined \(reading 'items'\)\n\s+at \S*list \(.*buggy-command\.cjs:6:\d+\)/);
    // tcb's own frames name its sources (the bundle's source maps), not positions in dist/.
    expect(verbose.stderr).toMatch(/\n\s+at .*\(.*\/src\/cli\.ts:\d+:\d+\)/);
    expect(verbose.stderr).not.toMatch(/dist\/main\.cjs/);
  });

  it('a command left waiting for something that can never happen exits 1, not 0', async () => {
    const result = await runTcb(['feature-sets', 'list'], { env: { NODE_OPTIONS: PLANT_BUG } });
    expect(result.code).toBe(1);
    expect(errorEnvelope(result.stderr)).toMatchObject({
      code: 'internal_error',
      message: 'unexpected error, this is a bug in tcb: the command stopped before it finished: it was waiting for something that can no longer happen',
      exit_code: 1,
    });
  });
});
