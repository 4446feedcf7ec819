// Batched appends for high-volume entries (every query a Postgres client sends). `add` only
// buffers; a flush appends the buffer in order in ONE transaction, so seq and hash are assigned at
// flush time, after any single appends that committed meanwhile: the chain stays exact, and a
// thousand queries cost one commit instead of a thousand.
//
// A buffered entry keeps the `at` of its event, so within the log `at` may step back slightly at a
// flush; seq is the order of record.

import type { Logger } from '../log.js';
import type { SqlAuditLog } from './audit-log.js';
import type { NewAuditEntry } from './entry.js';

/** Flush at least this often: `access audit events --follow` must show a query within a second. */
export const DEFAULT_FLUSH_INTERVAL_MS = 200;
/** Flush early once this many entries wait: one transaction of this size takes a few milliseconds. */
export const DEFAULT_MAX_BATCH = 1_000;
/**
 * Event-loop turns a group commit waits at most while entries keep arriving (flushSoon). Each wait
 * is one turn whose poll does not block (an immediate is pending), so a turn costs microseconds;
 * the bound keeps a client that streams statements without waiting for answers from postponing
 * its commit indefinitely.
 */
export const MAX_GROUP_COMMIT_TURNS = 8;
/**
 * Entries kept while the database refuses writes (disk full, locked by another process). Beyond it
 * the oldest are dropped, and the loss itself is recorded as an `audit.dropped` entry once writes
 * work again: memory stays bounded and the log says what it is missing.
 */
export const DEFAULT_MAX_PENDING = 100_000;

export interface BatchedAppenderOptions {
  log: SqlAuditLog;
  /** For flush failures and drops. */
  logger: Logger;
  /** Used for the `at` of an `audit.dropped` entry. */
  now: () => number;
  flushIntervalMs?: number;
  maxBatch?: number;
  maxPending?: number;
}

interface Dropped {
  count: number;
  firstAt: number;
  lastAt: number;
}

export class BatchedAppender {
  readonly #options: BatchedAppenderOptions;
  readonly #flushIntervalMs: number;
  readonly #maxBatch: number;
  readonly #maxPending: number;
  #pending: NewAuditEntry[] = [];
  #dropped: Dropped | null = null;
  #timer: NodeJS.Timeout | null = null;
  #immediate: NodeJS.Immediate | null = null;
  /** While a group commit waits (flushSoon): the entries pending at its last look, and the turns it waited. */
  #pendingAtLook = 0;
  #turnsWaited = 0;
  #closed = false;

  constructor(options: BatchedAppenderOptions) {
    this.#options = options;
    this.#flushIntervalMs = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.#maxBatch = options.maxBatch ?? DEFAULT_MAX_BATCH;
    this.#maxPending = options.maxPending ?? DEFAULT_MAX_PENDING;
  }

  /** Entries waiting for the next flush. */
  get pending(): number {
    return this.#pending.length;
  }

  /** When the oldest entry still waiting happened (ms since epoch), or null when none waits: the append lag (metrics). */
  get oldestPendingAt(): number | null {
    return this.#pending[0]?.at ?? null;
  }

  /** Buffers `entry`; it is appended at the next flush (within flushIntervalMs). */
  add(entry: NewAuditEntry): void {
    if (this.#closed) {
      // After close the database is gone; appending now would throw inside a tunnel's teardown.
      this.#options.logger.error('audit entry after the audit log closed was not recorded', { type: entry.type, subject: entry.subject });
      return;
    }
    this.#pending.push(entry);
    if (this.#pending.length > this.#maxPending) this.#dropOldest(this.#pending.length - this.#maxPending);
    if (this.#pending.length >= this.#maxBatch) this.#flushSoon();
    else this.#armTimer();
  }

  /**
   * Appends what is buffered at the end of the first event-loop turn that added nothing new, in one
   * transaction with everything else added meanwhile: group commit. A fail-closed caller asks for it
   * when its client's statements arrive, so the commit runs while the server works on them; it
   * waits out the turns in which other sessions' statements keep arriving (at most
   * MAX_GROUP_COMMIT_TURNS, or until maxBatch entries wait), so they share it: a commit costs the
   * same few page writes and locks however many entries it carries. When an answer comes the
   * caller calls `flush` (nothing left to write, or the commit the wait would have made, or a retry
   * that fails closed), so waiting never delays an answer.
   */
  flushSoon(): void {
    if (this.#closed || this.#pending.length === 0) return;
    this.#flushSoon();
  }

  /**
   * Appends everything buffered now, in order, in one transaction. Returns how many entries were
   * appended; on failure keeps them for the next flush and logs the error.
   */
  flush(): number {
    this.#clearTimers();
    if (this.#pending.length === 0 && this.#dropped === null) return 0;
    const batch = this.#pending;
    const lost = this.#dropped;
    const entries = lost ? [droppedEntry(lost, this.#options.now()), ...batch] : batch;
    try {
      this.#options.log.appendAll(entries);
    } catch (error) {
      this.#options.logger.error('audit batch could not be written; it will be retried', {
        entries: entries.length,
        error: error instanceof Error ? error.message : String(error),
      });
      if (!this.#closed) this.#armTimer();
      return 0;
    }
    this.#pending = [];
    this.#dropped = null;
    return entries.length;
  }

  /** Flushes what is buffered and stops the timers; later adds are refused (logged). */
  close(): void {
    this.flush();
    this.#closed = true;
    this.#clearTimers();
  }

  #armTimer(): void {
    if (this.#timer || this.#immediate) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.flush();
    }, this.#flushIntervalMs);
    // The broker's server keeps the process alive; a pending flush alone must not.
    this.#timer.unref();
  }

  #flushSoon(): void {
    if (this.#immediate) return;
    // Not inline: `add` may be called inside someone's transaction or a hot socket handler.
    // -1: the first look always waits one more turn, whose poll picks up what other sessions sent meanwhile.
    this.#pendingAtLook = -1;
    this.#turnsWaited = 0;
    this.#immediate = setImmediate(this.#groupCommit);
  }

  /** At the end of a turn: commits unless this turn added entries and the commit may still wait for more. */
  readonly #groupCommit = (): void => {
    const arriving = this.#pending.length > this.#pendingAtLook;
    if (arriving && this.#turnsWaited < MAX_GROUP_COMMIT_TURNS && this.#pending.length < this.#maxBatch) {
      this.#pendingAtLook = this.#pending.length;
      this.#turnsWaited++;
      this.#immediate = setImmediate(this.#groupCommit);
      return;
    }
    this.#immediate = null;
    this.flush();
  };

  #clearTimers(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#immediate) clearImmediate(this.#immediate);
    this.#timer = null;
    this.#immediate = null;
  }

  #dropOldest(count: number): void {
    const gone = this.#pending.splice(0, count);
    const first = gone[0];
    const last = gone[gone.length - 1];
    if (!first || !last) return;
    this.#dropped = {
      count: (this.#dropped?.count ?? 0) + gone.length,
      firstAt: this.#dropped?.firstAt ?? first.at,
      lastAt: last.at,
    };
    if (this.#dropped.count === gone.length) {
      this.#options.logger.error('audit entries are being dropped: the database refuses writes', { maxPending: this.#maxPending });
    }
  }
}

function droppedEntry(lost: Dropped, now: number): NewAuditEntry {
  return {
    type: 'audit.dropped',
    at: now,
    actor: null,
    subject: null,
    resource: null,
    body: { count: lost.count, firstAt: new Date(lost.firstAt).toISOString(), lastAt: new Date(lost.lastAt).toISOString() },
  };
}
