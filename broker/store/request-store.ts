// Access requests in SQLite or PostgreSQL: one `requests` row per request, its reviews in `reviews` (schema in
// migrations.ts). The broker loads a request, applies the pure state machine and saves the result
// inside one `transaction`, together with the audit entry for the change.

import { AccessError } from '../../shared/errors.js';
import type { AccessRequest, Actor, Extension, ExtensionState, PostReviewVerdict, RequestState, Review } from '../requests/types.js';
import type { Database } from './database.js';
import { constraintViolated } from './sql-errors.js';

/**
 * Default page of a listing: what fits a screen or a JSON page, and keeps the broker from
 * materialising a requester's whole history by accident.
 */
export const LIST_LIMIT_DEFAULT = 100;
/** Largest page a caller may ask for; more is an export, not a listing. */
export const LIST_LIMIT_MAX = 1_000;

/**
 * What admitting a tunnel or a forward-auth request needs of a live grant: which one, until when,
 * and whether it is break-glass (its requesters). Not its reviews or extensions, which would take
 * two more queries on every new tunnel.
 */
export interface LiveGrant {
  id: string;
  expiresAt: number;
  breakGlass: boolean;
}

export interface RequestStore {
  /**
   * Runs fn in one IMMEDIATE transaction; everything written inside commits or nothing does.
   * fn must be synchronous. Other stores on the same database (the audit log) join it.
   */
  transaction<T>(fn: () => T): T;
  /** Stores a new request (with its reviews, if any); store_conflict if the id is taken. */
  insert(request: AccessRequest): void;
  get(id: string): AccessRequest | null;
  /**
   * Replaces the stored request (state, reviews, timestamps) with `next`; throws if it does not
   * exist. Reviews are history: `next.reviews` must begin with the stored ones, so a `next` built
   * from a stale read (another review committed since) fails with store_conflict instead of
   * erasing that review. Read and save inside one `transaction` and that cannot happen.
   */
  save(next: AccessRequest): void;
  /** Newest first. */
  listByRequester(oid: string, options?: { states?: RequestState[]; limit?: number }): AccessRequest[];
  /**
   * One page of the requester's requests, newest first, strictly before `before` (a position from
   * an earlier page); `next` is where the page after it starts, null when there is none.
   */
  pageByRequester(oid: string, options: { states?: RequestState[]; limit: number; before: RowPosition | null }): StorePage;
  /**
   * One page of pending requests on `resources`, oldest first, strictly after `after`; `next` as
   * for pageByRequester. The approvers' queue reads it page by page.
   */
  pagePending(resources: readonly string[], options: { limit: number; after: RowPosition | null }): StorePage;
  /** How many of the requester's requests are pending and still open at `now` (the per-person cap). */
  countPending(oid: string, now: number): number;
  /** Newest first. */
  listByStates(states: RequestState[], options?: { resource?: string; limit?: number }): AccessRequest[];
  /**
   * Requests whose deadline is at or before `now`: pending with pendingUntil <= now, approved with
   * expiresAt <= now. Earliest deadline first. Not paged: the sweep must see every one.
   */
  listDue(now: number): AccessRequest[];
  /**
   * The earliest deadline (pendingUntil of pending, expiresAt of approved), or null when nothing is
   * open. It may already have passed (the broker was down): then listDue has work at once.
   */
  nextDeadline(): number | null;
  /** Break-glass grants on `resources` that wait for a post-review, oldest first (bounded by `limit`). */
  listUnreviewedBreakGlass(resources: readonly string[], limit: number): AccessRequest[];
  /** The requester's most recent requests on a resource (for `access review` context), newest first. */
  recentFor(requesterOid: string, resource: string, limit: number): AccessRequest[];
  /**
   * The requester's live grant on `resource` at `now` (approved, expiresAt after now) that lasts
   * longest, the newest of equals; null when there is none. One indexed read: every tunnel and
   * every forward-auth check asks it.
   */
  liveGrant(requesterOid: string, resource: string, now: number): LiveGrant | null;
  /**
   * When grant `id` ends if it is live at `now` (approved, expiresAt after now), else null (revoked,
   * expired, never approved, unknown). One read by primary key, without the reviews and extensions
   * `get` loads: a tunnel asks it again right after its dial, forward-auth before caching a decision.
   */
  liveUntil(id: string, now: number): number | null;
}

