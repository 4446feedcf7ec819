// Waiting between retries of something that failed (a notification's delivery, a lost database
// connection): exponential, capped, and jittered so processes that failed together do not retry
// in lockstep.

/**
 * The wait before try `attempt + 1` after `attempt` failed tries: `first · 2^(attempt−1)`, capped at
 * `max`, of which a random half is taken off ("equal jitter"): brokers and notices that failed
 * together do not retry in lockstep, and the wait never drops below half the backoff.
 */
export function retryDelay(attempt: number, firstMs: number, maxMs: number, random: () => number): number {
  const backoff = Math.min(maxMs, firstMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(backoff / 2 + random() * (backoff / 2));
}
