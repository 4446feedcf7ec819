// A short-lived cache in front of the directory. Fresh entries are served from memory; a stale
// entry is never served when the directory fails (fail closed), and concurrent lookups for the
// same user share one directory call.

import type { GroupRef } from '../../shared/wire.js';
import type { Directory } from './directory.js';

interface Entry {
  groups: GroupRef[];
  fetchedAt: number;
}

export class CachedDirectory implements Directory {
  readonly #inner: Directory;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, Promise<GroupRef[]>>();

  /** @param ttlMs how long a lookup is trusted; 0 disables caching. */
  constructor(inner: Directory, ttlMs: number, now: () => number = Date.now) {
    this.#inner = inner;
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  async memberGroups(oid: string): Promise<GroupRef[]> {
    const cached = this.#entries.get(oid);
    if (cached && this.#now() - cached.fetchedAt < this.#ttlMs) return cached.groups;
    return this.#fetch(oid);
  }

  /** Reads the directory now, whatever the cache holds (used where a decision must be current). */
  fresh(oid: string): Promise<GroupRef[]> {
    return this.#fetch(oid);
  }

  #fetch(oid: string): Promise<GroupRef[]> {
    const pending = this.#inFlight.get(oid);
    if (pending) return pending;
    const lookup = this.#inner
      .memberGroups(oid)
      .then((groups) => {
        this.#entries.set(oid, { groups, fetchedAt: this.#now() });
        return groups;
      })
      .catch((error: unknown) => {
        // A failed read invalidates what we had: the next caller must not get stale data.
        this.#entries.delete(oid);
        throw error;
      })
      .finally(() => this.#inFlight.delete(oid));
    this.#inFlight.set(oid, lookup);
    return lookup;
  }
}
