// Tunnel sessions in SQLite and PostgreSQL: opened, progressed, closed once, listed by user/resource/time, and
// the ones a crash left open closed at the next start.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDatabase, type Database } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { BROKER_RESTART, SqlSessionStore, type NewSession } from '../../../broker/store/session-store.js';
import { constraintViolated } from '../../../broker/store/sql-errors.js';
import { AccessError } from '../../../shared/errors.js';
import { tempDir } from '../../helpers/processes.js';
import { STORE_KINDS, openStoreDatabase } from '../../helpers/store-databases.js';
import { startTunnelBroker } from '../tunnel/harness.js';
import { MINUTE, T0, approval, approvedRequest, pendingRequest } from './sample-requests.js';

function session(overrides: Partial<NewSession> = {}): NewSession {
  return {
    id: 'ses-1',
    requestId: 'req-1',
    user: { oid: 'oid-alice', upn: 'alice@contoso.test' },
    resource: 'prod-db',
    clientAddress: '127.0.0.1',
    target: 'db.internal:5432',
    startedAt: T0,
    ...overrides,
  };
}

describe.each(STORE_KINDS)('SqlSessionStore on %s', (kind) => {
  let db: Database;
  let sessions: SqlSessionStore;

  beforeEach(() => {
    db = openStoreDatabase(kind);
    const requests = new SqlRequestStore(db);
    // Sessions belong to a grant (foreign key).
    requests.insert(approvedRequest(pendingRequest({ id: 'req-1' }), T0, [approval('bob', T0), approval('carol', T0)]));
    requests.insert(
      approvedRequest(pendingRequest({ id: 'req-2', resource: 'billing', requester: { oid: 'oid-dan', upn: null } }), T0, [
        approval('bob', T0),
        approval('carol', T0),
      ]),
    );
    sessions = new SqlSessionStore(db);
  });

  afterEach(() => {
    db.close();
  });

  it('records a session as open, then its end with bytes, reason and detail', () => {
    sessions.open(session());
    expect(sessions.get('ses-1')).toEqual({ ...session(), endedAt: null, bytesUp: 0, bytesDown: 0, reason: null, detail: null });
    sessions.progress('ses-1', 10, 20);
    expect(sessions.get('ses-1')).toMatchObject({ bytesUp: 10, bytesDown: 20, endedAt: null });
    const closed = sessions.close('ses-1', { endedAt: T0 + MINUTE, bytesUp: 100, bytesDown: 2000, reason: 'grantRevoked', detail: 'revoked by bob: done' });
    expect(closed).toBe(true);
    expect(sessions.get('ses-1')).toMatchObject({
      endedAt: T0 + MINUTE,
      bytesUp: 100,
      bytesDown: 2000,
      reason: 'grantRevoked',
      detail: 'revoked by bob: done',
    });
  });

  it('keeps the first ending: a second close and later progress change nothing', () => {
    sessions.open(session());
    sessions.close('ses-1', { endedAt: T0 + MINUTE, bytesUp: 1, bytesDown: 2, reason: 'grantExpired', detail: null });
    expect(sessions.close('ses-1', { endedAt: T0 + 2 * MINUTE, bytesUp: 9, bytesDown: 9, reason: 'clientClosed', detail: null })).toBe(false);
    sessions.progress('ses-1', 50, 50);
    expect(sessions.get('ses-1')).toMatchObject({ endedAt: T0 + MINUTE, bytesUp: 1, bytesDown: 2, reason: 'grantExpired' });
  });

  it('never records an end before the start, even when the clock stepped back', () => {
    sessions.open(session());
    sessions.close('ses-1', { endedAt: T0 - MINUTE, bytesUp: 0, bytesDown: 0, reason: 'clientClosed', detail: null });
    expect(sessions.get('ses-1')?.endedAt).toBe(T0);
  });

  it('refuses a second session with the same id as a store conflict', () => {
    sessions.open(session());
    expect(() => sessions.open(session())).toThrow(AccessError);
    expect(() => sessions.open(session())).toThrow(/already exists/);
  });

  it('refuses a session under a grant that does not exist', () => {
    let refused: unknown;
    try {
      sessions.open(session({ requestId: 'req-404' }));
    } catch (error) {
      refused = error;
    }
    expect(constraintViolated(refused)).toBe('foreign_key');
  });

  it('lists the sessions of one grant, oldest first', () => {
    sessions.open(session({ id: 'a', startedAt: T0 }));
    sessions.open(session({ id: 'b', startedAt: T0 + MINUTE }));
    sessions.open(session({ id: 'c', startedAt: T0 + 2 * MINUTE, requestId: 'req-2', user: { oid: 'oid-dan', upn: null }, resource: 'billing' }));
    expect(sessions.listByRequest('req-1').map((s) => s.id)).toEqual(['a', 'b']);
    expect(sessions.listByRequest('req-2').map((s) => s.id)).toEqual(['c']);
  });

  it('closes the sessions a crash left open as broker_restart, keeping their last recorded bytes', () => {
    sessions.open(session({ id: 'open' }));
    sessions.progress('open', 5, 7);
    sessions.open(session({ id: 'done' }));
    sessions.close('done', { endedAt: T0 + MINUTE, bytesUp: 1, bytesDown: 1, reason: 'clientClosed', detail: null });
    expect(sessions.closeLeftovers(T0 + 5 * MINUTE)).toBe(1);
    expect(sessions.get('open')).toMatchObject({ endedAt: T0 + 5 * MINUTE, reason: BROKER_RESTART, bytesUp: 5, bytesDown: 7 });
    expect(sessions.get('done')).toMatchObject({ reason: 'clientClosed' });
    expect(sessions.closeLeftovers(T0 + 6 * MINUTE)).toBe(0);
  });
});

// SQLite only: the tunnel broker of these tests runs on a database file.
describe('a broker restarting on a database with open sessions', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await tempDir('sessions');
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('closes them at start, before it serves anything', async () => {
    const file = path.join(dir, 'access.db');
    const crashed = openDatabase(file);
    new SqlRequestStore(crashed).insert(approvedRequest(pendingRequest({ id: 'req-1' }), T0, [approval('bob', T0), approval('carol', T0)]));
    new SqlSessionStore(crashed).open(session());
    // The crashed broker never closed it.
    crashed.close();

    const broker = await startTunnelBroker([], { dataFile: file });
    try {
      expect(broker.runtime.sessions.get('ses-1')).toMatchObject({ reason: BROKER_RESTART, endedAt: expect.any(Number) });
      expect(broker.log.lines).toContainEqual(
        expect.objectContaining({ level: 'warn', message: 'closed tunnel sessions the previous broker left open', fields: { sessions: 1 } }),
      );
    } finally {
      await broker.close();
    }
  });
});
