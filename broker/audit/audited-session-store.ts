// A SessionStore that also writes the audit log: `session.opened` in the transaction that inserts
// the `sessions` row, `session.closed` (bytes, end reason) in the one that completes it, and one
// `session.closed` per leftover a crash left open or session a lost broker held. The tunnel takes a SessionStore and needs no
// other change: give it this one.

import type { Database } from '../store/database.js';
import type { NewSession, SessionEnd, SessionRecord, SessionStore } from '../store/session-store.js';
import type { AuditAppender } from './audit-log.js';
import { sessionClosedEntry, sessionOpenedEntry } from './session-entries.js';

export class AuditedSessionStore implements SessionStore {
  readonly #db: Database;
  readonly #store: SessionStore;
  readonly #audit: AuditAppender;
  readonly #openIds;

  /** `store` and `audit` must live on `db`, so one transaction covers both. */
  constructor(db: Database, store: SessionStore, audit: AuditAppender) {
    this.#db = db;
    this.#store = store;
    this.#audit = audit;
    // Opening order (rowid breaks ties of started_at in both databases): the log closes them in it.
    this.#openIds = db.prepare<[], string>('SELECT id FROM sessions WHERE ended_at IS NULL ORDER BY started_at, rowid').pluck();
  }

  open(session: NewSession): void {
    this.#db.transaction(() => {
      this.#store.open(session);
      this.#audit.append(sessionOpenedEntry(session));
    });
  }

  /** Byte counts while open are progress, not events: the log gets the totals at close. */
  progress(id: string, bytesUp: number, bytesDown: number): void {
    this.#store.progress(id, bytesUp, bytesDown);
  }

  close(id: string, end: SessionEnd): boolean {
    return this.#db.transaction(() => {
      if (!this.#store.close(id, end)) return false;
      this.#appendClosed(id);
      return true;
    });
  }

  closeLeftovers(now: number): number {
    return this.#db.transaction(() => {
      const open = this.#openIds.all();
      const closed = this.#store.closeLeftovers(now);
      for (const id of open) this.#appendClosed(id);
      return closed;
    });
  }

  /**
   * One transaction for the rows and their entries: on PostgreSQL it holds the write lock, so two
   * brokers reconciling at once close (and log) each lost session once.
   */
  closeLost(now: number, heartbeatBefore: number): string[] {
    return this.#db.transaction(() => {
      const closed = this.#store.closeLost(now, heartbeatBefore);
      for (const id of closed) this.#appendClosed(id);
      return closed;
    });
  }

  get(id: string): SessionRecord | null {
    return this.#store.get(id);
  }

  listByRequest(requestId: string): SessionRecord[] {
    return this.#store.listByRequest(requestId);
  }

  /** The closing as stored (the store may adjust it, e.g. an end before the start). */
  #appendClosed(id: string): void {
    const record = this.#store.get(id);
    if (!record || record.endedAt === null || record.reason === null) return;
    const end: SessionEnd = { endedAt: record.endedAt, bytesUp: record.bytesUp, bytesDown: record.bytesDown, reason: record.reason, detail: record.detail };
    this.#audit.append(sessionClosedEntry(record, end));
  }
}
