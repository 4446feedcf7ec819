// Two brokers side by side on one PostgreSQL schema (the machine's server), each assembled like
// every broker (broker/assemble.ts) and served on loopback: a change committed on one reaches the
// other's waiting requesters, event streams and tunnels, also across a lost LISTEN connection; and
// a grant's expiry is closed exactly once however many schedulers sweep it. And the catch-up alone,
// over a fake log: each change handed on once, a failed read resumed where it stopped.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RemoteChanges } from '../../../broker/requests/remote-changes.js';
import { RequestService } from '../../../broker/requests/service.js';
import { DeadlineScheduler } from '../../../broker/requests/scheduler.js';
import type { Database } from '../../../broker/store/database.js';
import { SqlRequestStore, type RequestStore } from '../../../broker/store/request-store.js';
import { Audit } from '../../../broker/audit/audit.js';
import { SqlChangeLog, type LoggedChange } from '../../../broker/store/change-log.js';
import { CloseCode } from '../../../shared/close-codes.js';
import type { EventMessage } from '../../../shared/wire.js';
import { openPostgresSchema, type PostgresSchema } from '../../helpers/store-databases.js';
import { EventsClient } from '../events/broker-harness.js';
import { echo, startTarget, startTunnelBroker, TunnelClient, until, type Target, type TunnelBroker } from '../tunnel/harness.js';
import { FakeDirectory, HOUR, MINUTE, T0, config, principal, recordingLog } from './harness.js';
import { resourcePolicy } from '../../helpers/resource-policy.js';
import { pendingRequest } from '../store/sample-requests.js';

describe('two brokers on one PostgreSQL database', () => {
  let schema: PostgresSchema;
  let target: Target;
  let a: TunnelBroker;
  let b: TunnelBroker;
  /** The test's own connection (the server's superuser): it ends the brokers' sessions. */
  let admin: Database;

  beforeAll(async () => {
    schema = openPostgresSchema();
    admin = schema.connect();
    target = await startTarget(echo);
    const resources = [
      resourcePolicy({
        name: 'echo',
        kind: 'tcp',
        target: { host: '127.0.0.1', port: target.port },
        extend: { maxTotalMs: 4 * HOUR, autoApproveWithinMs: null },
      }),
    ];
    const broker = (name: string): Promise<TunnelBroker> =>
      startTunnelBroker(resources, {
        database: schema.connect(),
        idPrefix: `${name}-req`,
        tunnel: { newId: sessionIds(name) },
      });
    a = await broker('a');
    b = await broker('b');
  });

  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    admin?.close();
    await target?.close();
  });

  it('tells a requester waiting on B of the approval made on A', async () => {
    const alice = await EventsClient.connect(b.wsBase, 'good-alice');
    try {
      const created = await b.runtime.service.create(principal('alice'), { resource: 'echo', duration: '1h', reason: 'INC-1' });
      expect(await nextRequestChange(alice)).toMatchObject({ change: 'created', request: { id: created.id, state: 'pending' } });
      await a.runtime.service.review(principal('bob'), created.id, 'approve', null);
      expect(await nextRequestChange(alice, 'approved')).toMatchObject({ request: { id: created.id, state: 'approved' } });
      // Ended, so the tunnels of the tests below open on their own grants.
      await b.runtime.service.revoke(principal('bob'), created.id, null);
    } finally {
      alice.close();
    }
  });

  it('shows approvers watching on B a request made on A', async () => {
    const bob = await EventsClient.connect(b.wsBase, 'good-bob');
    try {
      const created = await a.runtime.service.create(principal('alice'), { resource: 'echo', duration: '1h', reason: 'INC-2' });
      expect(await nextRequestChange(bob)).toMatchObject({ change: 'created', request: { id: created.id, state: 'pending' } });
    } finally {
      bob.close();
    }
  });

  it('cuts the tunnel B holds when A revokes its grant, and tells the requester on B', async () => {
    const grant = await a.grant('echo');
    const alice = await EventsClient.connect(b.wsBase, 'good-alice');
    const tunnel = await TunnelClient.open(b.wsBase, 'echo');
    try {
      tunnel.ws.send(Buffer.from('ping'));
      expect((await tunnel.receive(4)).toString()).toBe('ping');
      await a.runtime.service.revoke(principal('bob'), grant.id, 'INC-3 over');
      expect(await nextRequestChange(alice, 'revoked')).toMatchObject({ request: { id: grant.id, state: 'revoked' } });
      expect((await tunnel.closed).code).toBe(CloseCode.grantRevoked);
    } finally {
      alice.close();
    }
  });

  it('keeps B’s tunnel open past its old end when A approves an extension', async () => {
    // Oscar's grant: the only one of his, so his tunnel is on it.
    const grant = await a.grant('echo', { requester: 'oscar', duration: '3s' });
    const tunnel = await TunnelClient.open(b.wsBase, 'echo', 'good-oscar');
    await a.runtime.service.extend(principal('oscar'), grant.id, '1h', 'INC-4 takes longer');
    const extended = await a.runtime.service.review(principal('carol'), grant.id, 'approve', null);
    const oldEnd = Date.parse(grant.expiresAt ?? '');
    expect(Date.parse(extended.expiresAt ?? '')).toBeGreaterThan(oldEnd);
    // Past the old end, B's tunnel is still open: B moved its end when A's extension committed.
    await new Promise((resolve) => setTimeout(resolve, oldEnd - Date.now() + 500));
    tunnel.ws.send(Buffer.from('pong'));
    expect(await Promise.race([tunnel.receive(4).then(String), tunnel.closed])).toBe('pong');
    await a.runtime.service.revoke(principal('bob'), grant.id, null);
    expect((await tunnel.closed).code).toBe(CloseCode.grantRevoked);
  });

  it('misses nothing while its LISTEN connection is down: the reconnect reads what came meanwhile', async () => {
    const alice = await EventsClient.connect(b.wsBase, 'good-alice');
    try {
      const reconnectsBefore = reconnects(b);
      // Both brokers' listening connections end (the server or a proxy dropping them), then A writes.
      const listeners = admin
        .prepare<[string], number>('SELECT pid FROM pg_stat_activity WHERE application_name = ?')
        .pluck()
        .all(`access-test ${schema.name} listener`);
      expect(listeners).toHaveLength(2);
      for (const pid of listeners) admin.prepare<[number]>('SELECT pg_terminate_backend(?)').get(pid);
      const ids: string[] = [];
      for (let i = 0; i < 20; i++) {
        const { id } = await a.runtime.service.create(principal('alice'), { resource: 'echo', duration: '1h', reason: `INC-5.${i}` });
        await a.runtime.service.cancel(principal('alice'), id);
        ids.push(id);
      }
      const seen: string[] = [];
      while (seen.length < 2 * ids.length) {
        const message = await nextRequestChange(alice);
        seen.push(`${message.change} ${message.request.id}`);
      }
      expect(seen).toEqual(ids.flatMap((id) => [`created ${id}`, `cancelled ${id}`]));
      await until(() => reconnects(b) > reconnectsBefore);
    } finally {
      alice.close();
    }
  });
});

