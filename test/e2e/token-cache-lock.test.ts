// The token cache lock, as a race the test decides: the sandbox holds every token request, and
// lets them go only when all ten processes have sent one (no lock: ten tokens) or when the nine
// others say, with --verbose, that they wait for the lock (one token). Its own sandbox, so its
// token quota is nobody else's.
import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, ROOT, baseEnv, startHarness, type Harness } from '../helpers/cli.js';

const PROCESSES = 10;
const WAITING = 'waiting for the token cache lock';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

interface Child {
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

describe('token cache', () => {
  it('ten processes starting together with a cold cache create exactly one token', async () => {
    h = await startHarness({ tokenQuota: 100 });
    const gate = h.sandbox.hold({ endpoint: 'token-create', count: PROCESSES });
    let waiting = 0;
    let allOthersWaiting!: () => void;
    const othersWaiting = new Promise<void>((resolve) => (allOthersWaiting = resolve));

    const children: Child[] = Array.from({ length: PROCESSES }, () => {
      const child = spawn(process.execPath, [BIN, 'labels', 'list', '--format', 'ndjson', '--verbose'], {
        cwd: ROOT,
        env: baseEnv(h!.env),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      let counted = false;
      child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk) => {
        stderr += chunk;
        if (!counted && stderr.includes(WAITING)) {
          counted = true;
          waiting += 1;
          if (waiting === PROCESSES - 1) allOthersWaiting();
        }
      });
      return { done: new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr }))) };
    });

    // The lock holder's request may arrive before or after the nine others report waiting.
    await Promise.race([gate.whenArrived(PROCESSES), Promise.all([othersWaiting, gate.whenArrived(1)])]);
    const arrived = gate.arrived;
    gate.release();
    const results = await Promise.all(children.map((c) => c.done));

    for (const result of results) expect(result.code, result.stderr).toBe(0);
    expect(arrived).toBe(1);
    expect(waiting).toBe(PROCESSES - 1);
    expect(h.sandbox.counters().tokensCreated).toBe(1);
    const labels = h.sandbox.state.labels.length;
    for (const result of results) expect(result.stdout.trim().split('\n')).toHaveLength(labels);
  });
});
