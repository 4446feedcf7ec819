// The audit entries of a tunnel: `session.opened` and `session.closed` (appended in the
// transaction that writes the `sessions` row, broker/store/session-store.ts) and `pg.query` for each
// query a Postgres client sends (through the BatchedAppender: they can be thousands a second).
// The subject of all three is the session id, so `access audit show SESSION` finds them together.

import type { NewSession, SessionEnd } from '../store/session-store.js';
import type { NewAuditEntry } from './entry.js';

/**
 * Longest SQL text kept per query entry. Enough for any statement a person types or an ORM
 * builds; a bulk COPY or generated IN list is cut, its full length recorded.
 */
export const MAX_QUERY_TEXT_CHARS = 8 * 1024;

export function sessionOpenedEntry(session: NewSession): NewAuditEntry {
  return {
    type: 'session.opened',
    at: session.startedAt,
    actor: session.user,
    subject: session.id,
    resource: session.resource,
    body: { requestId: session.requestId, target: session.target, client: session.clientAddress },
  };
}

export function sessionClosedEntry(session: Pick<NewSession, 'id' | 'user' | 'resource' | 'requestId'>, end: SessionEnd, queries: number | null = null): NewAuditEntry {
  return {
    type: 'session.closed',
    at: end.endedAt,
    actor: session.user,
    subject: session.id,
    resource: session.resource,
    body: {
      requestId: session.requestId,
      bytesUp: end.bytesUp,
      bytesDown: end.bytesDown,
      endReason: end.reason,
      detail: end.detail,
      ...(queries === null ? {} : { queries }),
    },
  };
}

export interface PgQuery {
  sessionId: string;
  user: { oid: string; upn: string | null };
  resource: string;
  at: number;
  /** The statement text as the client sent it (simple query, or Parse of the extended protocol). */
  sql: string;
  /** Which protocol message carried it. */
  protocol: 'simple' | 'extended';
  database?: string | null;
}

export function pgQueryEntry(query: PgQuery): NewAuditEntry {
  const cut = query.sql.length > MAX_QUERY_TEXT_CHARS;
  return {
    type: 'pg.query',
    at: query.at,
    actor: query.user,
    subject: query.sessionId,
    resource: query.resource,
    body: {
      sql: cut ? query.sql.slice(0, MAX_QUERY_TEXT_CHARS) : query.sql,
      protocol: query.protocol,
      ...(query.database ? { database: query.database } : {}),
      ...(cut ? { sqlChars: query.sql.length, truncated: true } : {}),
    },
  };
}
