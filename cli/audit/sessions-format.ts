// Tunnel sessions as the audit commands print them: a table for people (times in words, bytes in
// units, long reasons cut), CSV for a spreadsheet (every value whole and exact: ISO times in UTC,
// byte counts, the full reason).

import type { AuditSessionView } from '../../shared/wire.js';
import { actorName, cell, clockTime, span } from '../request-format.js';
import { toCsv, type CsvValue } from './csv.js';
import { bytes, endWords, safeCells } from './entry-words.js';

export const SESSION_TABLE_HEADERS = ['SESSION', 'OPENED', 'USER', 'RESOURCE', 'LASTED', 'UP', 'DOWN', 'QUERIES', 'END', 'REASON'] as const;

/** How long the session lasted, or "open" while it runs. */
export function lasted(session: AuditSessionView): string {
  if (session.closedAt === null) return 'open';
  return span(Date.parse(session.closedAt) - Date.parse(session.openedAt));
}

export function sessionTableRow(session: AuditSessionView, now: number): string[] {
  return safeCells([
    session.id,
    clockTime(Date.parse(session.openedAt), now),
    actorName(session.user),
    session.resource,
    lasted(session),
    bytes(session.bytesUp),
    bytes(session.bytesDown),
    session.queries === null ? '-' : String(session.queries),
    endWords(session.endReason),
    cell(session.reason),
  ]);
}

/** Columns of the CSV, named for a spreadsheet's first row. */
export const SESSION_CSV_HEADERS = [
  'session_id',
  'request_id',
  'user',
  'user_oid',
  'resource',
  'target',
  'client',
  'opened_at',
  'closed_at',
  'bytes_up',
  'bytes_down',
  'queries',
  'end_reason',
  'reason',
  'break_glass',
  'post_review_verdict',
  'post_reviewer',
  'post_reviewed_at',
  'post_review_comment',
] as const;

export function sessionCsvRow(session: AuditSessionView): CsvValue[] {
  return [
    session.id,
    session.requestId,
    session.user.upn,
    session.user.oid,
    session.resource,
    session.target,
    session.client,
    session.openedAt,
    session.closedAt,
    session.bytesUp,
    session.bytesDown,
    session.queries,
    session.endReason,
    session.reason,
    // Break-glass sessions carry their grant's post-review (empty while it waits, and for other grants).
    session.breakGlass === true ? 'yes' : 'no',
    session.postReview?.verdict ?? null,
    session.postReview?.reviewer.upn ?? null,
    session.postReview?.at ?? null,
    session.postReview?.comment ?? null,
  ];
}

export function sessionsCsv(sessions: readonly AuditSessionView[]): string {
  return toCsv(SESSION_CSV_HEADERS, sessions.map(sessionCsvRow));
}