/** Open requests of one resource in one state; `live` counts approved ones whose grant has not yet expired. */
export interface OpenCount {
  resource: string;
  state: 'pending' | 'approved';
  count: number;
  live: number;
}

/** Where a page of a listing ordered by (created_at, rowid) ends. */
export interface RowPosition {
  at: number;
  row: number;
}

/** A page of requests and where the next page starts (a position in created_at, rowid order). */
export interface StorePage {
  requests: AccessRequest[];
  next: RowPosition | null;
}

/** A `requests` row, column for column. */
export interface RequestRow {
  id: string;
  resource: string;
  requester_oid: string;
  requester_upn: string | null;
  duration_ms: number;
  reason: string | null;
  ticket: string | null;
  state: RequestState;
  created_at: number;
  pending_until: number;
  approvals_required: number;
  granted_at: number | null;
  expires_at: number | null;
  closed_at: number | null;
  closed_by_oid: string | null;
  closed_by_upn: string | null;
  close_reason: string | null;
  auto_approved: 0 | 1;
  break_glass: 0 | 1;
  post_review_verdict: PostReviewVerdict | null;
  post_review_by_oid: string | null;
  post_review_by_upn: string | null;
  post_review_comment: string | null;
  post_review_at: number | null;
}

/** An `extensions` row, column for column. */
interface ExtensionRow {
  request_id: string;
  seq: number;
  duration_ms: number;
  reason: string | null;
  requested_at: number;
  state: ExtensionState;
  approvals_required: number;
  reviews: string;
  decided_at: number | null;
  previous_expires_at: number;
}

/** One review inside extensions.reviews. */
interface StoredExtensionReview {
  reviewerOid: string;
  reviewerUpn: string | null;
  decision: 'approve' | 'deny';
  comment: string | null;
  at: number;
}

/** A `requests` row read for a page, with its rowid (the tie-break of the listing order). */
interface PagedRow extends RequestRow {
  position: number;
}

/** A `reviews` row, column for column. */
interface ReviewRow {
  request_id: string;
  position: number;
  reviewer_oid: string;
  reviewer_upn: string | null;
  decision: 'approve' | 'deny';
  comment: string | null;
  at: number;
}

const REQUEST_COLUMNS = [
  'id',
  'resource',
  'requester_oid',
  'requester_upn',
  'duration_ms',
  'reason',
  'ticket',
  'state',
  'created_at',
  'pending_until',
  'approvals_required',
  'granted_at',
  'expires_at',
  'closed_at',
  'closed_by_oid',
  'closed_by_upn',
  'close_reason',
  'auto_approved',
  'break_glass',
  'post_review_verdict',
  'post_review_by_oid',
  'post_review_by_upn',
  'post_review_comment',
  'post_review_at',
] as const satisfies readonly (keyof RequestRow)[];

const REVIEW_COLUMNS = ['request_id', 'position', 'reviewer_oid', 'reviewer_upn', 'decision', 'comment', 'at'] as const satisfies readonly (keyof ReviewRow)[];

const EXTENSION_COLUMNS = [
  'request_id',
  'seq',
  'duration_ms',
  'reason',
  'requested_at',
  'state',
  'approvals_required',
  'reviews',
  'decided_at',
  'previous_expires_at',
] as const satisfies readonly (keyof ExtensionRow)[];

// Columns are named, never `*`: a PostgreSQL statement is prepared once per connection, and one
// whose `*` would widen (another broker added a column in a migration) fails until the broker
// restarts; named columns read the same whatever is added.
const REQUEST = REQUEST_COLUMNS.join(', ');
const REVIEW = REVIEW_COLUMNS.join(', ');
const EXTENSION = EXTENSION_COLUMNS.join(', ');

