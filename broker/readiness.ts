// Whether the broker can serve: each part it needs (the store, the tenant's signing keys, Microsoft
// Graph) is asked now, in parallel, each within a bounded time. `GET /readyz` answers with the
// result; a load balancer or service manager routes traffic only to a broker that is ready.

/** How long one check may take before it counts as not answering: a probe must answer promptly. */
export const READINESS_CHECK_TIMEOUT_MS = 5_000;

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

/** The failing checks as one line for a 503's message, e.g. `graph (cannot get a token …)`. */
export function describeNotReady(readiness: Readiness): string {
  const failing = Object.entries(readiness.checks).filter(([, result]) => result !== 'ok');
  return `not ready: ${failing.map(([name, result]) => `${name} (${result})`).join('; ')}`;
}