describe('a grant’s expiry on brokers sharing a database', () => {
  let schema: PostgresSchema;
  /** Keeps the schema while the brokers' connections come and go. */
  let keeper: Database;
  const open: Database[] = [];

  beforeAll(() => {
    schema = openPostgresSchema();
    keeper = schema.connect();
  });

  afterEach(() => {
    for (const db of open.splice(0)) db.close();
  });

  afterAll(() => keeper?.close());

  /** One broker's request service (its own connection, audit log and change log) at a clock the test sets. */
  function broker(name: string, clock: { now: number }): { service: RequestService; store: RequestStore; db: Database } {
    const db = schema.connect();
    open.push(db);
    const store = new SqlRequestStore(db);
    const cfg = config();
    const directory = new FakeDirectory();
    const audit = new Audit({ db, config: cfg, directory, now: () => clock.now, logger: recordingLog() });
    const service = new RequestService({
      config: cfg,
      store,
      directory,
      now: () => clock.now,
      log: recordingLog(),
      audit: audit.log,
      changeLog: new SqlChangeLog(db, name),
      newId: idsFrom(name),
    });
    return { service, store, db };
  }

  it('is closed once when two brokers sweep the same due grant', async () => {
    const clock = { now: T0 };
    const one = broker('one', clock);
    const two = broker('two', clock);
    const grant = await approvedGrant(one.service);
    clock.now = T0 + HOUR + MINUTE;
    // Two's sweep found the grant due before one's expiry committed: it must re-read it and do nothing.
    const seenDue = two.store.listDue(clock.now).map((request) => request.id);
    expect(seenDue).toContain(grant);
    expect(one.service.sweep()).toBe(1);
    const stale: RequestStore = Object.assign(Object.create(two.store) as RequestStore, {
      listDue: () => seenDue.map((id) => two.store.get(id)).filter((r) => r !== null),
    });
    const late = new RequestService({ config: config(), store: stale, directory: new FakeDirectory(), now: () => clock.now, log: recordingLog() });
    expect(late.sweep()).toBe(0);
    expect(two.service.sweep()).toBe(0);
    expect(expiries(keeper, grant)).toEqual({ audited: 1, logged: 1 });
  });

  it('is closed once by the first broker to start when every broker was down at the deadline', async () => {
    const clock = { now: T0 };
    const grant = await approvedGrant(broker('before', clock).service);
    // Every broker down past the deadline; two start together, each sweeping at start.
    clock.now = T0 + 3 * HOUR;
    const schedulers = ['one', 'two'].map((name) => {
      const { service, store } = broker(name, clock);
      return new DeadlineScheduler({ service, store, now: () => clock.now, log: recordingLog(), warn: () => undefined });
    });
    try {
      for (const scheduler of schedulers) scheduler.start();
    } finally {
      for (const scheduler of schedulers) scheduler.stop();
    }
    expect(expiries(keeper, grant)).toEqual({ audited: 1, logged: 1 });
  });
});

