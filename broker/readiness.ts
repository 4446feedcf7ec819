// Whether the broker can serve: each part it needs (the store, the tenant's signing keys, Microsoft
// Graph) is asked now, in parallel, each within a bounded time. `GET /readyz` answers with the
// result; a load balancer or service manager routes traffic only to a broker that is ready.

import type { SqlDatabase } from './store/sql-database.js';

/** How long one check may take before it counts as not answering: a probe must answer promptly. */
export const READINESS_CHECK_TIMEOUT_MS = 5_000;

/**
 * How long the answer of a check that goes over the network (signing keys, Graph) is reused: a
 * probe every second must not become a Graph call every second, and an outage still shows within
 * a few seconds. The store is asked every time (storeCheck).
 */
export const READINESS_CACHE_MS = 5_000;

export interface ReadinessCheck {
  /** What is checked, as `/readyz` names it ("store", "signing keys", "graph"). */
  name: string;
  /** Resolves when the part answers; rejects with why it does not. */
  check(): Promise<void>;
}

export interface Readiness {
  ready: boolean;
  /** Each check's name → "ok", or why it failed. */
  checks: Record<string, string>;
}

export async function checkReadiness(checks: readonly ReadinessCheck[], timeoutMs = READINESS_CHECK_TIMEOUT_MS): Promise<Readiness> {
  const results = await Promise.all(checks.map(async ({ name, check }) => [name, await outcomeOf(check, timeoutMs)] as const));
  return { ready: results.every(([, result]) => result === 'ok'), checks: Object.fromEntries(results) };
}

async function outcomeOf(check: () => Promise<void>, timeoutMs: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${timeoutMs} ms`), timeoutMs);
  });
  try {
    return await Promise.race([
      check().then(
        () => 'ok',
        (error: unknown) => (error instanceof Error ? error.message : String(error)),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Whether the store answers a query. SQLite is local and cheap; PostgreSQL answers or fails within
 * its timeout (store/postgres/postgres-database.ts), so a probe cannot hang the broker on a dead server.
 */
export function storeCheck(db: SqlDatabase): ReadinessCheck {
  return {
    name: 'store',
    check: async () => {
      db.prepare('SELECT 1').get();
    },
  };
}

/**
 * `check` answered at most once per `ttlMs`: its outcome (success or failure) is reused until then,
 * and probes that arrive while it runs share that one call.
 */
export function cachedCheck(check: ReadinessCheck, ttlMs = READINESS_CACHE_MS, now: () => number = Date.now): ReadinessCheck {
  let last: { at: number; outcome: Promise<void> } | null = null;
  return {
    name: check.name,
    check: () => {
      const at = now();
      if (last && at - last.at < ttlMs) return last.outcome;
      const outcome = check.check();
      // Marked handled here: a failure is reported to every caller that awaits it, never as unhandled.
      outcome.catch(() => undefined);
      last = { at, outcome };
      return outcome;
    },
  };
}

/** The failing checks as one line for a 503's message, e.g. `graph (cannot get a token …)`. */
export function describeNotReady(readiness: Readiness): string {
  const failing = Object.entries(readiness.checks).filter(([, result]) => result !== 'ok');
  return `not ready: ${failing.map(([name, result]) => `${name} (${result})`).join('; ')}`;
}
