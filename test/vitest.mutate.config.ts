// The tests that mutation testing runs (npm run mutate): those that test the mutated code in the
// test process. End-to-end tests run the built bin/tcb.js, which Stryker does not mutate. A test
// file that loads the mutated code only inside a test (through a command) would make module-level
// mutants look covered but unkillable, so only files that import it are listed: add a file here
// when it tests code in the mutation scope (test/stryker.config.mjs).
import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

export const MUTATION_TESTS = [
  'api-client',
  'api-endpoints',
  'auth',
  'batch-status',
  'csv',
  'destination',
  'error-mapping',
  'export-api',
  'export-csv-records',
  'export-pipeline',
  'http-fetch',
  'http-fetch-edges',
  'journal',
  'json-text',
  'listing',
  'numbers',
  'output',
  'output-streams',
  'profiles',
  'push',
  'rate-limiter',
  'redact',
  'retry',
  'tools-api',
  'upload',
  'upload-client-hook',
  'webhook-sender',
  'webhook-store',
];

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: MUTATION_TESTS.map((name) => `test/unit/${name}.test.ts`),
  },
});
