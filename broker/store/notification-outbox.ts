// The notification outbox in SQLite (schema in migrations.ts, version "notification outbox"): the
// notices waiting for delivery, one row per destination. Rows are added inside the transaction of
// the change that causes them (RequestService), and the dispatcher (broker/notifications) takes the
// due ones, records each try, and re-arms for the next due one.

import { randomUUID } from 'node:crypto';
import type { Notice } from '../notifications/notice.js';
import type { Database } from './database.js';

export interface OutboxRow {
  id: number;
  deliveryId: string;
  destination: string;
  notice: Notice;
  attempts: number;
}

interface Row {
  id: number;
  delivery_id: string;
  destination: string;
  notice: string;
  attempts: number;
}

export class NotificationOutbox {
  readonly #statements;

  constructor(db: Database) {
    this.#statements = {
      insert: db.prepare<[string, string, string, string, number, number]>(
        'INSERT INTO notification_outbox (delivery_id, destination, kind, notice, created_at, next_attempt_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      due: db.prepare<[number, number], Row>(
        'SELECT id, delivery_id, destination, notice, attempts FROM notification_outbox WHERE next_attempt_at IS NOT NULL AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?',
      ),
      nextDue: db.prepare<[], { at: number | null }>('SELECT min(next_attempt_at) AS at FROM notification_outbox WHERE next_attempt_at IS NOT NULL'),
      delivered: db.prepare<[number, number]>(
        'UPDATE notification_outbox SET attempts = attempts + 1, delivered_at = ?, next_attempt_at = NULL, last_error = NULL WHERE id = ?',
      ),
      retry: db.prepare<[number, string, number]>('UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?'),
      gaveUp: db.prepare<[number, string, number]>(
        'UPDATE notification_outbox SET attempts = attempts + 1, gave_up_at = ?, next_attempt_at = NULL, last_error = ? WHERE id = ?',
      ),
      waiting: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM notification_outbox WHERE next_attempt_at IS NOT NULL'),
    };
  }

  /** Adds a notice for `destination`, due at once. Call inside the transaction of the change. */
  enqueue(destination: string, notice: Notice, at: number): void {
    this.#statements.insert.run(randomUUID(), destination, notice.kind, JSON.stringify(notice), at, at);
  }

  /** Rows due at `now`, oldest due first. */
  due(now: number, limit: number): OutboxRow[] {
    return this.#statements.due.all(now, limit).map((row) => ({
      id: row.id,
      deliveryId: row.delivery_id,
      destination: row.destination,
      notice: JSON.parse(row.notice) as Notice,
      attempts: row.attempts,
    }));
  }

  /** The earliest next attempt (possibly past), or null when nothing waits. */
  nextDue(): number | null {
    return this.#statements.nextDue.get()?.at ?? null;
  }

  delivered(id: number, at: number): void {
    this.#statements.delivered.run(at, id);
  }

  /** Records a failed try: again at `nextAt`, or given up (`nextAt` null). */
  failed(id: number, error: string, nextAt: number | null, now: number): void {
    if (nextAt === null) this.#statements.gaveUp.run(now, error, id);
    else this.#statements.retry.run(nextAt, error, id);
  }

  /** Notices not yet delivered nor given up (for logs and tests). */
  waiting(): number {
    return this.#statements.waiting.get()?.n ?? 0;
  }
}
