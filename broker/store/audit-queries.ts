// What auditors ask the log: sessions by user, resource and time (from the indexed `sessions` table
// the tunnel writes, broker/store/session-store.ts), the whole story of a request or session, and
// the raw entries in sequence order for `events --follow` and `export`.

import { AccessError } from '../../shared/errors.js';
import type { AuditEntryView, AuditEventsResponse, AuditSessionView, AuditShowResponse, PostReviewVerdict } from '../../shared/wire.js';
import type { Database } from './database.js';
import { SqlSessionStore, type SessionRecord } from './session-store.js';
import { AUDIT_COLUMNS, toEntryView, type AuditRow } from '../audit/entry.js';
import type { RequestRow, RowPosition } from './request-store.js';

/** A page of `sessions`: a screen or a JSON page; more is an export. */
export const SESSIONS_LIMIT_DEFAULT = 100;
export const SESSIONS_LIMIT_MAX = 1_000;
/** A page of raw events: large enough that an export of a million entries is a thousand calls, small enough to answer in milliseconds. */
export const EVENTS_LIMIT_DEFAULT = 1_000;
export const EVENTS_LIMIT_MAX = 10_000;
/** Entries in one `show`: the request, its reviews and a few sessions fit with room; a session of a million queries is cut (`truncated`). */
export const SHOW_LIMIT_DEFAULT = 5_000;
export const SHOW_LIMIT_MAX = 50_000;

export interface SessionQuery {
  /** Object id, or UPN (any case). */
  user?: string;
  resource?: string;
  /** Sessions opened at or after this instant (ms). */
  since?: number;
  /** Sessions opened before this instant (ms). */
  until?: number;
  limit?: number;
  /** Only sessions under break-glass grants. */
  breakGlass?: boolean;
  /** Only sessions after this position in the listing (newest first): where the previous page ended. */
  before?: RowPosition;
}

export interface EventsQuery {
  /** Entries after this seq (0: from the start). */
  afterSeq?: number;
  /** Only entries whose `at` is at or after this instant (ms). */
  since?: number;
  limit?: number;
}

type SessionParams = { user?: string; resource?: string; since?: number; until?: number; breakGlass?: 1; at?: number; row?: number; limit: number };

/** What a session's view takes from the grant it ran under. */
type GrantRow = Pick<
  RequestRow,
  'reason' | 'break_glass' | 'post_review_verdict' | 'post_review_by_oid' | 'post_review_by_upn' | 'post_review_comment' | 'post_review_at'
>;

const SQL = {
  head: 'SELECT max(seq) AS seq FROM audit_log',
  page: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?`,
  // `+at` keeps the planner on the primary key: the page is in seq order, `at` only filters.
  pageSince: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? AND +at >= ? ORDER BY seq LIMIT ?`,
  // A range scan of the covering `at` index; `at` is nearly in seq order, not exactly (batches).
  firstSince: 'SELECT min(seq) AS seq FROM audit_log INDEXED BY audit_log_at WHERE at >= ?',
  bySubject: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE subject = ? AND seq > ? ORDER BY seq LIMIT ?`,
  // What the client asked of the target: Postgres and MySQL statements, http requests, grpc calls.
  queryCount: "SELECT count(*) AS n FROM audit_log WHERE subject = ? AND type IN ('pg.query', 'mysql.query', 'http.request', 'grpc.call')",
  // Why the person had access: an auditor reads a session next to the reason of its grant.
  // …and whether it was break-glass, with its post-review.
  grantOf:
    'SELECT reason, break_glass, post_review_verdict, post_review_by_oid, post_review_by_upn, post_review_comment, post_review_at FROM requests WHERE id = ?',
  // A user by oid, or by UPN in any case: sessions_user_upn_started indexes the UPN without case.
  userTerm: '(user_oid = @user OR user_upn = @user COLLATE NOCASE)',
} as const;

/** The same for PostgreSQL, whose planner needs no hints, and whose index on the UPN is on lower(user_upn). */
const POSTGRES_SQL: Record<keyof typeof SQL, string> = {
  ...SQL,
  pageSince: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq > ? AND at >= ? ORDER BY seq LIMIT ?`,
  firstSince: 'SELECT min(seq) AS seq FROM audit_log WHERE at >= ?',
  userTerm: '(user_oid = @user OR lower(user_upn) = lower(@user))',
};

