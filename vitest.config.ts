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
          // Each worker process imports the shared modules (MSAL, the Graph client, zod, jose, ws)
          // once for all its files instead of once per file: that import was half the loop's time.
          // Safe because unit tests keep no state in modules: each builds its own brokers, stores
          // and tenants, and restores real timers after fake ones. Processes, not threads, so a
          // test that sets process.env.TZ changes the zone as it would in a CLI run.
          pool: 'forks',
          isolate: false,
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
