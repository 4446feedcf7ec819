import { defineConfig } from 'vitest/config';

// Two projects: `unit` is the fast loop (in-process, fakes and local sockets, seconds);
// `e2e` starts real processes (the broker, the CLI, PostgreSQL) and takes longer.
export default defineConfig({
  test: {
    // Vitest's default is one worker on a 2-core machine; two halve the unit loop (80 s → 40 s).
    maxWorkers: 2,
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/e2e/**', 'node_modules/**', 'dist/**'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
