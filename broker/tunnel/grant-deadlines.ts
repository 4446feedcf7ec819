// One timer per grant with open tunnels, armed for the grant's absolute expiresAt: the tunnels of
// a grant end when the grant does, however long after the tunnel opened that is. The timer exists
// only while the grant has tunnels. The endpoint keeps a second set keyed by session id for the
// instant a tunnel's resource conditions stop holding (a time window's end, a sign-in's age limit).

/** setTimeout's largest delay (about 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Watch<T> {
  expiresAt: number;
  members: Set<T>;
  timer: NodeJS.Timeout | null;
}

export class GrantDeadlines<T> {
  readonly #now: () => number;
  readonly #onDue: (grantId: string, expiresAt: number, members: readonly T[]) => void;
  readonly #watches = new Map<string, Watch<T>>();

  /** `onDue` runs at (never before) the grant's expiresAt with the tunnels it still has. */
  constructor(now: () => number, onDue: (grantId: string, expiresAt: number, members: readonly T[]) => void) {
    this.#now = now;
    this.#onDue = onDue;
  }

  add(grantId: string, expiresAt: number, member: T): void {
    const existing = this.#watches.get(grantId);
    if (existing) {
      existing.members.add(member);
      return;
    }
    const watch: Watch<T> = { expiresAt, members: new Set([member]), timer: null };
    this.#watches.set(grantId, watch);
    this.#arm(grantId, watch);
  }

  remove(grantId: string, member: T): void {
    const watch = this.#watches.get(grantId);
    if (!watch) return;
    watch.members.delete(member);
    if (watch.members.size > 0) return;
    if (watch.timer) clearTimeout(watch.timer);
    this.#watches.delete(grantId);
  }

  /**
   * Moves a grant's deadline (an approved extension): its tunnels keep running and end at the new
   * expiresAt instead. No-op when the grant has no tunnels here.
   */
  move(grantId: string, expiresAt: number): void {
    const watch = this.#watches.get(grantId);
    if (!watch || watch.expiresAt === expiresAt) return;
    if (watch.timer) clearTimeout(watch.timer);
    watch.expiresAt = expiresAt;
    this.#arm(grantId, watch);
  }

  /** The tunnels of a grant now. */
  members(grantId: string): readonly T[] {
    return [...(this.#watches.get(grantId)?.members ?? [])];
  }

  /** Stops every timer (shutdown). */
  clear(): void {
    for (const watch of this.#watches.values()) if (watch.timer) clearTimeout(watch.timer);
    this.#watches.clear();
  }

  #arm(grantId: string, watch: Watch<T>): void {
    const remaining = watch.expiresAt - this.#now();
    if (remaining <= 0) {
      watch.timer = null;
      this.#onDue(grantId, watch.expiresAt, [...watch.members]);
      return;
    }
    // Timers may fire a millisecond early against the wall clock: #arm checks again and re-arms.
    watch.timer = setTimeout(() => this.#arm(grantId, watch), Math.min(remaining, MAX_TIMER_MS));
    watch.timer.unref();
  }
}