/** Newest first; rowid (insertion order) breaks ties between requests made in the same millisecond. */
const NEWEST_FIRST = 'ORDER BY created_at DESC, rowid DESC';

const SQL = {
  insertRequest: `INSERT INTO requests (${REQUEST}) VALUES (${REQUEST_COLUMNS.map((c) => `@${c}`).join(', ')})`,
  updateRequest: `UPDATE requests SET ${REQUEST_COLUMNS.filter((c) => c !== 'id')
    .map((c) => `${c} = @${c}`)
    .join(', ')} WHERE id = @id`,
  insertReview: `INSERT INTO reviews (request_id, position, reviewer_oid, reviewer_upn, decision, comment, at)
                 VALUES (@request_id, @position, @reviewer_oid, @reviewer_upn, @decision, @comment, @at)`,
  getRequest: `SELECT ${REQUEST} FROM requests WHERE id = ?`,
  reviewsOf: `SELECT ${REVIEW} FROM reviews WHERE request_id = ? ORDER BY position`,
  // Ids travel as one JSON array parameter so a single prepared statement serves any number.
  reviewsOfMany: `SELECT ${REVIEW} FROM reviews WHERE request_id IN (SELECT value FROM json_each(?)) ORDER BY request_id, position`,
  byRequester: `SELECT ${REQUEST} FROM requests
                WHERE requester_oid = @oid AND (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))
                ${NEWEST_FIRST} LIMIT @limit`,
  // Keyset pages: (created_at, rowid) is the listing order, so a page starts exactly where the last ended.
  pageByRequester: `SELECT ${REQUEST}, rowid AS position FROM requests
                    WHERE requester_oid = @oid AND (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))
                      AND (@at IS NULL OR created_at < @at OR (created_at = @at AND rowid < @row))
                    ${NEWEST_FIRST} LIMIT @limit`,
  // Pending requests, and live grants with an extension waiting: both wait for an approver.
  pagePending: `SELECT ${REQUEST}, rowid AS position FROM requests
                WHERE (state = 'pending'
                       OR (state = 'approved' AND EXISTS (SELECT 1 FROM extensions e WHERE e.request_id = requests.id AND e.state = 'pending')))
                  AND resource IN (SELECT value FROM json_each(@resources))
                  AND (@at IS NULL OR created_at > @at OR (created_at = @at AND rowid > @row))
                ORDER BY created_at, rowid LIMIT @limit`,
  countPending: `SELECT count(*) AS n FROM requests WHERE requester_oid = @oid AND state = 'pending' AND pending_until > @now`,
  // Only the open states, which the (state, …) indexes reach: a scrape never scans the closed history.
  countOpen: `SELECT resource, state, count(*) AS count, coalesce(sum(expires_at > @now), 0) AS live
    FROM requests WHERE state IN ('pending', 'approved') GROUP BY resource, state ORDER BY resource, state`,
  byStates: `SELECT ${REQUEST} FROM requests
             WHERE state IN (SELECT value FROM json_each(@states)) AND (@resource IS NULL OR resource = @resource)
             ${NEWEST_FIRST} LIMIT @limit`,
  // Two index range scans, one per state and its own deadline column.
  due: `SELECT * FROM (
          SELECT ${REQUEST}, pending_until AS deadline FROM requests WHERE state = 'pending' AND pending_until <= @now
          UNION ALL
          SELECT ${REQUEST}, expires_at AS deadline FROM requests WHERE state = 'approved' AND expires_at <= @now
        ) ORDER BY deadline, id`,
  nextDeadline: `SELECT min(deadline) AS deadline FROM (
                   SELECT min(pending_until) AS deadline FROM requests WHERE state = 'pending'
                   UNION ALL
                   SELECT min(expires_at) FROM requests WHERE state = 'approved'
                 )`,
  recentFor: `SELECT ${REQUEST} FROM requests WHERE requester_oid = ? AND resource = ? ${NEWEST_FIRST} LIMIT ?`,
  liveGrant: `SELECT id, expires_at, break_glass FROM requests
              WHERE requester_oid = @oid AND resource = @resource AND state = 'approved' AND expires_at > @now
              ORDER BY expires_at DESC, created_at DESC, rowid DESC LIMIT 1`,
  liveUntil: `SELECT expires_at FROM requests WHERE id = @id AND state = 'approved' AND expires_at > @now`,
  unreviewedBreakGlass: `SELECT ${REQUEST} FROM requests
                         WHERE break_glass = 1 AND post_review_verdict IS NULL AND resource IN (SELECT value FROM json_each(?))
                         ORDER BY created_at, rowid LIMIT ?`,
  extensionsOfMany: `SELECT ${EXTENSION} FROM extensions WHERE request_id IN (SELECT value FROM json_each(?)) ORDER BY request_id, seq`,
  countExtensions: 'SELECT count(*) AS n FROM extensions WHERE request_id = ?',
  upsertExtension: `INSERT INTO extensions (request_id, seq, duration_ms, reason, requested_at, state, approvals_required, reviews, decided_at, previous_expires_at)
                    VALUES (@request_id, @seq, @duration_ms, @reason, @requested_at, @state, @approvals_required, @reviews, @decided_at, @previous_expires_at)
                    ON CONFLICT (request_id, seq) DO UPDATE SET state = excluded.state, reviews = excluded.reviews, decided_at = excluded.decided_at`,
} as const;

