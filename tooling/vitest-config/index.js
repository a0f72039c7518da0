import { defineConfig } from 'vitest/config';

/**
 * Shared test configuration: tests sit beside the code as `src/*.test.ts`. A JSON report is written
 * too (`.vitest-report.json`, a cached output of the test task), so that `.ci/run` can print one total
 * for the whole repository.
 */
export const base = defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: ['default', 'json'],
    outputFile: { json: '.vitest-report.json' },
  },
});

export default base;
