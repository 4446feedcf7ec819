// What auditors ask: sessions by user (oid or UPN), resource and time; the whole story of a request
// or a session; raw events by seq and time. Written through the real paths: the request service,
// the audited session store and the batched appender.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Audit } from '../../../broker/audit/audit.js';
import { AuditedSessionStore } from '../../../broker/audit/audited-session-store.js';
import { pgQueryEntry } from '../../../broker/audit/session-entries.js';
import { RequestService } from '../../../broker/requests/service.js';
import type { Database } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { SqlSessionStore, type NewSession } from '../../../broker/store/session-store.js';
import { AccessError } from '../../../shared/errors.js';
import { STORE_KINDS, openStoreDatabase } from '../../helpers/store-databases.js';
import { FakeDirectory, HOUR, MINUTE, T0, config, principal, recordingLog } from '../requests/harness.js';

const DAY = 24 * HOUR;

describe.each(STORE_KINDS)('on %s', (kind) => {
  let db: Database;
  let audit: Audit;
  const ids = { alicePg: '', oscarTwo: '', oscarPg: '' };

  afterAll(() => {
    audit.close();
    db.close();
  });

  beforeAll(async () => {
    db = openStoreDatabase(kind);
    const clock = { now: T0 };
    const directory = new FakeDirectory();
    audit = new Audit({ db, config: config(), directory, now: () => clock.now, logger: recordingLog() });
    let n = 0;
    const service = new RequestService({
      config: config(),
      store: new SqlRequestStore(db),
      directory,
      log: recordingLog(),
      now: () => clock.now,
      audit: audit.log,
      newId: () => `r${++n}`,
    });
    const sessions = new AuditedSessionStore(db, new SqlSessionStore(db), audit.log);
    const alice = principal('alice');
    const oscar = principal('oscar');

    ids.alicePg = (await service.create(alice, { resource: 'prod-db', duration: '4h', reason: 'INC-1: replica lag' })).id;
    await service.review(principal('bob'), ids.alicePg, 'approve', null);
    ids.oscarTwo = (await service.create(oscar, { resource: 'two-key' })).id;
    ids.oscarPg = (await service.create(oscar, { resource: 'prod-db' })).id;

    const session = (id: string, requestId: string, who: typeof alice, resource: string, startedAt: number): NewSession => ({
      id,
      requestId,
      user: { oid: who.oid, upn: who.upn },
      resource,
      clientAddress: '127.0.0.1',
      target: '127.0.0.1:5432',
      startedAt,
    });
    sessions.open(session('s1', ids.alicePg, alice, 'prod-db', T0));
    for (let q = 1; q <= 3; q++) {
      audit.batch.add(pgQueryEntry({ sessionId: 's1', user: alice, resource: 'prod-db', at: T0 + q * 1000 }, { sql: `select ${q}`, protocol: 'simple' }));
    }
    audit.batch.flush();
    sessions.close('s1', { endedAt: T0 + MINUTE, bytesUp: 120, bytesDown: 4096, reason: 'clientClosed', detail: null });
    sessions.open(session('s2', ids.oscarTwo, oscar, 'two-key', T0 + HOUR));
    sessions.open(session('s3', ids.oscarPg, oscar, 'prod-db', T0 + 2 * HOUR));
    sessions.close('s3', { endedAt: T0 + 3 * HOUR, bytesUp: 1, bytesDown: 2, reason: 'grantExpired', detail: 'access expired' });
    sessions.open(session('s4', ids.alicePg, alice, 'prod-db', T0 + 3 * DAY));
  });

  function sessionIds(query: Parameters<Audit['queries']['sessions']>[0]): string[] {
    return audit.queries.sessions(query).map((s) => s.id);
  }

  describe('AuditQueries.sessions', () => {
    it.each([
      ['no filter: all, newest first', {}, ['s4', 's3', 's2', 's1']],
      ['a user by oid', { user: 'alice' }, ['s4', 's1']],
      ['a user by UPN in any case', { user: 'OSCAR@Contoso.com' }, ['s3', 's2']],
      ['a resource', { resource: 'prod-db' }, ['s4', 's3', 's1']],
      ['a user and a resource', { user: 'oscar', resource: 'prod-db' }, ['s3']],
      ['since an instant', { since: T0 + 30 * MINUTE }, ['s4', 's3', 's2']],
      ['until an instant (exclusive)', { until: T0 + 2 * HOUR }, ['s2', 's1']],
      ['a user, a resource and a time range', { user: 'alice@contoso.com', resource: 'prod-db', since: T0 - DAY, until: T0 + DAY }, ['s1']],
      ['a limit', { limit: 2 }, ['s4', 's3']],
      ['an unknown user', { user: 'nobody' }, []],
    ])('filters by %s', (_case, query, expected) => {
      expect(sessionIds(query)).toEqual(expected);
    });

    it('shows each session with its user, target, bytes, end, query count and the reason of its grant', () => {
      const [s1] = audit.queries.sessions({ user: 'alice', until: T0 + DAY });
      expect(s1).toEqual({
        id: 's1',
        requestId: ids.alicePg,
        user: { oid: 'alice', upn: 'alice@contoso.com' },
        resource: 'prod-db',
        target: '127.0.0.1:5432',
        client: '127.0.0.1',
        openedAt: new Date(T0).toISOString(),
        closedAt: new Date(T0 + MINUTE).toISOString(),
        bytesUp: 120,
        bytesDown: 4096,
        endReason: 'clientClosed',
        queries: 3,
        reason: 'INC-1: replica lag',
        breakGlass: false,
        postReview: null,
      });
      expect(audit.queries.sessions({ user: 'alice', since: T0 + DAY })[0]).toMatchObject({ id: 's4', closedAt: null, endReason: null });
    });

    it('refuses a limit out of range', () => {
      expect(() => audit.queries.sessions({ limit: 0 })).toThrow(AccessError);
    });

    it('reads the sessions page by page, each once, newest first, with the filters kept', () => {
      const seen: string[][] = [];
      let page = audit.queries.sessionsPage({ limit: 2 });
      seen.push(page.sessions.map((s) => s.id));
      while (page.next) {
        page = audit.queries.sessionsPage({ limit: 2, before: page.next });
        seen.push(page.sessions.map((s) => s.id));
      }
      expect(seen).toEqual([
        ['s4', 's3'],
        ['s2', 's1'],
      ]);
      const first = audit.queries.sessionsPage({ resource: 'prod-db', limit: 1 });
      const rest = audit.queries.sessionsPage({ resource: 'prod-db', limit: 5, before: first.next ?? { at: 0, row: 0 } });
      expect([...first.sessions, ...rest.sessions].map((s) => s.id)).toEqual(['s4', 's3', 's1']);
      expect(rest.next).toBeNull();
    });
  });

  describe('AuditQueries.show', () => {
    it('goes on with a cut story after the last seq it gave, until it is whole', () => {
      const whole = audit.queries.show(ids.alicePg);
      const first = audit.queries.show(ids.alicePg, 2);
      expect(first.truncated).toBe(true);
      const rest = audit.queries.show(ids.alicePg, whole.entries.length, first.entries.at(-1)?.seq ?? 0);
      expect([...first.entries, ...rest.entries]).toEqual(whole.entries);
      expect(rest.truncated).toBe(false);
    });

    it('tells the whole story of a session: its request, then open, each query, close — in log order', () => {
      const story = audit.queries.show('s1');
      expect(story).toMatchObject({ id: 's1', kind: 'session', requestId: ids.alicePg, truncated: false });
      expect(story.sessions.map((s) => s.id)).toEqual(['s1']);
      expect(story.entries.map((e) => [e.type, e.subject])).toEqual([
        ['request.created', ids.alicePg],
        ['request.review_recorded', ids.alicePg],
        ['request.approved', ids.alicePg],
        ['session.opened', 's1'],
        ['pg.query', 's1'],
        ['pg.query', 's1'],
        ['pg.query', 's1'],
        ['session.closed', 's1'],
      ]);
      expect(story.entries.at(-1)?.body).toEqual({ requestId: ids.alicePg, bytesUp: 120, bytesDown: 4096, endReason: 'clientClosed', detail: null });
      expect(story.entries.map((e) => e.seq)).toEqual([...story.entries.map((e) => e.seq)].sort((a, b) => a - b));
    });

    it('tells the whole story of a request: its entries and every session run under it', () => {
      const story = audit.queries.show(ids.alicePg);
      expect(story).toMatchObject({ kind: 'request', requestId: ids.alicePg });
      expect(story.sessions.map((s) => s.id)).toEqual(['s1', 's4']);
      expect(story.entries.filter((e) => e.type === 'session.opened').map((e) => e.subject)).toEqual(['s1', 's4']);
      expect(story.entries).toHaveLength(3 + 5 + 1);
    });

    it('says when a story is longer than the limit', () => {
      const story = audit.queries.show('s1', 4);
      expect(story.entries).toHaveLength(4);
      expect(story.truncated).toBe(true);
    });

    it('answers an id with no entries with audit_subject_not_found', () => {
      expect(() => audit.queries.show('nope')).toThrow(
        expect.objectContaining({ code: 'audit_subject_not_found', message: expect.stringContaining('"nope"') }),
      );
    });
  });

  describe('AuditQueries.events', () => {
    it('pages through the log by seq: each page resumes after the last one', () => {
      const all = audit.queries.events({ limit: 10_000 });
      expect(all.entries.map((e) => e.seq)).toEqual(all.entries.map((_, i) => i + 1));
      expect(all.headSeq).toBe(all.entries.length);
      const first = audit.queries.events({ limit: 5 });
      const second = audit.queries.events({ afterSeq: first.nextAfterSeq, limit: 5 });
      expect([...first.entries, ...second.entries]).toEqual(all.entries.slice(0, 10));
      const end = audit.queries.events({ afterSeq: all.headSeq });
      expect(end).toEqual({ entries: [], nextAfterSeq: all.headSeq, headSeq: all.headSeq });
    });

    it('starts at an instant with since, in seq order', () => {
      const page = audit.queries.events({ since: T0 + 2 * HOUR });
      expect(page.entries.map((e) => [e.type, e.subject])).toEqual([
        ['session.opened', 's3'],
        ['session.closed', 's3'],
        ['session.opened', 's4'],
      ]);
      expect(audit.queries.events({ since: T0 + 10 * DAY }).entries).toEqual([]);
    });
  });
});
