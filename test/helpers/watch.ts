import { watch, type FSWatcher } from 'node:fs';

/**
 * Calls `onChange` whenever something in `dir` changes, until the returned function is called.
 * inotify watches can run out on a busy machine: then it falls back to looking every 25 ms
 * (the outcome never depends on how soon the change is seen, only the wait does).
 */
export function onDirectoryChange(dir: string, onChange: () => void): () => void {
  let watcher: FSWatcher | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    watcher = watch(dir, onChange);
    watcher.on('error', () => {
      watcher?.close();
      timer ??= setInterval(onChange, 25);
    });
  } catch {
    timer = setInterval(onChange, 25);
  }
  return () => {
    watcher?.close();
    if (timer) clearInterval(timer);
  };
}

/**
 * Resolves with the first value `check` returns (not undefined), calling it now and on every change
 * in `dir`. Rejects after `timeoutMs`, so a test fails instead of hanging.
 */
export function whenInDirectory<T>(dir: string, check: () => T | undefined, timeoutMs = 30_000): Promise<T> {
  return new Promise((resolve, reject) => {
    let done = false;
    const stop = onDirectoryChange(dir, () => attempt());
    const timer = setTimeout(() => finish(() => reject(new Error(`nothing expected happened in ${dir} within ${timeoutMs} ms`))), timeoutMs);
    function finish(settle: () => void): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stop();
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
