// Several brokers on one PostgreSQL database, each its own connection (as each broker process has):
// a broker that stops heartbeating, or stops, has its open tunnel sessions closed by another broker,
// once, as broker_lost with their audit entries; a live broker's sessions are never closed by
// another. On SQLite (one broker) the sessions a crash left open are closed at start as before.

import { afterEach, describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../broker/audit/audit-log.js';
import { AuditedSessionStore } from '../../broker/audit/audited-session-store.js';
import { verifyChain } from '../../broker/audit/verify.js';
import { BROKER_LOST_AFTER_MS, BrokerPresence } from '../../broker/broker-presence.js';
import { BrokerInstances } from '../../broker/store/broker-instances.js';
import { openDatabase, type Database } from '../../broker/store/database.js';
import { SqlRequestStore } from '../../broker/store/request-store.js';
import { BROKER_LOST, BROKER_RESTART, SqlSessionStore, type NewSession } from '../../broker/store/session-store.js';
import { openPostgresSchema } from '../helpers/store-databases.js';
import { rows, T0 } from './audit/entries.js';
import { recordingLog } from './requests/harness.js';
import { approvedRequest, pendingRequest } from './store/sample-requests.js';

const open: Database[] = [];
afterEach(() => {
  for (const db of open.splice(0).reverse()) db.close();
});

const clock = { now: T0 };

/** One broker on `db`: its presence and the audited session store its tunnels write through. */
function broker(db: Database, id: string) {
  const sessions = new AuditedSessionStore(db, new SqlSessionStore(db, id), new SqlAuditLog(db));
  const log = recordingLog();
  const outOfTouch: number[] = [];
  // The test beats by hand: the timer would beat with the test's clock at moments of its own.
  const presence = new BrokerPresence({
    id,
    instances: new BrokerInstances(db),
    sessions,
    shared: db.shared,
    now: () => clock.now,
    log,
    heartbeatIntervalMs: 3_600_000,
    onOutOfTouch: () => outOfTouch.push(clock.now),
  });
  return { db, id, sessions, presence, log, outOfTouch };
}

function session(id: string): NewSession {
  return {
    id,
    requestId: 'r1',
    user: { oid: 'oid-alice', upn: 'alice@contoso.test' },
    resource: 'prod-db',
    clientAddress: '127.0.0.1',
    target: 'db:5432',
    startedAt: clock.now,
  };
}

/** Two brokers, A and B, on one fresh PostgreSQL schema, both started at T0, with grant r1 stored. */
function twoBrokers() {
  clock.now = T0;
  const schema = openPostgresSchema();
  const dbA = schema.connect();
  const dbB = schema.connect();
  open.push(dbA, dbB);
  new SqlRequestStore(dbA).insert(approvedRequest(pendingRequest({ id: 'r1' }), T0));
  const a = broker(dbA, 'broker-a');
  const b = broker(dbB, 'broker-b');
  a.presence.start();
  b.presence.start();
  return { schema, a, b };
}

function closedEntries(db: Database, sessionId: string) {
  return rows(db)
    .filter((row) => row.type === 'session.closed' && row.subject === sessionId)
    .map((row) => JSON.parse(row.body) as { endReason: string; detail: string | null });
}

describe('BrokerPresence on PostgreSQL (several brokers)', () => {
  it('closes the open session of a broker that stopped heartbeating once, as broker_lost, with its audit entry', () => {
    const { a, b } = twoBrokers();
    b.sessions.open(session('s-b'));
    b.sessions.progress('s-b', 10, 20);
    // B dies: its connection goes, its heartbeat stops; A goes on beating.
    b.db.close();
    open.splice(open.indexOf(b.db), 1);
    clock.now = T0 + BROKER_LOST_AFTER_MS / 2;
    a.presence.beat();
    expect(a.sessions.get('s-b')?.endedAt).toBeNull();
    clock.now = T0 + BROKER_LOST_AFTER_MS + 1;
    a.presence.beat();
    expect(a.sessions.get('s-b')).toMatchObject({ endedAt: T0 + BROKER_LOST_AFTER_MS + 1, reason: BROKER_LOST, bytesUp: 10, bytesDown: 20 });
    // Looking again (this broker, or another) closes nothing twice.
    expect(a.presence.reconcile()).toEqual([]);
    clock.now += 5_000;
    a.presence.beat();
    expect(closedEntries(a.db, 's-b')).toEqual([expect.objectContaining({ endReason: BROKER_LOST })]);
    expect(a.log.lines.find((l) => l.message === 'closed tunnel sessions of a lost broker')?.fields).toEqual({ sessions: 1 });
    expect(verifyChain(a.db)).toMatchObject({ ok: true, count: 2 });
  });

  it('closes a lost broker once when two brokers reconcile it, and a broker starting later finds nothing left', () => {
    const { schema, a, b } = twoBrokers();
    const dbC = schema.connect();
    open.push(dbC);
    const c = broker(dbC, 'broker-c');
    c.presence.start();
    c.sessions.open(session('s-c1'));
    c.sessions.open(session('s-c2'));
    clock.now = T0 + BROKER_LOST_AFTER_MS + 1;
    const byA = a.presence.reconcile();
    const byB = b.presence.reconcile();
    expect([...byA, ...byB].sort()).toEqual(['s-c1', 's-c2']);
    const d = broker(schema.connect(), 'broker-d');
    open.push(d.db);
    d.presence.start();
    expect(d.presence.reconcile()).toEqual([]);
    expect([...closedEntries(a.db, 's-c1'), ...closedEntries(a.db, 's-c2')]).toHaveLength(2);
    expect(verifyChain(b.db)).toMatchObject({ ok: true, count: 4 });
  });

  it('never closes the sessions of a broker that keeps heartbeating, however long they run', () => {
    const { a, b } = twoBrokers();
    b.sessions.open(session('s-b'));
    a.sessions.open(session('s-a'));
    for (let step = 1; step <= 20; step += 1) {
      clock.now = T0 + step * (BROKER_LOST_AFTER_MS / 2);
      b.presence.beat();
      a.presence.beat();
    }
    expect([a.sessions.get('s-a')?.endedAt, a.sessions.get('s-b')?.endedAt]).toEqual([null, null]);
    expect(closedEntries(a.db, 's-b')).toEqual([]);
  });

  it('tells a broker that comes back after its peers judged it lost, so it cuts the tunnels they closed', () => {
    const { a, b } = twoBrokers();
    b.sessions.open(session('s-b'));
    // B's event loop stalls; A closes B's session meanwhile.
    clock.now = T0 + BROKER_LOST_AFTER_MS + 1;
    a.presence.beat();
    expect(b.outOfTouch).toEqual([]);
    b.presence.beat();
    expect(b.outOfTouch).toEqual([T0 + BROKER_LOST_AFTER_MS + 1]);
    expect(b.sessions.get('s-b')).toMatchObject({ reason: BROKER_LOST });
    // Beating again in time, it is not told again.
    clock.now += BROKER_LOST_AFTER_MS / 2;
    b.presence.beat();
    expect(b.outOfTouch).toHaveLength(1);
  });

  it('closes at once what a broker that stopped cleanly left open, and a stopped broker beats no more', () => {
    const { a, b } = twoBrokers();
    b.sessions.open(session('s-b'));
    b.presence.stop();
    clock.now = T0 + 1_000;
    b.presence.beat();
    expect(a.presence.reconcile()).toEqual(['s-b']);
    expect(new BrokerInstances(a.db).get('broker-b')).toMatchObject({ stoppedAt: T0, heartbeatAt: T0 });
  });

  it('starts by closing the sessions of brokers already lost', () => {
    const { schema, b } = twoBrokers();
    b.sessions.open(session('s-b'));
    clock.now = T0 + BROKER_LOST_AFTER_MS + 1;
    const late = broker(schema.connect(), 'broker-late');
    open.push(late.db);
    late.presence.start();
    expect(late.sessions.get('s-b')).toMatchObject({ reason: BROKER_LOST });
  });
});

describe('BrokerPresence on SQLite (one broker)', () => {
  it('closes every session left open at start as broker_restart, and registers without heartbeating', () => {
    clock.now = T0;
    const db = openDatabase(':memory:');
    open.push(db);
    new SqlRequestStore(db).insert(approvedRequest(pendingRequest({ id: 'r1' }), T0));
    const before = broker(db, 'broker-1');
    before.presence.start();
    before.sessions.open(session('s-1'));
    clock.now = T0 + 10 * BROKER_LOST_AFTER_MS;
    // The crashed broker's successor: a new instance on the same file.
    const after = broker(db, 'broker-2');
    after.presence.start();
    expect(after.sessions.get('s-1')).toMatchObject({ reason: BROKER_RESTART });
    expect(closedEntries(db, 's-1')).toEqual([expect.objectContaining({ endReason: BROKER_RESTART })]);
    expect(new BrokerInstances(db).get('broker-2')).toMatchObject({ startedAt: clock.now, stoppedAt: null });
  });
});
