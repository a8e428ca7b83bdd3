import { watch } from 'node:fs';

/**
 * Resolves with the first value `check` returns (not undefined), calling it now and on every change
 * in `dir` (no polling). Rejects after `timeoutMs`, so a test fails instead of hanging.
 */
export function whenInDirectory<T>(dir: string, check: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    const watcher = watch(dir, () => attempt());
    const timer = setTimeout(() => finish(() => reject(new Error(`nothing expected happened in ${dir} within ${timeoutMs} ms`))), timeoutMs);
    function finish(settle: () => void): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      watcher.close();
      settle();
    }
    function attempt(): void {
      if (done) return;
      const value = check();
      if (value !== undefined) finish(() => resolve(value));
    }
    attempt();
  });
}
