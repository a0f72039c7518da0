import { defineConfig } from 'vitest/config';

/**
 * Shared test configuration: tests sit beside the code as `src/*.test.ts`. Under CI a JSON report is
 * written too, so that `.ci/run` can print one total for the whole repository.
 */
export const base = defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default', 'json'] : ['default'],
    outputFile: { json: '.vitest-report.json' },
  },
});

export default base;
