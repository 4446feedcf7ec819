// Allowed forward-auth decisions, kept a few seconds so a page with forty assets costs one token
// check and one grant lookup, not forty. Keyed by a hash of the bearer token and the resource (the
// token itself is never kept). An entry never outlives its grant or its token, and the moment a
// grant is revoked or expires every entry under it is dropped (ForwardAuthEndpoint.onRequestChange).
// Refusals are not cached: a person whose request was just approved gets in on their next click.

import { createHash } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { Allowed } from './decide.js';

/** How long an allowed decision is reused at most: short enough that a directory change is seen within seconds. */
export const FORWARD_AUTH_CACHE_MS = 3_000;
/** Entries held at most; beyond it the oldest go first (a flood of distinct tokens cannot grow memory). */
export const MAX_CACHED_DECISIONS = 10_000;

export interface CachedDecision {
  principal: Principal;
  allowed: Allowed;
  headers: Record<string, string>;
  until: number;
}

export function decisionKey(token: string, resource: string): string {
  return `${createHash('sha256').update(token).digest('hex')} ${resource}`;
}

export class DecisionCache {
  readonly #entries = new Map<string, CachedDecision>();
  readonly #byGrant = new Map<string, Set<string>>();
  readonly #ttlMs: number;

  constructor(ttlMs: number = FORWARD_AUTH_CACHE_MS) {
    this.#ttlMs = ttlMs;
  }

  get size(): number {
    return this.#entries.size;
  }

  get(key: string, now: number): CachedDecision | null {
    const entry = this.#entries.get(key);
    if (!entry) return null;
    if (now < entry.until) return entry;
    this.#delete(key);
    return null;
  }

  /** Keeps an allowed decision until the earliest of: the cache's TTL, the grant's end, the token's expiry. */
  set(key: string, decision: Omit<CachedDecision, 'until'>, now: number): void {
    const until = Math.min(now + this.#ttlMs, decision.allowed.validUntil, decision.principal.expiresAt.getTime());
    if (until <= now) return;
    this.#delete(key);
    while (this.#entries.size >= MAX_CACHED_DECISIONS) {
      const oldest = this.#entries.keys().next().value;
      if (oldest === undefined) break;
      this.#delete(oldest);
    }
    this.#entries.set(key, { ...decision, until });
    const grantId = decision.allowed.grant?.id;
    if (grantId === undefined) return;
    const keys = this.#byGrant.get(grantId) ?? new Set<string>();
    keys.add(key);
    this.#byGrant.set(grantId, keys);
  }

  /** Forgets every decision made under the grant (revoked, expired). */
  dropGrant(grantId: string): void {
    for (const key of this.#byGrant.get(grantId) ?? []) this.#entries.delete(key);
    this.#byGrant.delete(grantId);
  }

  #delete(key: string): void {
    const entry = this.#entries.get(key);
    if (!entry) return;
    this.#entries.delete(key);
    const grantId = entry.allowed.grant?.id;
    if (grantId === undefined) return;
    const keys = this.#byGrant.get(grantId);
    keys?.delete(key);
    if (keys?.size === 0) this.#byGrant.delete(grantId);
  }
}
