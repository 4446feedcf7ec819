// The session store the tunnel writes through: each `sessions` row change that is an event
// (open, close, crash leftover closed at start) has its audit entry in the same transaction.

import { afterEach, describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../../broker/audit/audit-log.js';
import { AuditedSessionStore } from '../../../broker/audit/audited-session-store.js';
import { verifyChain } from '../../../broker/audit/verify.js';
import type { Database } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { SqlSessionStore, type NewSession } from '../../../broker/store/session-store.js';
import type { SqlDialect } from '../../../broker/store/sql-database.js';
import { STORE_KINDS, openStoreDatabase } from '../../helpers/store-databases.js';
import { approvedRequest, pendingRequest } from '../store/sample-requests.js';
import { T0, rows } from './entries.js';

const open: Database[] = [];

afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

function setup(kind: SqlDialect) {
  const db = openStoreDatabase(kind);
  open.push(db);
  new SqlRequestStore(db).insert(approvedRequest(pendingRequest({ id: 'r1' }), T0));
  const sessions = new AuditedSessionStore(db, new SqlSessionStore(db), new SqlAuditLog(db));
  return { db, sessions };
}

function session(id: string, startedAt = T0): NewSession {
  return {
    id,
    requestId: 'r1',
    user: { oid: 'oid-alice', upn: 'alice@contoso.test' },
    resource: 'prod-db',
    clientAddress: '127.0.0.1',
    target: 'db:5432',
    startedAt,
  };
}

describe.each(STORE_KINDS)('AuditedSessionStore on %s', (kind) => {
  it('records session.opened and session.closed with the bytes and end reason, once', () => {
    const { db, sessions } = setup(kind);
    sessions.open(session('s1'));
    sessions.progress('s1', 10, 20);
    expect(sessions.close('s1', { endedAt: T0 + 5000, bytesUp: 100, bytesDown: 200, reason: 'grantRevoked', detail: 'revoked by bob' })).toBe(true);
    expect(sessions.close('s1', { endedAt: T0 + 6000, bytesUp: 1, bytesDown: 1, reason: 'clientClosed', detail: null })).toBe(false);
    const stored = rows(db);
    expect(stored.map((r) => [r.type, r.subject, r.actor_oid, r.resource, r.at])).toEqual([
      ['session.opened', 's1', 'oid-alice', 'prod-db', T0],
      ['session.closed', 's1', 'oid-alice', 'prod-db', T0 + 5000],
    ]);
    expect(JSON.parse(stored[0]?.body ?? '')).toEqual({ requestId: 'r1', target: 'db:5432', client: '127.0.0.1' });
    expect(JSON.parse(stored[1]?.body ?? '')).toEqual({ requestId: 'r1', bytesUp: 100, bytesDown: 200, endReason: 'grantRevoked', detail: 'revoked by bob' });
  });

  it('writes neither the row nor the entry when the open is refused', () => {
    const { db, sessions } = setup(kind);
    sessions.open(session('s1'));
    expect(() => sessions.open(session('s1'))).toThrow(expect.objectContaining({ code: 'store_conflict' }));
    expect(rows(db)).toHaveLength(1);
  });

  it('closes the leftovers in the order they opened, also when they opened in the same millisecond', () => {
    const { db, sessions } = setup(kind);
    for (const id of ['s-z', 's-a', 's-m']) sessions.open(session(id, T0 + 1));
    sessions.open(session('s-early', T0));
    sessions.closeLeftovers(T0 + 10);
    expect(
      rows(db)
        .filter((r) => r.type === 'session.closed')
        .map((r) => r.subject),
    ).toEqual(['s-early', 's-z', 's-a', 's-m']);
  });

  it('records the closing of sessions a crash left open', () => {
    const { db, sessions } = setup(kind);
    sessions.open(session('s1'));
    sessions.open(session('s2', T0 + 1));
    sessions.close('s1', { endedAt: T0 + 2, bytesUp: 0, bytesDown: 0, reason: 'clientClosed', detail: null });
    expect(sessions.closeLeftovers(T0 + 10)).toBe(1);
    const last = rows(db).at(-1);
    expect(last).toMatchObject({ type: 'session.closed', subject: 's2', at: T0 + 10 });
    expect(JSON.parse(last?.body ?? '')).toMatchObject({ endReason: 'broker_restart' });
    expect(verifyChain(db)).toMatchObject({ ok: true, count: 4 });
  });
});
