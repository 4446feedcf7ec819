// This broker among the others on one database. It registers in `broker_instances` at start; where
// other brokers write too (PostgreSQL) it heartbeats on a timer and, at start and at every beat,
// closes the tunnel sessions of brokers that stopped or went silent (BROKER_LOST, with their audit
// entries, each once whichever brokers look at the same time). A broker never closes a session of
// a broker whose heartbeat is fresh: that broker is relaying it. On SQLite (one broker) every
// session still open at start was left by this broker's crashed predecessor and is closed as
// BROKER_RESTART, as before. A clean shutdown marks the row stopped, after its tunnels have closed.

import { hostname } from 'node:os';
import type { Logger } from './log.js';
import type { BrokerInstances } from './store/broker-instances.js';
import type { SessionStore } from './store/session-store.js';

/** How often a broker records that it is alive (and looks for lost peers). */
export const HEARTBEAT_INTERVAL_MS = 5_000;
/**
 * A broker silent this long is lost: its sessions are closed by another. Six heartbeats, so a busy
 * event loop or a slow database round trip does not cost a live broker its tunnels; a dead broker's
 * sessions show as open in the audit for at most this long (plus one beat).
 */
export const BROKER_LOST_AFTER_MS = 30_000;

export interface BrokerPresenceOptions {
  /** This broker's broker_instances id (also given to the SqlSessionStore it opens sessions with). */
  id: string;
  instances: BrokerInstances;
  sessions: Pick<SessionStore, 'closeLeftovers' | 'closeLost'>;
  /** Other brokers write to the database (SqlDatabase.shared): heartbeat and reconcile. */
  shared: boolean;
  now: () => number;
  log: Logger;
  /** Default HEARTBEAT_INTERVAL_MS. */
  heartbeatIntervalMs?: number;
  /** Default BROKER_LOST_AFTER_MS. */
  lostAfterMs?: number;
  /**
   * Told when a beat finds this broker was silent longer than its peers wait: they may have closed
   * its sessions, whose tunnels must then be cut (TunnelEndpoint.cutClosedElsewhere).
   */
  onOutOfTouch?: () => void;
}

export class BrokerPresence {
  readonly id: string;
  readonly #options: BrokerPresenceOptions;
  readonly #lostAfterMs: number;
  #timer: NodeJS.Timeout | null = null;
  #lastBeat = 0;
  #stopped = false;

  constructor(options: BrokerPresenceOptions) {
    this.id = options.id;
    this.#options = options;
    this.#lostAfterMs = options.lostAfterMs ?? BROKER_LOST_AFTER_MS;
  }

  /** Registers this broker and closes what lost (or, on SQLite, crashed) brokers left open. Throws if the store fails. */
  start(): void {
    const { instances, sessions, shared, now, log } = this.#options;
    if (!shared) {
      const leftovers = sessions.closeLeftovers(now());
      if (leftovers > 0) log.warn('closed tunnel sessions the previous broker left open', { sessions: leftovers });
    }
    this.#lastBeat = now();
    instances.register({ id: this.id, host: hostname(), pid: process.pid }, this.#lastBeat);
    if (!shared) return;
    this.reconcile();
    this.#timer = setInterval(() => this.beat(), this.#options.heartbeatIntervalMs ?? HEARTBEAT_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Records that this broker is alive, then reconciles. Never throws: a failed beat is logged and the next one tries again. */
  beat(): void {
    if (this.#stopped) return;
    const { instances, now, log } = this.#options;
    try {
      const at = now();
      // Silent longer than its peers wait (a stalled event loop, the database out of reach): they may
      // have judged it lost and closed its sessions in the store while its tunnels went on relaying.
      const outOfTouch = at - this.#lastBeat > this.#lostAfterMs;
      if (outOfTouch) {
        log.error('this broker went longer without a heartbeat than its peers wait; cutting the tunnels whose sessions they closed', {
          silentMs: at - this.#lastBeat,
          lostAfterMs: this.#lostAfterMs,
        });
      }
      instances.heartbeat(this.id, at);
      this.#lastBeat = at;
      if (outOfTouch) this.#options.onOutOfTouch?.();
      this.reconcile();
    } catch (error) {
      log.error('broker heartbeat failed', { error: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Closes the open sessions of brokers that stopped or went silent; returns their ids. */
  reconcile(): string[] {
    const { sessions, now, log } = this.#options;
    const at = now();
    const closed = sessions.closeLost(at, at - this.#lostAfterMs);
    if (closed.length > 0) log.warn('closed tunnel sessions of a lost broker', { sessions: closed.length });
    return closed;
  }

  /** Stops heartbeating and marks this broker stopped (call after its tunnels have closed). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    try {
      this.#options.instances.stop(this.id, this.#options.now());
    } catch (error) {
      this.#options.log.error('could not mark the broker stopped', { error: error instanceof Error ? error.message : String(error) });
    }
  }
}