/** The ids, states or resources a statement takes as one JSON array parameter, as rows of text. */
const JSON_VALUES = (parameter: string): string => `SELECT jsonb_array_elements_text(${parameter}::jsonb)`;

/**
 * The same statements for PostgreSQL: JSON array parameters through jsonb, nullable parameters
 * typed (PostgreSQL must know a parameter's type before `IS NULL`), subqueries named, and text
 * ties broken in byte order (COLLATE "C"), as SQLite's BINARY collation does, whatever the
 * database's own collation.
 */
const POSTGRES_SQL: Record<keyof typeof SQL, string> = {
  ...SQL,
  reviewsOfMany: `SELECT ${REVIEW} FROM reviews WHERE request_id IN (${JSON_VALUES('?')}) ORDER BY request_id, position`,
  byRequester: `SELECT ${REQUEST} FROM requests
                WHERE requester_oid = @oid AND (@states::jsonb IS NULL OR state IN (${JSON_VALUES('@states')}))
                ${NEWEST_FIRST} LIMIT @limit`,
  pageByRequester: `SELECT ${REQUEST}, rowid AS position FROM requests
                    WHERE requester_oid = @oid AND (@states::jsonb IS NULL OR state IN (${JSON_VALUES('@states')}))
                      AND (@at::bigint IS NULL OR created_at < @at OR (created_at = @at AND rowid < @row::bigint))
                    ${NEWEST_FIRST} LIMIT @limit`,
  pagePending: `SELECT ${REQUEST}, rowid AS position FROM requests
                WHERE (state = 'pending'
                       OR (state = 'approved' AND EXISTS (SELECT 1 FROM extensions e WHERE e.request_id = requests.id AND e.state = 'pending')))
                  AND resource IN (${JSON_VALUES('@resources')})
                  AND (@at::bigint IS NULL OR created_at > @at OR (created_at = @at AND rowid > @row::bigint))
                ORDER BY created_at, rowid LIMIT @limit`,
  countOpen: `SELECT resource, state, count(*) AS count, count(*) FILTER (WHERE expires_at > @now) AS live
    FROM requests WHERE state IN ('pending', 'approved') GROUP BY resource, state ORDER BY resource COLLATE "C", state COLLATE "C"`,
  byStates: `SELECT ${REQUEST} FROM requests
             WHERE state IN (${JSON_VALUES('@states')}) AND (@resource::text IS NULL OR resource = @resource)
             ${NEWEST_FIRST} LIMIT @limit`,
  due: `SELECT * FROM (
          SELECT ${REQUEST}, pending_until AS deadline FROM requests WHERE state = 'pending' AND pending_until <= @now
          UNION ALL
          SELECT ${REQUEST}, expires_at AS deadline FROM requests WHERE state = 'approved' AND expires_at <= @now
        ) AS due ORDER BY deadline, id COLLATE "C"`,
  nextDeadline: `SELECT min(deadline) AS deadline FROM (
                   SELECT min(pending_until) AS deadline FROM requests WHERE state = 'pending'
                   UNION ALL
                   SELECT min(expires_at) FROM requests WHERE state = 'approved'
                 ) AS deadlines`,
  unreviewedBreakGlass: `SELECT ${REQUEST} FROM requests
                         WHERE break_glass = 1 AND post_review_verdict IS NULL AND resource IN (${JSON_VALUES('?')})
                         ORDER BY created_at, rowid LIMIT ?`,
  extensionsOfMany: `SELECT ${EXTENSION} FROM extensions WHERE request_id IN (${JSON_VALUES('?')}) ORDER BY request_id, seq`,
};

