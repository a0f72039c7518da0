import { defineConfig } from 'vitest/config';

/** Shared test configuration: tests sit beside the code as `src/*.test.ts`. */
export const base = defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: process.env.CI ? ['default'] : ['default'],
  },
});

export default base;
