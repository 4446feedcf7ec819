// The request change log (schema: migration "request change log"): one row per committed change,
// written by the request service in the transaction that stores the change, so a row exists
// exactly when its change does. Brokers sharing a PostgreSQL database learn of each other's
// changes by reading the rows after the last one they saw (requests/remote-changes.ts); there a
// trigger also NOTIFYs each row's seq at commit. Rows are only a pointer: readers load the request
// itself. The log prunes itself as it is written: it is a feed, not a history (the audit log is that).

import type { RequestChange } from '../requests/types.js';
import type { SqlDatabase } from './sql-database.js';

/**
 * How long a change stays in the log. A broker that could not read its database for longer than
 * this misses the changes in between (its own tunnels still end at their grants' expiry); every
 * broker reads far more often than this (remote-changes.ts CATCH_UP_INTERVAL_MS).
 */
export const CHANGE_LOG_RETENTION_MS = 60 * 60_000;

/** The PostgreSQL channel on which each new row's seq is NOTIFYed (postgres/migrations.ts). */
export const CHANGES_CHANNEL = 'access_request_changes';

/** One change another broker committed. */
export interface LoggedChange {
  seq: number;
  requestId: string;
  changes: RequestChange[];
  at: number;
}

interface Row {
  seq: number;
  request_id: string;
  changes: string;
  at: number;
}

export class SqlChangeLog {
  readonly #origin: string;
  readonly #statements;

  /** `origin`: this broker's instance id, recorded on every row it writes and skipped when it reads. */
  constructor(db: SqlDatabase, origin: string) {
    this.#origin = origin;
    this.#statements = {
      insert: db.prepare<[string, string, number, string]>('INSERT INTO request_changes (request_id, changes, at, origin) VALUES (?, ?, ?, ?)'),
      prune: db.prepare<[number]>('DELETE FROM request_changes WHERE at < ?'),
      last: db.prepare<[], { seq: number | null }>('SELECT max(seq) AS seq FROM request_changes'),
      othersAfter: db.prepare<[number, string, number], Row>(
        'SELECT seq, request_id, changes, at FROM request_changes WHERE seq > ? AND origin <> ? ORDER BY seq LIMIT ?',
      ),
    };
  }

  /** Records `changes` of one request, and drops what is older than the retention. Call inside the change's transaction. */
  append(requestId: string, changes: readonly RequestChange[], at: number): void {
    this.#statements.insert.run(requestId, JSON.stringify(changes), at, this.#origin);
    this.#statements.prune.run(at - CHANGE_LOG_RETENTION_MS);
  }

  /** The newest seq in the log (0 when it is empty): where a broker starts following. */
  lastSeq(): number {
    return this.#statements.last.get()?.seq ?? 0;
  }

  /** Up to `limit` changes other brokers wrote after `seq`, in seq order (which is commit order: writers take turns). */
  othersAfter(seq: number, limit: number): LoggedChange[] {
    return this.#statements.othersAfter.all(seq, this.#origin, limit).map((row) => ({
      seq: row.seq,
      requestId: row.request_id,
      changes: knownChanges(row.changes),
      at: row.at,
    }));
  }
}

/** Every change name this code knows, so one written by a newer broker is skipped rather than misread. */
const KNOWN: Record<RequestChange, true> = {
  created: true,
  auto_approved: true,
  review_recorded: true,
  approved: true,
  denied: true,
  cancelled: true,
  timed_out: true,
  expired: true,
  revoked: true,
  extension_requested: true,
  extension_review_recorded: true,
  extended: true,
  extension_denied: true,
  extension_lapsed: true,
  break_glass: true,
  post_reviewed: true,
};

function knownChanges(text: string): RequestChange[] {
  const parsed: unknown = JSON.parse(text);
  if (!Array.isArray(parsed)) return [];
  return parsed.filter((name): name is RequestChange => typeof name === 'string' && Object.hasOwn(KNOWN, name));
}