export class SqlRequestStore implements RequestStore {
  // Prepared once: preparing is the expensive part of a better-sqlite3 statement.
  readonly #statements;

  constructor(private readonly db: Database) {
    const sql = db.dialect === 'postgres' ? POSTGRES_SQL : SQL;
    this.#statements = {
      insertRequest: db.prepare<RequestRow>(sql.insertRequest),
      updateRequest: db.prepare<RequestRow>(sql.updateRequest),
      insertReview: db.prepare<ReviewRow>(sql.insertReview),
      getRequest: db.prepare<[string], RequestRow>(sql.getRequest),
      reviewsOf: db.prepare<[string], ReviewRow>(sql.reviewsOf),
      reviewsOfMany: db.prepare<[string], ReviewRow>(sql.reviewsOfMany),
      byRequester: db.prepare<{ oid: string; states: string | null; limit: number }, RequestRow>(sql.byRequester),
      pageByRequester: db.prepare<{ oid: string; states: string | null; at: number | null; row: number | null; limit: number }, PagedRow>(sql.pageByRequester),
      pagePending: db.prepare<{ resources: string; at: number | null; row: number | null; limit: number }, PagedRow>(sql.pagePending),
      countPending: db.prepare<{ oid: string; now: number }, { n: number }>(sql.countPending),
      countOpen: db.prepare<{ now: number }, OpenCount>(sql.countOpen),
      byStates: db.prepare<{ states: string; resource: string | null; limit: number }, RequestRow>(sql.byStates),
      due: db.prepare<{ now: number }, RequestRow>(sql.due),
      nextDeadline: db.prepare<[], { deadline: number | null }>(sql.nextDeadline),
      recentFor: db.prepare<[string, string, number], RequestRow>(sql.recentFor),
      liveGrant: db.prepare<{ oid: string; resource: string; now: number }, Pick<RequestRow, 'id' | 'expires_at' | 'break_glass'>>(sql.liveGrant),
      liveUntil: db.prepare<{ id: string; now: number }, number>(sql.liveUntil).pluck(),
      unreviewedBreakGlass: db.prepare<[string, number], RequestRow>(sql.unreviewedBreakGlass),
      extensionsOfMany: db.prepare<[string], ExtensionRow>(sql.extensionsOfMany),
      countExtensions: db.prepare<[string], { n: number }>(sql.countExtensions),
      upsertExtension: db.prepare<ExtensionRow>(sql.upsertExtension),
    };
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn);
  }

  insert(request: AccessRequest): void {
    this.transaction(() => {
      try {
        this.#statements.insertRequest.run(toRow(request));
      } catch (error) {
        if (constraintViolated(error) === 'primary_key') {
          throw new AccessError('store_conflict', `a request with id "${request.id}" already exists; new requests need a fresh id`, { cause: error });
        }
        throw error;
      }
      this.#appendReviews(request, 0);
      this.#saveExtensions(request);
    });
  }

  get(id: string): AccessRequest | null {
    const row = this.#statements.getRequest.get(id);
    if (!row) return null;
    return toRequest(row, this.#statements.reviewsOf.all(id).map(toReview), this.#extensionsOf([id]).get(id) ?? []);
  }

  save(next: AccessRequest): void {
    this.transaction(() => {
      const { changes } = this.#statements.updateRequest.run(toRow(next));
      if (changes === 0) {
        throw new AccessError('request_not_found', `request "${next.id}" is not stored, so it cannot be saved; insert it first`);
      }
      const stored = this.#statements.reviewsOf.all(next.id).map(toReview);
      assertExtends(next, stored);
      this.#appendReviews(next, stored.length);
      const storedExtensions = this.#statements.countExtensions.get(next.id)?.n ?? 0;
      if (next.extensions.length < storedExtensions) {
        throw new AccessError(
          'store_conflict',
          `request "${next.id}" changed since it was read: it has ${storedExtensions} extensions, the update ${next.extensions.length}; read it again`,
        );
      }
      this.#saveExtensions(next);
    });
  }

  /** Extensions are few per grant: each is written as it stands (insert, or its state and reviews updated). */
  #saveExtensions(request: AccessRequest): void {
    for (const extension of request.extensions) this.#statements.upsertExtension.run(toExtensionRow(request.id, extension));
  }

  /** The extensions of each of `ids`, oldest first. */
  #extensionsOf(ids: readonly string[]): Map<string, Extension[]> {
    const found = new Map<string, Extension[]>();
    for (const row of this.#statements.extensionsOfMany.all(JSON.stringify(ids))) {
      const list = found.get(row.request_id) ?? [];
      list.push(toExtension(row));
      found.set(row.request_id, list);
    }
    return found;
  }

  listByRequester(oid: string, options: { states?: RequestState[]; limit?: number } = {}): AccessRequest[] {
    const limit = checkLimit(options.limit ?? LIST_LIMIT_DEFAULT);
    if (options.states?.length === 0) return [];
    const states = options.states ? JSON.stringify(options.states) : null;
    return this.#withReviews(this.#statements.byRequester.all({ oid, states, limit }));
  }

  pageByRequester(oid: string, options: { states?: RequestState[]; limit: number; before: RowPosition | null }): StorePage {
    const limit = checkLimit(options.limit);
    if (options.states?.length === 0) return { requests: [], next: null };
    const states = options.states ? JSON.stringify(options.states) : null;
    const at = options.before?.at ?? null;
    const row = options.before?.row ?? null;
    return this.#page(this.#statements.pageByRequester.all({ oid, states, at, row, limit: limit + 1 }), limit);
  }

  pagePending(resources: readonly string[], options: { limit: number; after: RowPosition | null }): StorePage {
    const limit = checkLimit(options.limit);
    if (resources.length === 0) return { requests: [], next: null };
    const at = options.after?.at ?? null;
    const row = options.after?.row ?? null;
    return this.#page(this.#statements.pagePending.all({ resources: JSON.stringify(resources), at, row, limit: limit + 1 }), limit);
  }

  /** `rows` were read one past `limit`: that extra row only says whether a next page exists. */
  #page(rows: PagedRow[], limit: number): StorePage {
    const shown = rows.slice(0, limit);
    const last = shown.at(-1);
    const next = rows.length > limit && last ? { at: last.created_at, row: last.position } : null;
    return { requests: this.#withReviews(shown), next };
  }

  countPending(oid: string, now: number): number {
    return this.#statements.countPending.get({ oid, now })?.n ?? 0;
  }

  /** Pending and approved requests per resource, and how many of the approved are live grants at `now` (the metrics). */
  countOpen(now: number): OpenCount[] {
    return this.#statements.countOpen.all({ now });
  }

  listByStates(states: RequestState[], options: { resource?: string; limit?: number } = {}): AccessRequest[] {
    const limit = checkLimit(options.limit ?? LIST_LIMIT_DEFAULT);
    if (states.length === 0) return [];
    return this.#withReviews(this.#statements.byStates.all({ states: JSON.stringify(states), resource: options.resource ?? null, limit }));
  }

  listDue(now: number): AccessRequest[] {
    return this.#withReviews(this.#statements.due.all({ now }));
  }

  nextDeadline(): number | null {
    return this.#statements.nextDeadline.get()?.deadline ?? null;
  }

  listUnreviewedBreakGlass(resources: readonly string[], limit: number): AccessRequest[] {
    if (resources.length === 0) return [];
    return this.#withReviews(this.#statements.unreviewedBreakGlass.all(JSON.stringify(resources), checkLimit(limit)));
  }

  recentFor(requesterOid: string, resource: string, limit: number): AccessRequest[] {
    return this.#withReviews(this.#statements.recentFor.all(requesterOid, resource, checkLimit(limit)));
  }

  liveGrant(requesterOid: string, resource: string, now: number): LiveGrant | null {
    const row = this.#statements.liveGrant.get({ oid: requesterOid, resource, now });
    // expires_at > now: an approved row with an end.
    return row ? { id: row.id, expiresAt: row.expires_at as number, breakGlass: row.break_glass === 1 } : null;
  }

  liveUntil(id: string, now: number): number | null {
    return this.#statements.liveUntil.get({ id, now }) ?? null;
  }

  #appendReviews(request: AccessRequest, from: number): void {
    request.reviews.slice(from).forEach((review, offset) => {
      try {
        this.#statements.insertReview.run(toReviewRow(request.id, from + offset, review));
      } catch (error) {
        if (constraintViolated(error) === 'unique') {
          throw new AccessError('store_conflict', `request "${request.id}" already has a review by "${review.reviewer.oid}"; a reviewer counts once`, {
            cause: error,
          });
        }
        throw error;
      }
    });
  }

  /** Loads the reviews of all `rows` in one query rather than one per request. */
  #withReviews(rows: RequestRow[]): AccessRequest[] {
    if (rows.length === 0) return [];
    const reviews = new Map<string, Review[]>();
    for (const row of this.#statements.reviewsOfMany.all(JSON.stringify(rows.map((r) => r.id)))) {
      const list = reviews.get(row.request_id) ?? [];
      list.push(toReview(row));
      reviews.set(row.request_id, list);
    }
    const extensions = this.#extensionsOf(rows.map((r) => r.id));
    return rows.map((row) => toRequest(row, reviews.get(row.id) ?? [], extensions.get(row.id) ?? []));
  }
}

