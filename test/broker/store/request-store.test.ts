import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AccessRequest } from '../../../broker/requests/types.js';
import type { Database } from '../../../broker/store/database.js';
import { LIST_LIMIT_MAX, type RowPosition, SqlRequestStore, type StorePage } from '../../../broker/store/request-store.js';
import { AccessError } from '../../../shared/errors.js';
import { STORE_KINDS, openPostgresSchema, openStoreDatabase } from '../../helpers/store-databases.js';
import { HOUR, MINUTE, T0, approval, approvedRequest, pendingRequest } from './sample-requests.js';

function codeOf(action: () => unknown): string | null {
  try {
    action();
    return null;
  } catch (error) {
    if (error instanceof AccessError) return error.code;
    throw error;
  }
}

const ids = (requests: AccessRequest[]): string[] => requests.map((r) => r.id);

describe.each(STORE_KINDS)('on %s', (kind) => {
  let db: Database;
  let store: SqlRequestStore;

  beforeEach(() => {
    db = openStoreDatabase(kind);
    store = new SqlRequestStore(db);
  });

  afterEach(() => {
    db.close();
  });

  describe('round trip', () => {
    it('returns every field of a closed request as stored, reviews in their order', () => {
      // Same instant for both reviews and oids in reverse alphabetical order: only the stored
      // position can give the order back.
      const revoked: AccessRequest = {
        ...pendingRequest({ id: 'req-revoked' }),
        state: 'revoked',
        reviews: [approval('oid-zed', T0 + MINUTE, 'looks fine'), { ...approval('oid-amy', T0 + MINUTE), reviewer: { oid: 'oid-amy', upn: null } }],
        grantedAt: T0 + MINUTE,
        expiresAt: T0 + MINUTE + HOUR,
        closedAt: T0 + 30 * MINUTE,
        closedBy: { oid: 'oid-sec', upn: 'sec@contoso.test' },
        closeReason: 'incident over',
      };
      store.insert(revoked);
      expect(store.get('req-revoked')).toEqual(revoked);
    });

    it('keeps nulls as nulls and booleans as booleans', () => {
      const bare: AccessRequest = {
        ...pendingRequest({ id: 'req-bare' }),
        requester: { oid: 'oid-bob', upn: null },
        reason: null,
        ticket: null,
        state: 'cancelled',
        closedAt: T0 + 5,
        closedBy: { oid: 'oid-bob', upn: null },
      };
      const auto: AccessRequest = { ...approvedRequest(pendingRequest({ id: 'req-auto', approvalsRequired: 0 }), T0), autoApproved: true };
      store.insert(bare);
      store.insert(auto);
      expect(store.get('req-bare')).toEqual(bare);
      expect(store.get('req-auto')).toEqual(auto);
      expect(store.get('req-auto')?.autoApproved).toBe(true);
      expect(store.get('req-bare')?.autoApproved).toBe(false);
    });

    it('answers null for an id it does not hold', () => {
      expect(store.get('req-unknown')).toBeNull();
    });

    it('refuses a second request with the same id', () => {
      store.insert(pendingRequest());
      expect(codeOf(() => store.insert(pendingRequest({ resource: 'other' })))).toBe('store_conflict');
      expect(store.get('req-1')?.resource).toBe('prod-db');
    });
  });

  describe('save', () => {
    it('replaces state, timestamps and reviews', () => {
      const pending = pendingRequest();
      store.insert(pending);
      const oneReview = { ...pending, reviews: [approval('oid-bob', T0 + 1)] };
      store.save(oneReview);
      expect(store.get('req-1')).toEqual(oneReview);

      const approved = approvedRequest(oneReview, T0 + 2, [...oneReview.reviews, approval('oid-carol', T0 + 2, 'ok')]);
      store.save(approved);
      expect(store.get('req-1')).toEqual(approved);
    });

    it('refuses to save a request that was never inserted', () => {
      expect(codeOf(() => store.save(pendingRequest({ id: 'req-ghost' })))).toBe('request_not_found');
      expect(store.get('req-ghost')).toBeNull();
    });

    it('refuses an update built from a stale read, which would erase a committed review', () => {
      const pending = pendingRequest();
      store.insert(pending);
      store.save({ ...pending, reviews: [approval('oid-bob', T0 + 1)] });
      // Built from the read before bob's review: carol's review alone.
      const stale = { ...pending, reviews: [approval('oid-carol', T0 + 2)] };
      expect(codeOf(() => store.save(stale))).toBe('store_conflict');
      expect(store.get('req-1')?.reviews).toEqual([approval('oid-bob', T0 + 1)]);
    });

    it('lets the database refuse a second review by the same reviewer', () => {
      const pending = pendingRequest();
      store.insert(pending);
      const twice = {
        ...pending,
        state: 'approved' as const,
        grantedAt: T0 + 2,
        expiresAt: T0 + 2 + HOUR,
        reviews: [approval('oid-bob', T0 + 1), approval('oid-bob', T0 + 2)],
      };
      expect(codeOf(() => store.save(twice))).toBe('store_conflict');
      // The whole save rolled back, the state change with it.
      expect(store.get('req-1')).toEqual(pending);
    });
  });

  describe('transaction', () => {
    it('writes nothing when fn throws halfway', () => {
      const pending = pendingRequest();
      store.insert(pending);
      expect(() =>
        store.transaction(() => {
          store.insert(pendingRequest({ id: 'req-2' }));
          store.save(approvedRequest(pending, T0 + 1, [approval('oid-bob', T0 + 1)]));
          throw new Error('crash before the audit entry');
        }),
      ).toThrow('crash before the audit entry');
      expect(store.get('req-1')).toEqual(pending);
      expect(store.get('req-2')).toBeNull();
    });

    it('commits everything fn wrote and returns its value', () => {
      const result = store.transaction(() => {
        store.insert(pendingRequest({ id: 'req-a' }));
        store.insert(pendingRequest({ id: 'req-b' }));
        return 'done';
      });
      expect(result).toBe('done');
      expect(ids(store.listByStates(['pending']))).toEqual(['req-b', 'req-a']);
    });

    it('refuses an async fn and rolls back what it wrote before its first await', async () => {
      let pendingWork: Promise<void> | undefined;
      expect(() =>
        store.transaction(() => {
          store.insert(pendingRequest({ id: 'req-async' }));
          pendingWork = Promise.resolve();
          return pendingWork;
        }),
      ).toThrow(/must be synchronous/);
      await pendingWork;
      expect(store.get('req-async')).toBeNull();
    });
  });

  describe('listings', () => {
    beforeEach(() => {
      store.insert(pendingRequest({ id: 'a-old', createdAt: T0 }));
      store.insert(pendingRequest({ id: 'a-mid', createdAt: T0 + 10, resource: 'prod-ssh' }));
      store.insert({
        ...pendingRequest({ id: 'a-new', createdAt: T0 + 20 }),
        state: 'denied',
        closedAt: T0 + 25,
        reviews: [{ ...approval('oid-dba', T0 + 25), decision: 'deny' }],
      });
      // Same millisecond as a-new, inserted later: insertion order breaks the tie.
      store.insert(pendingRequest({ id: 'a-tie', createdAt: T0 + 20 }));
      store.insert(pendingRequest({ id: 'b-1', createdAt: T0 + 15, requester: { oid: 'oid-bob', upn: null } }));
    });

    it('lists a requester’s requests newest first, with their reviews', () => {
      const mine = store.listByRequester('oid-alice');
      expect(ids(mine)).toEqual(['a-tie', 'a-new', 'a-mid', 'a-old']);
      expect(mine[1]?.reviews.map((r) => r.decision)).toEqual(['deny']);
    });

    it('filters a requester’s requests by state and limit', () => {
      expect(ids(store.listByRequester('oid-alice', { states: ['pending'] }))).toEqual(['a-tie', 'a-mid', 'a-old']);
      expect(ids(store.listByRequester('oid-alice', { states: ['denied', 'approved'] }))).toEqual(['a-new']);
      expect(ids(store.listByRequester('oid-alice', { limit: 2 }))).toEqual(['a-tie', 'a-new']);
      expect(store.listByRequester('oid-alice', { states: [] })).toEqual([]);
      expect(store.listByRequester('oid-nobody')).toEqual([]);
    });

    it('finds the live grant on a resource that lasts longest, the newest of equals, and only a live one', () => {
      const grant = (id: string, createdAt: number, durationMs: number, overrides: Partial<AccessRequest> = {}): AccessRequest =>
        approvedRequest(pendingRequest({ id, createdAt, durationMs, ...overrides }), createdAt + 1, [approval('oid-dba', createdAt + 1)]);
      store.insert(grant('g-short', T0 + 30, HOUR));
      store.insert(grant('g-long', T0 + 31, 2 * HOUR));
      // Ends at the same instant as g-long, made later: the newest of equals.
      store.insert(grant('g-long-newer', T0 + 41, 2 * HOUR - 10));
      store.insert(grant('g-other-resource', T0 + 32, 5 * HOUR, { resource: 'prod-ssh' }));
      store.insert(grant('g-bob', T0 + 33, 5 * HOUR, { requester: { oid: 'oid-bob', upn: null } }));
      store.insert({ ...grant('g-revoked', T0 + 34, 5 * HOUR), state: 'revoked', closedAt: T0 + 35 });
      // Which grant, until when, and whether break-glass: what admission needs, without its reviews.
      expect(store.liveGrant('oid-alice', 'prod-db', T0 + 100)).toEqual({ id: 'g-long-newer', expiresAt: T0 + 41 + 1 + 2 * HOUR - 10, breakGlass: false });
      // At its end a grant is no longer live (isLive: now < expiresAt), even before the clock closes it.
      expect(store.liveGrant('oid-alice', 'prod-db', T0 + 31 + 1 + 2 * HOUR)).toBeNull();
      expect(store.liveGrant('oid-alice', 'prod-db', T0 + 31 + 2 * HOUR)?.id).toBe('g-long-newer');
      expect(store.liveGrant('oid-alice', 'prod-db', T0 + 30 + 1 + HOUR)?.id).toBe('g-long-newer');
      expect(store.liveGrant('oid-alice', 'billing', T0 + 100)).toBeNull();
    });

    it("gives a grant's end while it is live, and null once it is not (ended, revoked, pending, unknown)", () => {
      const granted = approvedRequest(pendingRequest({ id: 'g-live', createdAt: T0, durationMs: HOUR }), T0 + 1, [approval('oid-dba', T0 + 1)]);
      store.insert(granted);
      store.insert({
        ...approvedRequest(pendingRequest({ id: 'g-revoked', createdAt: T0, durationMs: HOUR }), T0 + 1, [approval('oid-dba', T0 + 1)]),
        state: 'revoked',
        closedAt: T0 + 2,
      });
      store.insert(pendingRequest({ id: 'p-waiting', createdAt: T0 }));
      const end = granted.expiresAt as number;
      expect(store.liveUntil('g-live', T0 + 100)).toBe(end);
      expect(store.liveUntil('g-live', end - 1)).toBe(end);
      // At its end a grant is no longer live (isLive: now < expiresAt), even before the clock closes it.
      expect(store.liveUntil('g-live', end)).toBeNull();
      expect(store.liveUntil('g-revoked', T0 + 100)).toBeNull();
      expect(store.liveUntil('p-waiting', T0 + 100)).toBeNull();
      expect(store.liveUntil('nothing', T0 + 100)).toBeNull();
    });

    it('lists by state across requesters, optionally for one resource', () => {
      expect(ids(store.listByStates(['pending']))).toEqual(['a-tie', 'b-1', 'a-mid', 'a-old']);
      expect(ids(store.listByStates(['pending', 'denied'], { resource: 'prod-db' }))).toEqual(['a-tie', 'a-new', 'b-1', 'a-old']);
      expect(ids(store.listByStates(['pending'], { limit: 1 }))).toEqual(['a-tie']);
      expect(store.listByStates([])).toEqual([]);
    });

    it('gives the recent requests of one requester on one resource', () => {
      expect(ids(store.recentFor('oid-alice', 'prod-db', 10))).toEqual(['a-tie', 'a-new', 'a-old']);
      expect(ids(store.recentFor('oid-alice', 'prod-db', 1))).toEqual(['a-tie']);
      expect(store.recentFor('oid-bob', 'prod-ssh', 10)).toEqual([]);
    });

    it.each([0, -1, 1.5, LIST_LIMIT_MAX + 1, Number.NaN])('refuses limit %s', (limit) => {
      expect(codeOf(() => store.listByRequester('oid-alice', { limit }))).toBe('bad_request');
      expect(codeOf(() => store.listByStates(['pending'], { limit }))).toBe('bad_request');
      expect(codeOf(() => store.recentFor('oid-alice', 'prod-db', limit))).toBe('bad_request');
    });
  });

  describe('pages', () => {
    beforeEach(() => {
      // a-1 and a-2 share a millisecond: insertion order decides between them, page boundary or not.
      store.insert(pendingRequest({ id: 'a-0', createdAt: T0 }));
      store.insert(pendingRequest({ id: 'a-1', createdAt: T0 + 10, pendingUntil: T0 + HOUR + 10 }));
      store.insert(pendingRequest({ id: 'a-2', createdAt: T0 + 10, pendingUntil: T0 + HOUR + 10, resource: 'prod-ssh' }));
      store.insert({ ...pendingRequest({ id: 'a-3', createdAt: T0 + 20 }), state: 'cancelled', closedAt: T0 + 21 });
      store.insert(pendingRequest({ id: 'b-0', createdAt: T0 + 5, requester: { oid: 'oid-bob', upn: null }, resource: 'billing' }));
    });

    /** Every page of a listing, following `next` until there is none. */
    function allPages(read: (position: RowPosition | null) => StorePage): string[][] {
      const pages: string[][] = [];
      let position: RowPosition | null = null;
      do {
        const page = read(position);
        pages.push(ids(page.requests));
        position = page.next;
      } while (position);
      return pages;
    }

    it('pages a requester’s requests newest first, each once, across a tie in created_at', () => {
      expect(allPages((before) => store.pageByRequester('oid-alice', { limit: 2, before }))).toEqual([
        ['a-3', 'a-2'],
        ['a-1', 'a-0'],
      ]);
      expect(allPages((before) => store.pageByRequester('oid-alice', { limit: 1, before }))).toEqual([['a-3'], ['a-2'], ['a-1'], ['a-0']]);
    });

    it('pages a requester’s requests in some states only', () => {
      expect(allPages((before) => store.pageByRequester('oid-alice', { states: ['pending'], limit: 2, before }))).toEqual([['a-2', 'a-1'], ['a-0']]);
      expect(store.pageByRequester('oid-alice', { states: [], limit: 2, before: null })).toEqual({ requests: [], next: null });
    });

    it('pages the pending requests of some resources oldest first', () => {
      expect(allPages((after) => store.pagePending(['prod-db', 'prod-ssh'], { limit: 1, after }))).toEqual([['a-0'], ['a-1'], ['a-2']]);
      expect(allPages((after) => store.pagePending(['billing', 'prod-db'], { limit: 10, after }))).toEqual([['a-0', 'b-0', 'a-1']]);
      expect(store.pagePending([], { limit: 10, after: null })).toEqual({ requests: [], next: null });
    });

    it('counts a requester’s pending requests still open at an instant', () => {
      expect(store.countPending('oid-alice', T0)).toBe(3);
      expect(store.countPending('oid-alice', T0 + HOUR)).toBe(2);
      expect(store.countPending('oid-alice', T0 + HOUR + 10)).toBe(0);
      expect(store.countPending('oid-nobody', T0)).toBe(0);
    });
  });

  describe('open requests and the break-glass queue', () => {
    const NOW = T0 + 2 * HOUR;

    it('counts open requests per resource and state, and the approved ones still live', () => {
      store.insert(pendingRequest({ id: 'p-db' }));
      store.insert(pendingRequest({ id: 'p-ssh', resource: 'prod-ssh' }));
      store.insert(approvedRequest(pendingRequest({ id: 'live-1' }), NOW - MINUTE));
      store.insert(approvedRequest(pendingRequest({ id: 'live-2' }), NOW - 2 * MINUTE));
      store.insert(approvedRequest(pendingRequest({ id: 'ended' }), NOW - 2 * HOUR));
      store.insert({ ...pendingRequest({ id: 'closed' }), state: 'denied', closedAt: T0 });
      expect(store.countOpen(NOW)).toEqual([
        { resource: 'prod-db', state: 'approved', count: 3, live: 2 },
        { resource: 'prod-db', state: 'pending', count: 1, live: 0 },
        { resource: 'prod-ssh', state: 'pending', count: 1, live: 0 },
      ]);
    });

    it('counts nothing when nothing is open', () => {
      expect(store.countOpen(NOW)).toEqual([]);
    });

    it('lists the break-glass grants that wait for a post-review, oldest first, on the given resources', () => {
      const breakGlass = (id: string, createdAt: number, resource = 'prod-db'): AccessRequest => ({
        ...approvedRequest(pendingRequest({ id, createdAt, resource, approvalsRequired: 0 }), createdAt),
        breakGlass: true,
        autoApproved: true,
      });
      store.insert(breakGlass('bg-new', T0 + 20));
      store.insert(breakGlass('bg-old', T0));
      store.insert(breakGlass('bg-ssh', T0 + 10, 'prod-ssh'));
      const reviewed = breakGlass('bg-reviewed', T0 + 5);
      store.insert({ ...reviewed, postReview: { reviewer: { oid: 'oid-sec', upn: null }, verdict: 'acceptable', comment: 'ok', at: T0 + 30 } });
      store.insert(approvedRequest(pendingRequest({ id: 'plain' }), T0));
      expect(ids(store.listUnreviewedBreakGlass(['prod-db', 'prod-ssh'], 10))).toEqual(['bg-old', 'bg-ssh', 'bg-new']);
      expect(ids(store.listUnreviewedBreakGlass(['prod-db'], 1))).toEqual(['bg-old']);
      expect(store.listUnreviewedBreakGlass([], 10)).toEqual([]);
      expect(store.get('bg-reviewed')?.postReview).toEqual({ reviewer: { oid: 'oid-sec', upn: null }, verdict: 'acceptable', comment: 'ok', at: T0 + 30 });
    });
  });

  describe('deadlines', () => {
    const NOW = T0 + 2 * HOUR;

    beforeEach(() => {
      const base = pendingRequest({ createdAt: T0 });
      const approvedAt = (id: string, expiresAt: number): AccessRequest => ({
        ...base,
        id,
        state: 'approved',
        grantedAt: expiresAt - base.durationMs,
        expiresAt,
        // Its pending deadline passed long ago; only expiresAt counts once approved.
        pendingUntil: T0,
      });
      store.insert({ ...base, id: 'pending-at-now', pendingUntil: NOW });
      store.insert({ ...base, id: 'pending-before', pendingUntil: NOW - 1 });
      store.insert({ ...base, id: 'pending-after', pendingUntil: NOW + 1 });
      store.insert(approvedAt('approved-at-now', NOW));
      store.insert(approvedAt('approved-before', NOW - 5));
      store.insert(approvedAt('approved-after', NOW + 3));
      // Closed requests have no deadline, however old their timestamps.
      store.insert({ ...base, id: 'denied-old', state: 'denied', pendingUntil: T0, closedAt: T0 });
      store.insert({ ...approvedAt('expired-old', T0), state: 'expired', closedAt: T0 });
      store.insert({ ...approvedAt('revoked-old', T0), state: 'revoked', closedAt: T0 });
    });

    it('lists exactly the open requests whose deadline is at or before now, earliest first', () => {
      expect(ids(store.listDue(NOW))).toEqual(['approved-before', 'pending-before', 'approved-at-now', 'pending-at-now']);
    });

    it('moves a request into the due list the millisecond its deadline arrives', () => {
      expect(ids(store.listDue(NOW - 6))).toEqual([]);
      expect(ids(store.listDue(NOW + 1))).toContain('pending-after');
      expect(ids(store.listDue(NOW + 2))).not.toContain('approved-after');
      expect(ids(store.listDue(NOW + 3))).toContain('approved-after');
    });

    it('gives the earliest open deadline, even one already passed', () => {
      expect(store.nextDeadline()).toBe(NOW - 5);
    });

    it('gives the next deadline once the due ones are closed', () => {
      store.transaction(() => {
        for (const due of store.listDue(NOW)) {
          store.save({ ...due, state: due.state === 'pending' ? 'timed_out' : 'expired', closedAt: NOW });
        }
      });
      expect(store.listDue(NOW)).toEqual([]);
      expect(store.nextDeadline()).toBe(NOW + 1);
    });

    it('has no deadline when no request is open', () => {
      store.transaction(() => {
        for (const open of store.listByStates(['pending', 'approved']))
          store.save({ ...open, state: open.state === 'pending' ? 'cancelled' : 'revoked', closedAt: NOW });
      });
      expect(store.nextDeadline()).toBeNull();
    });
  });

  describe('extensions', () => {
    const extension = (state: 'pending' | 'approved', reviews = [approval('oid-bob', T0 + 20 * MINUTE)]) => ({
      seq: 1,
      durationMs: 30 * MINUTE,
      reason: 'migration still running',
      requestedAt: T0 + 10 * MINUTE,
      state,
      approvalsRequired: 1,
      reviews: state === 'pending' ? [] : reviews,
      decidedAt: state === 'pending' ? null : T0 + 20 * MINUTE,
      previousExpiresAt: T0 + HOUR,
    });

    it('keeps a grant’s extensions with their reviews, and updates one as it is decided', () => {
      const grant = approvedRequest(pendingRequest({ id: 'req-ext' }), T0, [approval('oid-bob', T0)]);
      store.insert(grant);
      store.save({ ...grant, extensions: [extension('pending')] });
      expect(store.get('req-ext')?.extensions).toEqual([extension('pending')]);
      // The approver of the grant reviews its extension too: the reviews table's one-per-person rule does not apply.
      const extended = { ...grant, expiresAt: T0 + HOUR + 30 * MINUTE, extensions: [extension('approved')] };
      store.save(extended);
      expect(store.get('req-ext')).toEqual(extended);
    });

    it('puts a live grant with a pending extension in the approvers’ queue, and takes it out once decided', () => {
      const grant = approvedRequest(pendingRequest({ id: 'req-ext' }), T0);
      store.insert(grant);
      expect(ids(store.pagePending(['prod-db'], { limit: 10, after: null }).requests)).toEqual([]);
      store.save({ ...grant, extensions: [extension('pending')] });
      expect(ids(store.pagePending(['prod-db'], { limit: 10, after: null }).requests)).toEqual(['req-ext']);
      store.save({ ...grant, extensions: [extension('approved')] });
      expect(ids(store.pagePending(['prod-db'], { limit: 10, after: null }).requests)).toEqual([]);
    });

    it('refuses an update from a stale read that lacks an extension stored since', () => {
      const grant = approvedRequest(pendingRequest({ id: 'req-ext' }), T0);
      store.insert(grant);
      store.save({ ...grant, extensions: [extension('pending')] });
      expect(codeOf(() => store.save(grant))).toBe('store_conflict');
    });
  });
});

