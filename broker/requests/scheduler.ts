// Enforces the clock: pending requests time out and grants expire at their deadlines, including
// those that passed while the broker was down (swept at start). One timer, armed for the earliest
// deadline in the store and re-armed after every sweep and every committed change, is enough:
// deadlines live in the store, not in memory, so a restart loses none.
//
// It also warns a requester shortly before their grant ends (`expiring` on the events stream).

import type { Logger } from '../log.js';
import { LIST_LIMIT_MAX, type RequestStore } from '../store/request-store.js';
import type { RequestService } from './service.js';
import type { AccessRequest } from './types.js';

/**
 * Longest the timer sleeps before looking again. Deadlines are rechecked at least this often, so a
 * wall-clock jump (NTP step, VM resume) is caught within 30 s, and setTimeout never sees a delay
 * above its 24.8-day limit.
 */
export const MAX_TIMER_DELAY_MS = 30_000;
/** A requester is warned this long before their grant ends: time to finish or ask for more. */
export const EXPIRY_WARNING_LEAD_MS = 5 * 60_000;
/**
 * When a deadline is still due right after a sweep (the sweep failed on it), the next attempt
 * waits this long instead of spinning.
 */
export const RETRY_DELAY_MS = 1_000;

export interface DeadlineSchedulerOptions {
  service: Pick<RequestService, 'sweep' | 'onChange'>;
  store: Pick<RequestStore, 'nextDeadline' | 'listByStates'>;
  /** Sends the `expiring` warning for a grant that ends in `inMs`. */
  warn: (request: AccessRequest, inMs: number) => void;
  now: () => number;
  log: Logger;
  /** Default EXPIRY_WARNING_LEAD_MS (5 min). */
  warningLeadMs?: number;
  /** Default MAX_TIMER_DELAY_MS (30 s). */
  maxDelayMs?: number;
}

export class DeadlineScheduler {
  readonly #options: DeadlineSchedulerOptions;
  readonly #leadMs: number;
  readonly #maxDelayMs: number;
  /** Grants already warned, as id@expiresAt (once per grant and end: an extended grant is warned again before its new end; forgotten when it ends). */
  readonly #warned = new Set<string>();
  #timer: NodeJS.Timeout | null = null;
  #nextRun: number | null = null;
  #running = false;
  #unsubscribe: (() => void) | null = null;

  constructor(options: DeadlineSchedulerOptions) {
    this.#options = options;
    this.#leadMs = options.warningLeadMs ?? EXPIRY_WARNING_LEAD_MS;
    this.#maxDelayMs = options.maxDelayMs ?? MAX_TIMER_DELAY_MS;
  }

  /** Sweeps what is already due (deadlines passed while the broker was down), then keeps watch. */
  start(): void {
    if (this.#unsubscribe) return;
    this.#unsubscribe = this.#options.service.onChange(() => {
      if (!this.#running) this.#arm(false);
    });
    const closed = this.#run();
    this.#options.log.info('deadline scheduler started', { closedAtStart: closed });
  }

  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = null;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#nextRun = null;
  }

  /** When the timer fires next (ms since epoch), or null when nothing is open. For logs and tests. */
  get nextRun(): number | null {
    return this.#nextRun;
  }

  /** One pass: sweep due requests, send due warnings, re-arm. Returns how many requests the sweep closed. */
  #run(): number {
    this.#running = true;
    let closed = 0;
    try {
      closed = this.#options.service.sweep();
      this.#warnDue();
    } catch (error) {
      this.#options.log.error('deadline sweep failed', { error: error instanceof Error ? error.stack : String(error) });
    } finally {
      this.#running = false;
    }
    this.#arm(true);
    return closed;
  }

  /** @param afterRun whether a pass just ran: then anything still due failed, and is retried after a pause. */
  #arm(afterRun: boolean): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#nextRun = null;
    if (!this.#unsubscribe) return;
    const now = this.#options.now();
    let target: number | null;
    try {
      target = earliest(this.#options.store.nextDeadline(), this.#nextWarningAt(now));
    } catch (error) {
      // The store could not answer: look again later rather than stop enforcing deadlines.
      this.#options.log.error('deadline scheduler cannot read the store', { error: error instanceof Error ? error.message : String(error) });
      target = now + RETRY_DELAY_MS;
    }
    if (target === null) return;
    const overdue = target <= now;
    const delay = overdue ? (afterRun ? RETRY_DELAY_MS : 0) : Math.min(target - now, this.#maxDelayMs);
    this.#nextRun = now + delay;
    this.#timer = setTimeout(() => this.#run(), delay);
    // The broker's server keeps the process alive; this timer must not keep a stopping one.
    this.#timer.unref();
  }

  #grants(): AccessRequest[] {
    return this.#options.store.listByStates(['approved'], { limit: LIST_LIMIT_MAX });
  }

  /** The instant a grant's warning is due, or null when the grant is shorter than the lead time. */
  #warnAt(grant: AccessRequest): number | null {
    if (grant.expiresAt === null || grant.grantedAt === null) return null;
    const at = grant.expiresAt - this.#leadMs;
    // A grant shorter than the lead would be "expiring" the moment it starts: that is noise.
    return at > grant.grantedAt ? at : null;
  }

  #warnDue(): void {
    const now = this.#options.now();
    const grants = this.#grants();
    const live = new Set(grants.map(warnKey));
    for (const key of this.#warned) if (!live.has(key)) this.#warned.delete(key);
    for (const grant of grants) {
      const at = this.#warnAt(grant);
      if (at === null || at > now || this.#warned.has(warnKey(grant)) || grant.expiresAt === null || grant.expiresAt <= now) continue;
      this.#warned.add(warnKey(grant));
      this.#options.warn(grant, grant.expiresAt - now);
    }
  }

  #nextWarningAt(now: number): number | null {
    let next: number | null = null;
    for (const grant of this.#grants()) {
      const at = this.#warnAt(grant);
      // A warning already due but not sent yet (its timer was re-armed away) counts: it is sent at once.
      if (at === null || this.#warned.has(warnKey(grant)) || grant.expiresAt === null || grant.expiresAt <= now) continue;
      next = earliest(next, at);
    }
    return next;
  }
}

/** A grant's warning is owed once per end: an extension makes a new one. */
function warnKey(grant: AccessRequest): string {
  return `${grant.id}@${grant.expiresAt}`;
}

function earliest(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}