function toRow(request: AccessRequest): RequestRow {
  return {
    id: request.id,
    resource: request.resource,
    requester_oid: request.requester.oid,
    requester_upn: request.requester.upn,
    duration_ms: request.durationMs,
    reason: request.reason,
    ticket: request.ticket,
    state: request.state,
    created_at: request.createdAt,
    pending_until: request.pendingUntil,
    approvals_required: request.approvalsRequired,
    granted_at: request.grantedAt,
    expires_at: request.expiresAt,
    closed_at: request.closedAt,
    closed_by_oid: request.closedBy?.oid ?? null,
    closed_by_upn: request.closedBy?.upn ?? null,
    close_reason: request.closeReason,
    auto_approved: request.autoApproved ? 1 : 0,
    break_glass: request.breakGlass ? 1 : 0,
    post_review_verdict: request.postReview?.verdict ?? null,
    post_review_by_oid: request.postReview?.reviewer.oid ?? null,
    post_review_by_upn: request.postReview?.reviewer.upn ?? null,
    post_review_comment: request.postReview?.comment ?? null,
    post_review_at: request.postReview?.at ?? null,
  };
}

function toExtensionRow(requestId: string, extension: Extension): ExtensionRow {
  const reviews: StoredExtensionReview[] = extension.reviews.map((r) => ({
    reviewerOid: r.reviewer.oid,
    reviewerUpn: r.reviewer.upn,
    decision: r.decision,
    comment: r.comment,
    at: r.at,
  }));
  return {
    request_id: requestId,
    seq: extension.seq,
    duration_ms: extension.durationMs,
    reason: extension.reason,
    requested_at: extension.requestedAt,
    state: extension.state,
    approvals_required: extension.approvalsRequired,
    reviews: JSON.stringify(reviews),
    decided_at: extension.decidedAt,
    previous_expires_at: extension.previousExpiresAt,
  };
}

