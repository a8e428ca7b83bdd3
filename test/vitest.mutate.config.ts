// The tests that mutation testing runs (npm run mutate): those that load the product code in the
// test process. End-to-end tests run the built bin/tcb.js, which Stryker does not mutate.
import { defineConfig, mergeConfig } from 'vitest/config';
import base from './vitest.config.js';

export default mergeConfig(
  base,
  defineConfig({
    test: {
      include: ['test/unit/**/*.test.ts'],
    },
  }),
  true,
);