// A PostgreSQL database created with a language's collation (en_US.UTF-8 is common) sorts 'a'
// before 'B'; SQLite compares bytes ('B' first). The listings must not depend on which.
describe('on postgres whose text columns sort by a language collation', () => {
  let db: Database;
  let store: SqlRequestStore;

  beforeEach(() => {
    // A connection of its own: a pooled one would keep statements prepared before the change of type.
    db = openPostgresSchema().connect();
    db.exec(`ALTER TABLE requests ALTER COLUMN id TYPE TEXT COLLATE "en-x-icu",
                                 ALTER COLUMN resource TYPE TEXT COLLATE "en-x-icu",
                                 ALTER COLUMN state TYPE TEXT COLLATE "en-x-icu"`);
    store = new SqlRequestStore(db);
  });

  afterEach(() => {
    db.close();
  });

  it('breaks a tie of deadlines by id in byte order, as SQLite does', () => {
    store.insert(pendingRequest({ id: 'a-due' }));
    store.insert(pendingRequest({ id: 'B-due' }));
    expect(ids(store.listDue(T0 + HOUR))).toEqual(['B-due', 'a-due']);
  });

  it('orders the open counts by resource in byte order, as SQLite does', () => {
    store.insert(pendingRequest({ id: 'r1', resource: 'alpha' }));
    store.insert(pendingRequest({ id: 'r2', resource: 'Zeta' }));
    expect(store.countOpen(T0).map((c) => c.resource)).toEqual(['Zeta', 'alpha']);
  });
});