export class AuditQueries {
  readonly #db: Database;
  readonly #sessions: SqlSessionStore;
  /** One prepared statement per combination of filters, so each can use its index. */
  readonly #sessionLists = new Map<string, ReturnType<Database['prepare']>>();
  readonly #sql: Record<keyof typeof SQL, string>;
  readonly #statements;

  constructor(db: Database) {
    this.#db = db;
    this.#sessions = new SqlSessionStore(db);
    this.#sql = db.dialect === 'postgres' ? POSTGRES_SQL : SQL;
    this.#statements = {
      head: db.prepare<[], { seq: number | null }>(this.#sql.head),
      page: db.prepare<[number, number], AuditRow>(this.#sql.page),
      pageSince: db.prepare<[number, number, number], AuditRow>(this.#sql.pageSince),
      firstSince: db.prepare<[number], { seq: number | null }>(this.#sql.firstSince),
      bySubject: db.prepare<[string, number, number], AuditRow>(this.#sql.bySubject),
      queryCount: db.prepare<[string], { n: number }>(this.#sql.queryCount),
      grantOf: db.prepare<[string], GrantRow>(this.#sql.grantOf),
    };
  }

  /** The newest seq (0 for an empty log). */
  headSeq(): number {
    return this.#statements.head.get()?.seq ?? 0;
  }

  /** Sessions matching every given filter, newest first. */
  sessions(query: SessionQuery = {}): AuditSessionView[] {
    return this.sessionsPage(query).sessions;
  }

  /** One page of `sessions`, and where the next page starts (null: this is the last). */
  sessionsPage(query: SessionQuery = {}): { sessions: AuditSessionView[]; next: RowPosition | null } {
    const limit = checkLimit(query.limit ?? SESSIONS_LIMIT_DEFAULT, SESSIONS_LIMIT_MAX);
    // One row past the page says whether a next page exists.
    const params: SessionParams = { limit: limit + 1 };
    if (query.user !== undefined) params.user = query.user;
    if (query.resource !== undefined) params.resource = query.resource;
    if (query.since !== undefined) params.since = query.since;
    if (query.until !== undefined) params.until = query.until;
    if (query.breakGlass) params.breakGlass = 1;
    if (query.before !== undefined) {
      params.at = query.before.at;
      params.row = query.before.row;
    }
    const rows = this.#sessionList(params).all(params) as { id: string; at: number; row: number }[];
    const shown = rows.slice(0, limit);
    const last = shown.at(-1);
    const sessions = shown.flatMap(({ id }) => {
      const record = this.#sessions.get(id);
      return record ? [this.#sessionView(record)] : [];
    });
    return { sessions, next: rows.length > limit && last ? { at: last.at, row: last.row } : null };
  }

  /** Entries in seq order after `afterSeq`, optionally only those at or after `since`. */
  events(query: EventsQuery = {}): AuditEventsResponse {
    const afterSeq = query.afterSeq ?? 0;
    const limit = checkLimit(query.limit ?? EVENTS_LIMIT_DEFAULT, EVENTS_LIMIT_MAX);
    const headSeq = this.headSeq();
    let rows: AuditRow[];
    if (query.since === undefined) {
      rows = this.#statements.page.all(afterSeq, limit);
    } else {
      const first = this.#statements.firstSince.get(query.since)?.seq ?? null;
      rows = first === null ? [] : this.#statements.pageSince.all(Math.max(afterSeq, first - 1), query.since, limit);
    }
    const entries = rows.map(toEntryView);
    return { entries, nextAfterSeq: entries.at(-1)?.seq ?? afterSeq, headSeq };
  }

  /**
   * The whole story of a request (its entries, then every session run under it with its queries)
   * or of a session (the request it ran under, and its own entries), in log order.
   */
  /** The story of a request or session; `afterSeq` continues one that was `truncated` (entries after that seq). */
  show(id: string, limit = SHOW_LIMIT_DEFAULT, afterSeq = 0): AuditShowResponse {
    checkLimit(limit, SHOW_LIMIT_MAX);
    const session = this.#sessions.get(id);
    const sessions = session ? [session] : this.#sessions.listByRequest(id);
    const requestId = session ? session.requestId : id;
    const subjects = [requestId, ...sessions.map((s) => s.id)];
    // limit + 1 of each, so a cut is noticed.
    const rows = subjects.flatMap((subject) => this.#statements.bySubject.all(subject, afterSeq, limit + 1));
    if (rows.length === 0 && !session && afterSeq === 0) {
      throw new AccessError(
        'audit_subject_not_found',
        `No audit entries for "${id}" — find request and session ids with \`access audit sessions\` or \`access audit events\`.`,
      );
    }
    rows.sort((a, b) => a.seq - b.seq);
    const entries: AuditEntryView[] = rows.slice(0, limit).map(toEntryView);
    return {
      id,
      kind: session ? 'session' : 'request',
      requestId,
      sessions: sessions.map((s) => this.#sessionView(s)),
      entries,
      truncated: rows.length > limit,
    };
  }

  #sessionView(record: SessionRecord): AuditSessionView {
    return {
      id: record.id,
      requestId: record.requestId,
      user: record.user,
      resource: record.resource,
      target: record.target,
      client: record.clientAddress,
      openedAt: new Date(record.startedAt).toISOString(),
      closedAt: record.endedAt === null ? null : new Date(record.endedAt).toISOString(),
      bytesUp: record.bytesUp,
      bytesDown: record.bytesDown,
      endReason: record.reason,
      queries: this.#statements.queryCount.get(record.id)?.n ?? 0,
      ...grantFields(this.#statements.grantOf.get(record.requestId)),
    };
  }

  /**
   * Only the filters given appear in the SQL: a `(@x IS NULL OR col = @x)` term would keep SQLite
   * from using the index on col. A user is matched by oid or by UPN (two indexes, one OR).
   */
  #sessionList(params: SessionParams): ReturnType<Database['prepare']> {
    const terms: string[] = [];
    if (params.user !== undefined) terms.push(this.#sql.userTerm);
    if (params.resource !== undefined) terms.push('resource = @resource');
    if (params.since !== undefined) terms.push('started_at >= @since');
    if (params.until !== undefined) terms.push('started_at < @until');
    if (params.breakGlass !== undefined) terms.push('request_id IN (SELECT id FROM requests WHERE break_glass = @breakGlass)');
    if (params.at !== undefined) terms.push('(started_at < @at OR (started_at = @at AND rowid < @row))');
    const key = terms.join(' AND ');
    let statement = this.#sessionLists.get(key);
    if (!statement) {
      const where = terms.length > 0 ? `WHERE ${key}` : '';
      statement = this.#db.prepare(`SELECT id, started_at AS at, rowid AS row FROM sessions ${where} ORDER BY started_at DESC, rowid DESC LIMIT @limit`);
      this.#sessionLists.set(key, statement);
    }
    return statement;
  }
}

function grantFields(grant: GrantRow | undefined): Pick<AuditSessionView, 'reason' | 'breakGlass' | 'postReview'> {
  if (!grant) return { reason: null, breakGlass: false, postReview: null };
  const reviewed = grant.post_review_verdict !== null && grant.post_review_by_oid !== null;
  return {
    reason: grant.reason,
    breakGlass: grant.break_glass === 1,
    postReview: reviewed
      ? {
          reviewer: { oid: grant.post_review_by_oid as string, upn: grant.post_review_by_upn },
          verdict: grant.post_review_verdict as PostReviewVerdict,
          comment: grant.post_review_comment ?? '',
          at: new Date(grant.post_review_at ?? 0).toISOString(),
        }
      : null,
  };
}

function checkLimit(limit: number, max: number): number {
  if (Number.isInteger(limit) && limit >= 1 && limit <= max) return limit;
  throw new AccessError('bad_request', `limit ${limit} is not a whole number from 1 to ${max}`);
}
