// Per-caller rate limits and per-caller counts, so one person (or one address) cannot take what
// everyone shares: the request table, the approvers' queue, the audit log, event streams, tunnel
// slots, token verification. A refusal is a 429 with a stable code and a `Retry-After` header.
//
// The limits themselves are named in shared/limits.ts (with their reasons) and listed in README.md.

import { AccessError, type ErrorCode } from '../../shared/errors.js';
import type { RateBucketStore } from '../store/rate-buckets.js';
import { setBounded } from '../../shared/bounded-map.js';

/** A refusal that says when to try again: sent with `Retry-After` (whole seconds, at least 1). */
export class RetryLaterError extends AccessError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(code, message);
  }
}

/** The `Retry-After` header an error carries, if it is one that says when. */
export function retryAfterHeader(error: AccessError): Record<string, string> {
  return error instanceof RetryLaterError ? { 'retry-after': String(error.retryAfterSeconds) } : {};
}

export interface RateLimit {
  /** Calls allowed at once after a quiet period (the bucket's size). */
  burst: number;
  /** Calls allowed per minute, sustained (the bucket refills at this rate). */
  perMinute: number;
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A rate limit per key, wherever its buckets live. */
export interface CallLimiter {
  readonly limit: RateLimit;
  /** Counts one call by `key`; returns the wait in ms when it is over the limit (the call is not counted then), else 0. */
  take(key: string): number;
}

/** `bucket` (a fresh, full one when null) as it stands at `now`. */
function refill(bucket: Bucket | null, limit: RateLimit, now: number): Bucket {
  if (!bucket) return { tokens: limit.burst, at: now };
  // max(): a clock stepped back (or another broker's a little ahead) neither drains nor overfills.
  const tokens = Math.min(limit.burst, bucket.tokens + (Math.max(0, now - bucket.at) * limit.perMinute) / 60_000);
  return { tokens, at: now };
}

/** Milliseconds until a refilled `bucket` holds one token; 0 when it does. */
function waitFor(bucket: Bucket, limit: RateLimit): number {
  return bucket.tokens >= 1 ? 0 : Math.ceil(((1 - bucket.tokens) * 60_000) / limit.perMinute);
}

/**
 * Keys remembered at once. A key whose bucket is full again is forgotten first; beyond this the
 * oldest is dropped, so a flood of distinct addresses costs bounded memory (and at worst gives a
 * forgotten key a fresh bucket).
 */
export const MAX_TRACKED_KEYS = 10_000;

/** A token bucket per key (a user's object id, a source address), in this process's memory. */
export class RateLimiter implements CallLimiter {
  readonly #limit: RateLimit;
  readonly #now: () => number;
  readonly #buckets = new Map<string, Bucket>();

  constructor(limit: RateLimit, now: () => number) {
    this.#limit = limit;
    this.#now = now;
  }

  get limit(): RateLimit {
    return this.#limit;
  }

  /** Milliseconds until `key` may make one more call; 0 when it may now. Takes nothing. */
  waitMs(key: string): number {
    return waitFor(this.#refilled(key), this.#limit);
  }

  /** Counts one call by `key`; returns the wait in ms when it is over the limit (the call is not counted then), else 0. */
  take(key: string): number {
    const wait = this.waitMs(key);
    if (wait > 0) return wait;
    const bucket = this.#refilled(key);
    bucket.tokens -= 1;
    this.#remember(key, bucket);
    return 0;
  }

  #refilled(key: string): Bucket {
    return refill(this.#buckets.get(key) ?? null, this.#limit, this.#now());
  }

  #remember(key: string, bucket: Bucket): void {
    // The least recently used key goes first.
    setBounded(this.#buckets, key, bucket, MAX_TRACKED_KEYS);
  }
}

/**
 * A token bucket per key kept in the database: one limit for a caller whichever broker their calls
 * reach (several brokers on PostgreSQL), where RateLimiter would give them one bucket per broker.
 */
export class SharedRateLimiter implements CallLimiter {
  readonly limit: RateLimit;
  readonly #store: RateBucketStore;
  readonly #scope: string;
  readonly #now: () => number;

  /** `scope` names what is limited, so limits sharing the table keep separate buckets. */
  constructor(store: RateBucketStore, scope: string, limit: RateLimit, now: () => number) {
    this.#store = store;
    this.#scope = scope;
    this.limit = limit;
    this.#now = now;
  }

  take(key: string): number {
    return this.#store.update(this.#scope, key, (stored) => {
      const bucket = refill(stored, this.limit, this.#now());
      const wait = waitFor(bucket, this.limit);
      return wait > 0 ? { bucket: null, result: wait } : { bucket: { tokens: bucket.tokens - 1, at: bucket.at }, result: 0 };
    });
  }
}

/** Whole seconds to send in Retry-After for a wait in ms (at least 1). */
export function retryAfterSeconds(waitMs: number): number {
  return Math.max(1, Math.ceil(waitMs / 1000));
}

/** How many things each key holds open right now (event streams, tunnels), against a cap. */
export class OpenCounter {
  readonly #open = new Map<string, number>();

  count(key: string): number {
    return this.#open.get(key) ?? 0;
  }

  /** Counts one more for `key`; returns the function that counts it closed (idempotent). */
  open(key: string): () => void {
    this.#open.set(key, this.count(key) + 1);
    let closed = false;
    return () => {
      if (closed) return;
      closed = true;
      const left = this.count(key) - 1;
      if (left > 0) this.#open.set(key, left);
      else this.#open.delete(key);
    };
  }
}
