// Mutation testing of the core (npm run mutate): StrykerJS plants small bugs in the code below,
// one at a time, and runs the tests that cover each (per-test coverage); a bug no test notices
// "survives". Not part of CI: it takes minutes. Nothing is written into the repository: the
// sandbox copies and the reports live under the system's temporary folder.
//   npm run mutate                                   the whole scope
//   npm run mutate -- --mutate src/auth/files.ts     one file (or a glob, or file.ts:10-40)
//   npm run mutate -- --concurrency 1                on a busy machine
//   npm run mutate -- --incremental                  redo only mutants whose code or tests changed
//                                                    (quick loops; --force for a figure to report)
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// One folder per checkout, so two worktrees can run at once.
const work = path.join(tmpdir(), `tcb-mutation-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'test/vitest.mutate.config.ts', related: false },
  coverageAnalysis: 'perTest',
  // Module-level mutants need a fresh module graph and every test each (minutes apiece here):
  // left out by default; --ignoreStatic false brings them in.
  ignoreStatic: true,
  mutate: [
    'src/api/**/*.ts',
    'src/auth/**/*.ts',
    'src/output/**/*.ts',
    'src/services/call-reasons/upload/journal.ts',
    'src/services/call-reasons/upload/batching.ts',
    'src/services/exports/state.ts',
    'src/services/exports/boundary.ts',
    'src/services/webhooks/store.ts',
  ],
  ignorePatterns: ['dist', 'coverage', 'test/bench', 'test/demo', 'test/e2e', 'test/sandbox', '*.tgz'],
  concurrency: 2,
  timeoutMS: 10_000,
  tempDirName: path.join(work, 'sandbox'),
  cleanTempDir: 'always',
  incrementalFile: path.join(work, 'incremental.json'),
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: path.join(work, 'mutation.html') },
  jsonReporter: { fileName: path.join(work, 'mutation.json') },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 90, low: 80, break: null },
};
