// Tunnel sessions in SQLite or PostgreSQL (`sessions`, migration 2): one row per tunnel, inserted when it opens
// and completed when it closes, with the bytes each way and why it ended. The broker writes the
// byte counts of open tunnels now and then, so a crash leaves them roughly right. Each row names
// the broker that relays it (broker_id): on SQLite (one broker) the next start closes what a crash
// left open; on PostgreSQL (several brokers) a session is closed by another broker only once its
// own broker has stopped or gone silent (closeLost, broker/broker-presence.ts).

import type { CloseCode } from '../../shared/close-codes.js';
import { AccessError } from '../../shared/errors.js';
import type { Database } from './database.js';
import { constraintViolated } from './sql-errors.js';

/** The end reason of sessions a crashed broker left open (closed at the next start; SQLite's one broker). */
export const BROKER_RESTART = 'broker_restart';
/**
 * The end reason of sessions whose broker stopped or stopped heartbeating while they were open,
 * closed by another broker on the same database (PostgreSQL).
 */
export const BROKER_LOST = 'broker_lost';
/** The end reason of a session the client ended (closed its WebSocket or vanished). */
export const CLIENT_CLOSED = 'clientClosed';

/**
 * Why a session ended: the name of the close code the broker sent (shared/close-codes.ts, e.g.
 * `grantExpired`, `targetClosed`), CLIENT_CLOSED, BROKER_RESTART or BROKER_LOST.
 */
export type SessionEndReason = keyof typeof CloseCode | typeof CLIENT_CLOSED | typeof BROKER_RESTART | typeof BROKER_LOST;

export interface NewSession {
  id: string;
  /** The grant (request id) the tunnel runs under. */
  requestId: string;
  user: { oid: string; upn: string | null };
  resource: string;
  /**
   * The client's address: the peer of its connection, or behind a proxy in `trustedProxies` the
   * client X-Forwarded-For names (policy/networks.ts clientAddress).
   */
  clientAddress: string | null;
  /** host:port as dialled. */
  target: string;
  startedAt: number;
  /** The grant is break-glass: recorded in the session.opened entry (not a column: the grant's row says it). */
  breakGlass?: boolean;
}

export interface SessionEnd {
  endedAt: number;
  bytesUp: number;
  bytesDown: number;
  reason: SessionEndReason;
  /** The specifics, e.g. the close reason sent ("revoked by bob@contoso.dev: …") or the target's error. */
  detail: string | null;
}

export interface SessionRecord extends NewSession {
  /** Null while the tunnel is open. */
  endedAt: number | null;
  /** Client → target. */
  bytesUp: number;
  /** Target → client. */
  bytesDown: number;
  reason: SessionEndReason | null;
  detail: string | null;
}

export interface SessionStore {
  /** Records a tunnel as it opens; store_conflict if the id is taken. */
  open(session: NewSession): void;
  /** Records the bytes so far of an open session (no-op once it has ended). */
  progress(id: string, bytesUp: number, bytesDown: number): void;
  /** Completes the session; a session already ended keeps its first ending. Returns whether this call ended it. */
  close(id: string, end: SessionEnd): boolean;
  /** Ends every session still open (left by a crash) with BROKER_RESTART at `now`; returns how many. */
  closeLeftovers(now: number): number;
  /**
   * Ends with BROKER_LOST at `now` every open session whose broker has stopped or whose last
   * heartbeat is before `heartbeatBefore`; returns their ids. Sessions of live brokers, and rows
   * that name no broker, are left alone.
   */
  closeLost(now: number, heartbeatBefore: number): string[];
  get(id: string): SessionRecord | null;
  /** The sessions run under one grant, oldest first. */
  listByRequest(requestId: string): SessionRecord[];
}

/** A `sessions` row, column for column. */
interface SessionRow {
  id: string;
  request_id: string;
  user_oid: string;
  user_upn: string | null;
  resource: string;
  client_address: string | null;
  target: string;
  started_at: number;
  ended_at: number | null;
  bytes_up: number;
  bytes_down: number;
  end_reason: string | null;
  end_detail: string | null;
}

const SESSION_COLUMNS = [
  'id',
  'request_id',
  'user_oid',
  'user_upn',
  'resource',
  'client_address',
  'target',
  'started_at',
  'ended_at',
  'bytes_up',
  'bytes_down',
  'end_reason',
  'end_detail',
] as const satisfies readonly (keyof SessionRow)[];

/** Named, never `*`: see request-store.ts. */
const SESSION = SESSION_COLUMNS.join(', ');

/** Written as the end detail of sessions closed as BROKER_LOST. */
const LOST_DETAIL = 'the broker relaying the tunnel stopped or stopped heartbeating; bytes are as last recorded';

