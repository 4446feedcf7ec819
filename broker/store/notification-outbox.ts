// The notification outbox in SQLite (schema in migrations.ts, version "notification outbox"): the
// notices waiting for delivery, one row per destination. Rows are added inside the transaction of
// the change that causes them (RequestService), and the dispatcher (broker/notifications) claims
// the due ones, records each try, and re-arms for the next due one.
//
// Several brokers may dispatch from one database: a dispatcher claims a row before it POSTs, in a
// write transaction that moves the row's next attempt one lease ahead, so no other broker takes it
// meanwhile. The outcome is recorded only under that claim: a broker that died mid-delivery lets the
// lease lapse and another tries again (same delivery id, so receivers drop a duplicate), and the
// late outcome of a claim that lapsed changes nothing.

import { randomUUID } from 'node:crypto';
import type { Notice } from '../notifications/notice.js';
import type { Database } from './database.js';

export interface OutboxRow {
  id: number;
  deliveryId: string;
  destination: string;
  notice: Notice;
  /** Tries made before this one. */
  attempts: number;
  /** The claim's lease end: the row's next_attempt_at while this try runs, and the token its outcome is recorded under. */
  claim: number;
}

interface Row {
  id: number;
  delivery_id: string;
  destination: string;
  notice: string;
  attempts: number;
}

export class NotificationOutbox {
  readonly #db: Database;
  readonly #statements;

  constructor(db: Database) {
    this.#db = db;
    this.#statements = {
      insert: db.prepare<[string, string, string, string, number, number]>(
        // A notice with a delivery id already in the outbox is the same notice raised again: kept once.
        'INSERT INTO notification_outbox (delivery_id, destination, kind, notice, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (delivery_id) DO NOTHING',
      ),
      firstDue: db.prepare<[number], Row>(
        'SELECT id, delivery_id, destination, notice, attempts FROM notification_outbox WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1',
      ),
      claim: db.prepare<[number, number]>('UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = ? WHERE id = ?'),
      nextDue: db.prepare<[], { at: number | null }>('SELECT min(next_attempt_at) AS at FROM notification_outbox WHERE next_attempt_at IS NOT NULL'),
      // The attempt was counted by the claim; each outcome applies only while the claim holds.
      delivered: db.prepare<[number, number, number]>(
        'UPDATE notification_outbox SET delivered_at = ?, next_attempt_at = NULL, last_error = NULL WHERE id = ? AND next_attempt_at = ?',
      ),
      retry: db.prepare<[number, string, number, number]>(
        'UPDATE notification_outbox SET next_attempt_at = ?, last_error = ? WHERE id = ? AND next_attempt_at = ?',
      ),
      gaveUp: db.prepare<[number, string, number, number]>(
        'UPDATE notification_outbox SET gave_up_at = ?, next_attempt_at = NULL, last_error = ? WHERE id = ? AND next_attempt_at = ?',
      ),
      waiting: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM notification_outbox WHERE next_attempt_at IS NOT NULL'),
    };
  }

  /**
   * Adds a notice for `destination`, due at once. Call inside the transaction of the change.
   * `deliveryId` names a notice several brokers may raise for the same fact (each broker's
   * scheduler sees a grant about to expire): the first to enqueue it wins, the others add nothing.
   */
  enqueue(destination: string, notice: Notice, at: number, deliveryId: string = randomUUID()): void {
    this.#statements.insert.run(deliveryId, destination, notice.kind, JSON.stringify(notice), at, at);
  }

  /**
   * Takes the row due first at `now` for one try, leased for `leaseMs` (no other dispatcher takes it
   * until then, unless its outcome is recorded first); null when nothing is due.
   */
  claimNext(now: number, leaseMs: number): OutboxRow | null {
    return this.#db.transaction(() => {
      const row = this.#statements.firstDue.get(now);
      if (!row) return null;
      // Strictly later than any earlier claim of the row (that one lapsed at or before now), so a
      // lapsed claim's outcome never matches this one.
      const claim = now + leaseMs;
      this.#statements.claim.run(claim, row.id);
      return {
        id: row.id,
        deliveryId: row.delivery_id,
        destination: row.destination,
        notice: JSON.parse(row.notice) as Notice,
        attempts: row.attempts,
        claim,
      };
    });
  }

  /** The earliest next attempt (possibly past), or null when nothing waits. */
  nextDue(): number | null {
    return this.#statements.nextDue.get()?.at ?? null;
  }

  /** Records the claimed try as delivered; false when the claim had lapsed and was taken again (nothing recorded). */
  delivered(row: Pick<OutboxRow, 'id' | 'claim'>, at: number): boolean {
    return this.#statements.delivered.run(at, row.id, row.claim).changes > 0;
  }

  /** Records the claimed try as failed: again at `nextAt`, or given up (`nextAt` null); false as for delivered(). */
  failed(row: Pick<OutboxRow, 'id' | 'claim'>, error: string, nextAt: number | null, now: number): boolean {
    const result = nextAt === null ? this.#statements.gaveUp.run(now, error, row.id, row.claim) : this.#statements.retry.run(nextAt, error, row.id, row.claim);
    return result.changes > 0;
  }

  /** Notices not yet delivered nor given up (for logs and tests). */
  waiting(): number {
    return this.#statements.waiting.get()?.n ?? 0;
  }
}
