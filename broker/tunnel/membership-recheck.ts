// The periodic membership re-check of open tunnels: one fresh directory read per user (never the
// cache), and every tunnel whose resource no longer admits that user is cut with membershipLost.
// Each round also re-evaluates the resource's conditions on the token the tunnel opened with
// (a sign-in grown older than maxSignInAge, a closed time window) and cuts what they no longer admit.
//
// When the directory cannot answer (Graph down, or so slow a read is still running at the next
// tick), a tunnel lives on for the membership grace after its user's membership was last
// confirmed (by a re-check, or by the fresh read that admitted the tunnel), then is cut with
// membershipUnconfirmed: without a current answer the broker fails closed, as it does for new
// tunnels, but one Graph blip does not drop every live session. The grace is checked on every
// tick, whether or not the previous round's reads have come back, so a stalled Graph cannot keep
// a tunnel open past it.

import { CloseCode } from '../../shared/close-codes.js';
import { formatDuration } from '../../shared/duration.js';
import type { GroupRef } from '../../shared/wire.js';
import type { Logger } from '../log.js';
import { currentGroups, inAnyGroup, type Directory } from '../identity/directory.js';
import { fitCloseReason, membershipLostReason } from './close-reason.js';

/** What the re-check needs of a tunnel. */
export interface RecheckedTunnel {
  readonly oid: string;
  readonly resource: string;
  /** The resource's requester groups. */
  readonly requesters: readonly string[];
  /** When the tunnel opened (ms): admission read the membership fresh just before. */
  readonly openedAt: number;
  /** Already closing: not worth a read. */
  readonly ending: boolean;
  cut(code: CloseCode, reason: string): void;
  /**
   * The cut the resource's conditions call for now (policy/conditions.ts: the window closed, the
   * sign-in grew too old), or null while they hold. Absent: the resource has no conditions.
   */
  conditionCut?: () => { code: CloseCode; reason: string } | null;
  /** A workload's tunnel: it stands on the resource's `workloads` (the config), not on groups, so only its conditions are re-checked. */
  readonly workload?: boolean;
}

export interface MembershipRecheckOptions {
  directory: Directory;
  log: Logger;
  now: () => number;
  /** How long a tunnel outlives the last confirmation of its user's membership (config.membershipGraceSeconds). */
  graceMs: number;
}

/** "your group membership could not be confirmed for 2m (the directory is unavailable)", fitted. */
export function membershipUnconfirmedReason(graceMs: number): string {
  return fitCloseReason(`your group membership could not be confirmed for ${formatDuration(graceMs)} (the directory is unavailable)`);
}

export class MembershipRecheck {
  readonly #options: MembershipRecheckOptions;
  /** When each user with open tunnels last had their membership confirmed by a re-check. */
  readonly #confirmedAt = new Map<string, number>();
  #running = false;

  constructor(options: MembershipRecheckOptions) {
    this.#options = options;
  }

  /**
   * Cuts the tunnels past their grace, then re-checks `tunnels` (a snapshot of the open ones);
   * while a round's reads are still running, a new round only enforces the grace.
   */
  async run(tunnels: Iterable<RecheckedTunnel>): Promise<void> {
    const byUser = new Map<string, RecheckedTunnel[]>();
    for (const tunnel of tunnels) {
      if (tunnel.ending) continue;
      // The conditions first: they need no directory, and a tunnel they cut needs no read.
      const cut = tunnel.conditionCut?.() ?? null;
      if (cut) {
        tunnel.cut(cut.code, cut.reason);
        continue;
      }
      if (tunnel.workload) continue;
      const list = byUser.get(tunnel.oid) ?? [];
      list.push(tunnel);
      byUser.set(tunnel.oid, list);
    }
    for (const oid of this.#confirmedAt.keys()) if (!byUser.has(oid)) this.#confirmedAt.delete(oid);
    this.#enforceGrace(byUser);
    // A slow directory must not pile up reads.
    if (this.#running) return;
    this.#running = true;
    try {
      await Promise.all([...byUser].map(([oid, list]) => this.#recheckUser(oid, list)));
    } finally {
      this.#running = false;
    }
  }

  /** Cuts every tunnel whose user's membership was last confirmed longer than the grace ago. */
  #enforceGrace(byUser: ReadonlyMap<string, readonly RecheckedTunnel[]>): void {
    const { now, graceMs } = this.#options;
    const at = now();
    for (const [oid, list] of byUser) {
      const confirmed = this.#confirmedAt.get(oid) ?? 0;
      for (const tunnel of list) {
        if (tunnel.ending || at - Math.max(confirmed, tunnel.openedAt) < graceMs) continue;
        tunnel.cut(CloseCode.membershipUnconfirmed, membershipUnconfirmedReason(graceMs));
      }
    }
  }

  async #recheckUser(oid: string, tunnels: readonly RecheckedTunnel[]): Promise<void> {
    const { directory, log, now } = this.#options;
    const startedAt = now();
    let groups: GroupRef[];
    try {
      groups = await currentGroups(directory, oid);
    } catch (error) {
      const since = Math.max(this.#confirmedAt.get(oid) ?? 0, ...tunnels.map((t) => t.openedAt));
      log.warn('tunnel membership re-check failed', {
        oid,
        unconfirmedSeconds: Math.round((now() - since) / 1000),
        graceSeconds: Math.round(this.#options.graceMs / 1000),
        error: error instanceof Error ? error.message : String(error),
      });
      this.#enforceGrace(new Map([[oid, tunnels]]));
      return;
    }
    // The answer is as old as the question: a read that took long confirms the start of the read.
    this.#confirmedAt.set(oid, startedAt);
    for (const tunnel of tunnels) {
      if (!inAnyGroup(groups, tunnel.requesters)) tunnel.cut(CloseCode.membershipLost, membershipLostReason(tunnel.resource));
    }
  }
}
