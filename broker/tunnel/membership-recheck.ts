// The periodic membership re-check of open tunnels: one fresh directory read per user (never the
// cache), and every tunnel whose resource no longer admits that user is cut with membershipLost.
// A failed read is forgiven once; the next failure in a row cuts too (fail closed).

import { CloseCode } from '../../shared/close-codes.js';
import type { GroupRef } from '../../shared/wire.js';
import type { Logger } from '../log.js';
import { currentGroups, inAnyGroup, type Directory } from '../identity/directory.js';
import { membershipLostReason } from './close-reason.js';

/**
 * Consecutive failed membership re-reads (Graph down) a user's tunnels survive. One blip is
 * forgiven; the second failure in a row closes them: without a current answer the broker fails
 * closed, as it does for new tunnels.
 */
export const MEMBERSHIP_FAILURES_TOLERATED = 1;

/** What the re-check needs of a tunnel. */
export interface RecheckedTunnel {
  readonly oid: string;
  readonly resource: string;
  /** The resource's requester groups. */
  readonly requesters: readonly string[];
  /** Already closing: not worth a read. */
  readonly ending: boolean;
  cut(code: CloseCode, reason: string): void;
}

export class MembershipRecheck {
  readonly #directory: Directory;
  readonly #log: Logger;
  /** Consecutive failed reads per user with open tunnels. */
  readonly #failures = new Map<string, number>();
  #running = false;

  constructor(directory: Directory, log: Logger) {
    this.#directory = directory;
    this.#log = log;
  }

  /** Re-checks `tunnels` (a snapshot of the open ones); a round still running makes this one a no-op. */
  async run(tunnels: Iterable<RecheckedTunnel>): Promise<void> {
    // A slow directory must not pile up reads.
    if (this.#running) return;
    this.#running = true;
    try {
      const byUser = new Map<string, RecheckedTunnel[]>();
      for (const tunnel of tunnels) {
        if (tunnel.ending) continue;
        const list = byUser.get(tunnel.oid) ?? [];
        list.push(tunnel);
        byUser.set(tunnel.oid, list);
      }
      for (const oid of this.#failures.keys()) if (!byUser.has(oid)) this.#failures.delete(oid);
      await Promise.all([...byUser].map(([oid, list]) => this.#recheckUser(oid, list)));
    } finally {
      this.#running = false;
    }
  }

  async #recheckUser(oid: string, tunnels: readonly RecheckedTunnel[]): Promise<void> {
    let groups: GroupRef[];
    try {
      groups = await currentGroups(this.#directory, oid);
    } catch (error) {
      const failures = (this.#failures.get(oid) ?? 0) + 1;
      this.#failures.set(oid, failures);
      this.#log.warn('tunnel membership re-check failed', { oid, failures, error: error instanceof Error ? error.message : String(error) });
      if (failures <= MEMBERSHIP_FAILURES_TOLERATED) return;
      for (const tunnel of tunnels) {
        tunnel.cut(CloseCode.membershipLost, 'your group membership could not be confirmed (the directory is unavailable)');
      }
      return;
    }
    this.#failures.delete(oid);
    for (const tunnel of tunnels) {
      if (!inAnyGroup(groups, tunnel.requesters)) tunnel.cut(CloseCode.membershipLost, membershipLostReason(tunnel.resource));
    }
  }
}