function toExtension(row: ExtensionRow): Extension {
  const reviews = (JSON.parse(row.reviews) as StoredExtensionReview[]).map(
    (r): Review => ({ reviewer: actor(r.reviewerOid, r.reviewerUpn), decision: r.decision, comment: r.comment, at: r.at }),
  );
  return {
    seq: row.seq,
    durationMs: row.duration_ms,
    reason: row.reason,
    requestedAt: row.requested_at,
    state: row.state,
    approvalsRequired: row.approvals_required,
    reviews,
    decidedAt: row.decided_at,
    previousExpiresAt: row.previous_expires_at,
  };
}

function toRequest(row: RequestRow, reviews: Review[], extensions: Extension[]): AccessRequest {
  return {
    id: row.id,
    resource: row.resource,
    requester: actor(row.requester_oid, row.requester_upn),
    durationMs: row.duration_ms,
    reason: row.reason,
    ticket: row.ticket,
    state: row.state,
    createdAt: row.created_at,
    pendingUntil: row.pending_until,
    approvalsRequired: row.approvals_required,
    reviews,
    grantedAt: row.granted_at,
    expiresAt: row.expires_at,
    closedAt: row.closed_at,
    closedBy: row.closed_by_oid === null ? null : actor(row.closed_by_oid, row.closed_by_upn),
    closeReason: row.close_reason,
    autoApproved: row.auto_approved === 1,
    extensions,
    breakGlass: row.break_glass === 1,
    postReview:
      row.post_review_verdict === null || row.post_review_by_oid === null
        ? null
        : {
            reviewer: actor(row.post_review_by_oid, row.post_review_by_upn),
            verdict: row.post_review_verdict,
            comment: row.post_review_comment ?? '',
            at: row.post_review_at ?? 0,
          },
  };
}

