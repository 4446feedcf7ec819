// A short-lived cache in front of the directory. Fresh entries are served from memory; a stale
// entry is never served when the directory fails (fail closed), and lookups of the same user share
// one directory read while it is young (SHARED_READ_MS), under way or answered.

import type { GroupRef } from '../../shared/wire.js';
import type { Directory } from './directory.js';

interface Entry {
  groups: GroupRef[];
  fetchedAt: number;
  /** When the read that answered began: an older read answering later does not replace it. */
  readStartedAt: number;
}

/** A directory call under way, and when it started. */
interface InFlight {
  read: Promise<GroupRef[]>;
  startedAt: number;
}

/**
 * How long after a directory read began another lookup of the same user may take its answer
 * instead of reading again: waiting for it while it is under way, or at once when it has answered.
 * Even a tunnel's admission, which must read membership now ("never the cache"), may share one: the
 * read began at most a second before the lookup, and a membership change takes Graph itself longer
 * than that to show (its replicas converge in seconds to minutes), so a read that starts now cannot
 * know more. A slow read (Graph retries, up to the 8 s DeadlineDirectory) is not joined once older:
 * the next lookup reads again. A read that failed is never shared after it failed.
 */
export const SHARED_READ_MS = 1_000;

export class CachedDirectory implements Directory {
  readonly #inner: Directory;
  readonly #ttlMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #inFlight = new Map<string, InFlight>();

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

  /**
   * Membership as a read begun at most SHARED_READ_MS ago saw it (used where a decision must be
   * current): that read's answer, or a new read of the directory.
   */
  fresh(oid: string): Promise<GroupRef[]> {
    const answered = this.#entries.get(oid);
    if (answered && this.#now() - answered.readStartedAt <= SHARED_READ_MS) return Promise.resolve(answered.groups);
    return this.#fetch(oid);
  }

  #fetch(oid: string): Promise<GroupRef[]> {
    const startedAt = this.#now();
    const pending = this.#inFlight.get(oid);
    if (pending && startedAt - pending.startedAt <= SHARED_READ_MS) return pending.read;
    const read = this.#inner
      .memberGroups(oid)
      .then((groups) => {
        const kept = this.#entries.get(oid);
        if (!kept || kept.readStartedAt <= startedAt) this.#entries.set(oid, { groups, fetchedAt: this.#now(), readStartedAt: startedAt });
        return groups;
      })
      .catch((error: unknown) => {
        // A failed read invalidates what we had: the next caller must not get stale data.
        this.#entries.delete(oid);
        throw error;
      })
      .finally(() => {
        // A newer read may have taken the slot (this one grew too old to join): it stays.
        if (this.#inFlight.get(oid)?.read === read) this.#inFlight.delete(oid);
      });
    this.#inFlight.set(oid, { read, startedAt });
    return read;
  }
}
