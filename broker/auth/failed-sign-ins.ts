// Failed token checks, counted per source address: past AUTH_FAILURE_LIMIT a failing token from
// that address is answered 429 `too_many_failed_sign_ins` (with Retry-After) instead of 401, and
// no longer counted or logged as a sign-in problem. A token that verifies still passes, so one
// caller's failures do not lock out the people who share their address (a NAT, a proxy).

import type { IncomingMessage } from 'node:http';
import { AccessError } from '../../shared/errors.js';
import { AUTH_FAILURE_LIMIT } from '../../shared/limits.js';
import { RateLimiter, RetryLaterError, retryAfterSeconds } from '../http/rate-limit.js';

/** The address failures are counted for; unknown (a socket already gone) counts as one address. */
function addressOf(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}

export class FailedSignIns {
  readonly #limiter: RateLimiter;

  constructor(now: () => number = Date.now, limit = AUTH_FAILURE_LIMIT) {
    this.#limiter = new RateLimiter(limit, now);
  }

  /** Refuses (429) a failed check when the request's address has failed too often lately. */
  check(req: IncomingMessage): void {
    const wait = this.#limiter.waitMs(addressOf(req));
    if (wait === 0) return;
    const seconds = retryAfterSeconds(wait);
    throw new RetryLaterError(
      'too_many_failed_sign_ins',
      `too many failed token checks from ${addressOf(req)} (more than ${this.#limiter.limit.burst}, then ${this.#limiter.limit.perMinute} a minute) — wait ${seconds} s, then run \`access login\``,
      seconds,
    );
  }

  /** Counts a failed check when `error` is a token refusal (401). */
  failed(req: IncomingMessage, error: unknown): void {
    if (error instanceof AccessError && error.status === 401) this.#limiter.take(addressOf(req));
  }
}
