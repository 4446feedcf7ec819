import { defineConfig } from 'vitest/config';

// Two projects: `unit` is the fast loop (in-process, fakes and local sockets, seconds);
// `e2e` starts real processes (the broker, the CLI, PostgreSQL) and takes longer.
export default defineConfig({
  test: {
    // Three workers on the 2-core machine: while one file waits on a timer or a socket (tunnel
    // cuts, a long poll) another uses the core (unit loop 15 s with two, 13 s with three, 14 s with four).
    maxWorkers: 3,
    // Keeps the TypeScript transforms on disk (node_modules/.experimental-vitest-cache, keyed by
    // file content) instead of redoing them each run: about 2 s of the unit loop's 17.
    experimental: { fsModuleCache: true },
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
          // A unit test that starts a process fails, saying it belongs in test/e2e/.
          setupFiles: ['test/helpers/no-processes.ts'],
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