const SQL = {
  insert: `INSERT INTO sessions (id, request_id, user_oid, user_upn, resource, client_address, target, started_at, broker_id)
           VALUES (@id, @request_id, @user_oid, @user_upn, @resource, @client_address, @target, @started_at, @broker_id)`,
  progress: 'UPDATE sessions SET bytes_up = @bytes_up, bytes_down = @bytes_down WHERE id = @id AND ended_at IS NULL',
  // A wall clock stepped back must not make the row break its CHECK (and stay open forever).
  close: `UPDATE sessions SET ended_at = max(@ended_at, started_at), bytes_up = @bytes_up, bytes_down = @bytes_down,
                              end_reason = @end_reason, end_detail = @end_detail
          WHERE id = @id AND ended_at IS NULL`,
  closeLeftovers: `UPDATE sessions SET ended_at = max(@now, started_at), end_reason = '${BROKER_RESTART}',
                                       end_detail = 'the broker stopped while the tunnel was open; bytes are as last recorded'
                   WHERE ended_at IS NULL`,
  closeLost: `UPDATE sessions SET ended_at = max(@now, started_at), end_reason = '${BROKER_LOST}', end_detail = '${LOST_DETAIL}'
              WHERE ended_at IS NULL AND broker_id IN (SELECT id FROM broker_instances WHERE stopped_at IS NOT NULL OR heartbeat_at < @heartbeat_before)
              RETURNING id`,
  get: `SELECT ${SESSION} FROM sessions WHERE id = ?`,
  byRequest: `SELECT ${SESSION} FROM sessions WHERE request_id = ? ORDER BY started_at, rowid`,
} as const;

/** The same for PostgreSQL, whose two-argument maximum is greatest(). */
const POSTGRES_SQL: Record<keyof typeof SQL, string> = {
  ...SQL,
  close: `UPDATE sessions SET ended_at = greatest(@ended_at::bigint, started_at), bytes_up = @bytes_up, bytes_down = @bytes_down,
                              end_reason = @end_reason, end_detail = @end_detail
          WHERE id = @id AND ended_at IS NULL`,
  closeLeftovers: `UPDATE sessions SET ended_at = greatest(@now::bigint, started_at), end_reason = '${BROKER_RESTART}',
                                       end_detail = 'the broker stopped while the tunnel was open; bytes are as last recorded'
                   WHERE ended_at IS NULL`,
  closeLost: `UPDATE sessions SET ended_at = greatest(@now::bigint, started_at), end_reason = '${BROKER_LOST}', end_detail = '${LOST_DETAIL}'
              WHERE ended_at IS NULL AND broker_id IN (SELECT id FROM broker_instances WHERE stopped_at IS NOT NULL OR heartbeat_at < @heartbeat_before)
              RETURNING id`,
};

export class SqlSessionStore implements SessionStore {
  readonly #statements;
  readonly #brokerId: string | null;

  /** `brokerId`: the broker_instances row of this broker, recorded on every session it opens. */
  constructor(db: Database, brokerId: string | null = null) {
    this.#brokerId = brokerId;
    const sql = db.dialect === 'postgres' ? POSTGRES_SQL : SQL;
    this.#statements = {
      insert: db.prepare<Omit<SessionRow, 'ended_at' | 'bytes_up' | 'bytes_down' | 'end_reason' | 'end_detail'> & { broker_id: string | null }>(sql.insert),
      closeLost: db.prepare<{ now: number; heartbeat_before: number }, string>(sql.closeLost).pluck(),
      progress: db.prepare<{ id: string; bytes_up: number; bytes_down: number }>(sql.progress),
      close: db.prepare<{ id: string; ended_at: number; bytes_up: number; bytes_down: number; end_reason: string; end_detail: string | null }>(sql.close),
      closeLeftovers: db.prepare<{ now: number }>(sql.closeLeftovers),
      get: db.prepare<[string], SessionRow>(sql.get),
      byRequest: db.prepare<[string], SessionRow>(sql.byRequest),
    };
  }

  open(session: NewSession): void {
    try {
      this.#statements.insert.run({
        id: session.id,
        request_id: session.requestId,
        user_oid: session.user.oid,
        user_upn: session.user.upn,
        resource: session.resource,
        client_address: session.clientAddress,
        target: session.target,
        started_at: session.startedAt,
        broker_id: this.#brokerId,
      });
    } catch (error) {
      if (constraintViolated(error) === 'primary_key') {
        throw new AccessError('store_conflict', `a session with id "${session.id}" already exists; new sessions need a fresh id`, { cause: error });
      }
      throw error;
    }
  }

  progress(id: string, bytesUp: number, bytesDown: number): void {
    this.#statements.progress.run({ id, bytes_up: bytesUp, bytes_down: bytesDown });
  }

  close(id: string, end: SessionEnd): boolean {
    const { changes } = this.#statements.close.run({
      id,
      ended_at: end.endedAt,
      bytes_up: end.bytesUp,
      bytes_down: end.bytesDown,
      end_reason: end.reason,
      end_detail: end.detail,
    });
    return changes > 0;
  }

  closeLeftovers(now: number): number {
    return this.#statements.closeLeftovers.run({ now }).changes;
  }

  closeLost(now: number, heartbeatBefore: number): string[] {
    return this.#statements.closeLost.all({ now, heartbeat_before: heartbeatBefore });
  }

  get(id: string): SessionRecord | null {
    const row = this.#statements.get.get(id);
    return row ? toRecord(row) : null;
  }

  listByRequest(requestId: string): SessionRecord[] {
    return this.#statements.byRequest.all(requestId).map(toRecord);
  }
}

function toRecord(row: SessionRow): SessionRecord {
  return {
    id: row.id,
    requestId: row.request_id,
    user: { oid: row.user_oid, upn: row.user_upn },
    resource: row.resource,
    clientAddress: row.client_address,
    target: row.target,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    bytesUp: row.bytes_up,
    bytesDown: row.bytes_down,
    // Written by this code only (close() takes a SessionEndReason), so the cast holds.
    reason: row.end_reason as SessionEndReason | null,
    detail: row.end_detail,
  };
}
