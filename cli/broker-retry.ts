// When a call to the broker is tried again. Several brokers may sit behind one load balancer; when
// one dies, the calls it held fail before an answer (the connection is reset or refused) or the
// balancer answers for it (502, 503, 504). A new connection is likely to reach another broker, so
// such a failure is worth another attempt, but only when repeating the call cannot do it twice:
//   - a call that only reads (GET) may always be repeated;
//   - a call that acts (POST: create a request, review, cancel, revoke, extend, post-review) is
//     repeated only when it surely reached no broker that could act on it: the connection was
//     refused, or a broker answered `shutting_down` / `not_ready`, which it does before handling
//     anything (broker/lifecycle.ts). The broker does not deduplicate any of them: a second
//     request would be a second request, a second extension another extension.
// A refusal by the broker itself (4xx, a sign-in problem, any other error code) is its answer and is
// never repeated. The REST client (broker-client.ts) and tunnel opening (tunnel/tunnel-client.ts)
// make the calls; everything here but `pause` is pure.

import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorCode } from '../shared/errors.js';

/**
 * Attempts in all for a call the broker did not answer. Three: behind a round-robin balancer with
 * one broker dead, the second attempt reaches a live one; the third covers a balancer that has not
 * noticed yet and sends a connection to the dead one again.
 */
export const BROKER_CALL_ATTEMPTS = 3;
/**
 * Pause before the second attempt, doubled before each later one (200 ms, then 400 ms): long enough
 * for a balancer to mark a dead broker down, short enough that a person barely notices.
 */
export const RETRY_BACKOFF_MS = 200;

/** How one attempt failed without an answer from a broker that handled it. */
export interface CallFailure {
  /** What happened, in words for the message: "ECONNREFUSED", "HTTP 503 from the load balancer". */
  what: string;
  /** False only when the call surely reached no broker that could act on it. */
  mayHaveReachedBroker: boolean;
}

/** Connection errors that say the broker went away while the call was on its way or in its hands. */
const LOST = new Set(['ECONNRESET', 'EPIPE']);
/** Connection errors that say nothing was sent: no broker listens there (any more). */
const NOT_SENT = new Set(['ECONNREFUSED']);
/** What a load balancer answers for a broker that is down or did not answer. */
const EDGE_STATUSES = new Set([502, 503, 504]);
/** The broker's own answers given before it handles a call: another broker may serve it. */
const NOT_HANDLED: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['shutting_down', 'not_ready']);

/** A connection error (Node's `code`, e.g. "socket hang up" is ECONNRESET) as a failure worth retrying; null for any other. */
export function connectionFailure(code: string | undefined): CallFailure | null {
  if (code === undefined) return null;
  if (NOT_SENT.has(code)) return { what: code, mayHaveReachedBroker: false };
  if (LOST.has(code)) return { what: code, mayHaveReachedBroker: true };
  return null;
}

/**
 * An answer as a failure worth retrying: the broker's `shutting_down`/`not_ready`, or a 502/503/504
 * without the broker's `{code, message}` (the balancer's own page). Null for every other answer.
 */
export function answerFailure(status: number, brokerCode: ErrorCode | null): CallFailure | null {
  if (brokerCode !== null) {
    return NOT_HANDLED.has(brokerCode) ? { what: `the broker answered ${brokerCode}`, mayHaveReachedBroker: false } : null;
  }
  // A 503 from a balancer usually means it forwarded nothing, but not every edge promises that.
  return EDGE_STATUSES.has(status) ? { what: `HTTP ${status} from the load balancer`, mayHaveReachedBroker: true } : null;
}

/** Whether a call with this method may be sent twice without doing anything twice. */
export function isRepeatable(method: string): boolean {
  return method === 'GET' || method === 'HEAD';
}

/** Whether attempt number `attempt` (1-based), which failed with `failure`, is followed by another. */
export function shouldRetry(method: string, failure: CallFailure, attempt: number): boolean {
  if (attempt >= BROKER_CALL_ATTEMPTS) return false;
  return isRepeatable(method) || !failure.mayHaveReachedBroker;
}

/** The pause after failed attempt number `attempt` (1-based), before the next one. */
export function backoffMs(attempt: number): number {
  return RETRY_BACKOFF_MS * 2 ** (attempt - 1);
}

/** The failures of every attempt in one phrase: "ECONNREFUSED", "3 attempts: ECONNRESET; HTTP 503 from the load balancer; …". */
export function describeFailures(failures: readonly CallFailure[]): string {
  const words = failures.map((failure) => failure.what);
  if (words.length === 1) return words[0] ?? '';
  if (words.every((what) => what === words[0])) return `${words[0]}, ${words.length} attempts`;
  return `${words.length} attempts: ${words.join('; ')}`;
}

/** Waits between attempts; an abandoned call (Ctrl-C) stops waiting and rejects with the signal's reason, like the call itself. */
export async function pause(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await sleep(ms, undefined, signal ? { signal } : {});
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  }
}