function toReviewRow(requestId: string, position: number, review: Review): ReviewRow {
  return {
    request_id: requestId,
    position,
    reviewer_oid: review.reviewer.oid,
    reviewer_upn: review.reviewer.upn,
    decision: review.decision,
    comment: review.comment,
    at: review.at,
  };
}

function toReview(row: ReviewRow): Review {
  return { reviewer: actor(row.reviewer_oid, row.reviewer_upn), decision: row.decision, comment: row.comment, at: row.at };
}

function actor(oid: string, upn: string | null): Actor {
  return { oid, upn };
}

/** Refuses a `next` whose reviews do not start with the stored ones (see RequestStore.save). */
function assertExtends(next: AccessRequest, stored: readonly Review[]): void {
  const rewritten = stored.findIndex((review, i) => {
    const candidate = next.reviews[i];
    return candidate === undefined || !sameReview(review, candidate);
  });
  if (rewritten === -1) return;
  const was = stored[rewritten] as Review;
  throw new AccessError(
    'store_conflict',
    `request "${next.id}" changed since it was read: its review #${rewritten + 1} by "${was.reviewer.oid}" is missing or different in the update; ` +
      'read the request again and reapply the change',
  );
}

function sameReview(a: Review, b: Review): boolean {
  return a.reviewer.oid === b.reviewer.oid && a.reviewer.upn === b.reviewer.upn && a.decision === b.decision && a.comment === b.comment && a.at === b.at;
}

function checkLimit(limit: number): number {
  if (Number.isInteger(limit) && limit >= 1 && limit <= LIST_LIMIT_MAX) return limit;
  throw new AccessError('bad_request', `limit ${limit} is not a whole number from 1 to ${LIST_LIMIT_MAX}`);
}