type RequestMessage = Extract<EventMessage, { type: 'request' }>;

describe('RemoteChanges catching up', () => {
  const request = (id: string) => pendingRequest({ id });
  function follower(rows: LoggedChange[], failures: { next: number }) {
    const relayed: string[] = [];
    const log = recordingLog();
    const remote = new RemoteChanges({
      changeLog: {
        lastSeq: () => 0,
        othersAfter: (seq, limit) => {
          if (failures.next > 0) {
            failures.next -= 1;
            throw new Error('the database does not answer');
          }
          return rows.filter((row) => row.seq > seq).slice(0, limit);
        },
      },
      requests: { get: (id) => request(id) },
      relay: (changed, changes) => relayed.push(`${changes.join('+')} ${changed.id}`),
      signal: () => ({ start: () => undefined, close: async () => undefined }),
      log,
    });
    return { remote, relayed, log };
  }

  it('hands on every change once, and after a failed read resumes where it stopped', async () => {
    const rows: LoggedChange[] = [
      { seq: 3, requestId: 'r1', changes: ['created'], at: T0 },
      { seq: 7, requestId: 'r1', changes: ['review_recorded', 'approved'], at: T0 },
    ];
    const failures = { next: 1 };
    const { remote, relayed, log } = follower(rows, failures);
    remote.start();
    try {
      expect(remote.catchUp()).toBe(0);
      expect(log.lines.filter((line) => line.level === 'error')).toHaveLength(1);
      expect(remote.catchUp()).toBe(2);
      expect(remote.catchUp()).toBe(0);
      rows.push({ seq: 8, requestId: 'r2', changes: ['created'], at: T0 });
      expect(remote.catchUp()).toBe(1);
      expect(relayed).toEqual(['created r1', 'review_recorded+approved r1', 'created r2']);
    } finally {
      await remote.stop();
    }
  });
});

/** The next `request` message on an events stream (keepalives and warnings skipped), or the next one of `change`. */
async function nextRequestChange(client: EventsClient, change?: RequestMessage['change']): Promise<RequestMessage> {
  for (;;) {
    const message = await client.next();
    if (message.type === 'request' && (change === undefined || message.change === change)) return message;
  }
}

/** A grant alice holds on the default resources, approved by bob at T0 for an hour. */
async function approvedGrant(service: RequestService): Promise<string> {
  const created = await service.create(principal('alice'), { resource: 'prod-db', duration: '1h', reason: 'INC-6' });
  const approved = await service.review(principal('bob'), created.id, 'approve', null);
  expect(approved.state).toBe('approved');
  return approved.id;
}

/** How often the grant's expiry was written: audit entries and change-log rows. */
function expiries(db: Database, id: string): { audited: number; logged: number } {
  const audited = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM audit_log WHERE type = 'request.expired' AND subject = ?").get(id)?.n ?? 0;
  const logged =
    db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM request_changes WHERE request_id = ? AND changes LIKE '%"expired"%'`).get(id)?.n ?? 0;
  return { audited, logged };
}

function reconnects(broker: TunnelBroker): number {
  return broker.log.lines.filter((line) => line.message === 'listening to the database again').length;
}

function idsFrom(prefix: string): () => string {
  let n = 0;
  return () => `${prefix}-${++n}`;
}

function sessionIds(prefix: string): () => string {
  let n = 0;
  return () => `${prefix}-ses${++n}`;
}
