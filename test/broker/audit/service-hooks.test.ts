// The request service writes the audit log: each change in the transaction that stores it (so a
// failed store leaves no entry), each refusal in a small transaction of its own.

import { describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../../broker/audit/audit-log.js';
import { verifyChain } from '../../../broker/audit/verify.js';
import { RequestService } from '../../../broker/requests/service.js';
import type { AccessRequest } from '../../../broker/requests/types.js';
import { openDatabase } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { AccessError } from '../../../shared/errors.js';
import { FakeDirectory, HOUR, MINUTE, T0, config, principal, recordingLog } from '../requests/harness.js';
import { rows, types } from './entries.js';

const alice = principal('alice');
const bob = principal('bob');
const carol = principal('carol');
const oscar = principal('oscar');

/** A store whose save can be made to fail, as a full disk would. */
class FlakyStore extends SqlRequestStore {
  failSaves = false;
  override save(next: AccessRequest): void {
    if (this.failSaves) throw new Error('disk I/O error');
    super.save(next);
  }
}

function setup() {
  const db = openDatabase(':memory:');
  const store = new FlakyStore(db);
  const audit = new SqlAuditLog(db);
  const clock = { now: T0 };
  let n = 0;
  const service = new RequestService({
    config: config(),
    store,
    directory: new FakeDirectory(),
    log: recordingLog(),
    now: () => clock.now,
    audit,
    newId: () => `req${++n}`,
  });
  return { db, store, service, clock };
}

async function refused(promise: Promise<unknown>): Promise<AccessError> {
  const error: unknown = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof AccessError)) throw new Error(`expected an AccessError, got ${String(error)}`);
  return error;
}

describe('RequestService → audit log', () => {
  it('records a create → approve flow in order, with who acted and what changed', async () => {
    const { db, service, clock } = setup();
    const { id } = await service.create(alice, { resource: 'prod-db', duration: '2h', reason: 'INC-1' });
    clock.now = T0 + 10 * MINUTE;
    await service.review(bob, id, 'approve', 'looks fine');

    const stored = rows(db);
    expect(stored.map((r) => [r.seq, r.type, r.actor_oid, r.subject, r.resource])).toEqual([
      [1, 'request.created', 'alice', id, 'prod-db'],
      [2, 'request.review_recorded', 'bob', id, 'prod-db'],
      [3, 'request.approved', 'bob', id, 'prod-db'],
    ]);
    expect(stored.map((r) => r.at)).toEqual([T0, T0 + 10 * MINUTE, T0 + 10 * MINUTE]);
    expect(JSON.parse(stored[0]?.body ?? '')).toMatchObject({ durationMs: 2 * HOUR, reason: 'INC-1', approvalsRequired: 1 });
    expect(JSON.parse(stored[1]?.body ?? '')).toEqual({ decision: 'approve', comment: 'looks fine', reviewer: 'bob@contoso.com' });
    expect(JSON.parse(stored[2]?.body ?? '')).toEqual({
      grantedAt: new Date(T0 + 10 * MINUTE).toISOString(),
      expiresAt: new Date(T0 + 10 * MINUTE + 2 * HOUR).toISOString(),
      approvers: ['bob@contoso.com'],
    });
    expect(verifyChain(db)).toMatchObject({ ok: true, count: 3 });
  });

  it('records auto-approval, denial, cancel and revoke', async () => {
    const { db, service } = setup();
    const auto = await service.create(oscar, { resource: 'prod-db' });
    await service.revoke(oscar, auto.id, 'done early');
    const denied = await service.create(alice, { resource: 'prod-db' });
    await service.review(bob, denied.id, 'deny', 'use the replica');
    const cancelled = await service.create(alice, { resource: 'prod-db' });
    await service.cancel(alice, cancelled.id);
    expect(types(db)).toEqual([
      'request.created',
      'request.auto_approved',
      'request.revoked',
      'request.created',
      'request.review_recorded',
      'request.denied',
      'request.created',
      'request.cancelled',
    ]);
    const revoked = rows(db)[2];
    expect(revoked).toMatchObject({ actor_oid: 'oscar', subject: auto.id });
    expect(JSON.parse(revoked?.body ?? '')).toEqual({ reason: 'done early' });
  });

  it("records the clock's timeouts and expiries with no actor", async () => {
    const { db, service, clock } = setup();
    const pending = await service.create(alice, { resource: 'prod-db' });
    const granted = await service.create(oscar, { resource: 'prod-db', duration: '30m' });
    clock.now = T0 + 2 * HOUR;
    expect(service.sweep()).toBe(2);
    const clocked = rows(db).slice(-2);
    expect(clocked.map((r) => [r.type, r.subject, r.actor_oid])).toEqual(
      expect.arrayContaining([
        ['request.timed_out', pending.id, null],
        ['request.expired', granted.id, null],
      ]),
    );
  });

  it("records a clock closing that beat a review, then the review's refusal", async () => {
    const { db, service, clock } = setup();
    const { id } = await service.create(alice, { resource: 'prod-db' });
    clock.now = T0 + 2 * HOUR;
    expect((await refused(service.review(bob, id, 'approve', null))).code).toBe('request_not_pending');
    expect(
      rows(db)
        .slice(1)
        .map((r) => [r.type, r.actor_oid]),
    ).toEqual([
      ['request.timed_out', null],
      ['policy.refused', 'bob'],
    ]);
  });

  it('records a policy refusal of a create in its own transaction, with the code, message and what was asked', async () => {
    const { db, service } = setup();
    const error = await refused(service.create(alice, { resource: 'prod-db', duration: '9h', reason: 'INC-2' }));
    expect(error.code).toBe('duration_too_long');
    const [entry] = rows(db);
    expect(entry).toMatchObject({ seq: 1, type: 'policy.refused', actor_oid: 'alice', subject: null, resource: 'prod-db' });
    expect(JSON.parse(entry?.body ?? '')).toEqual({
      action: 'create',
      code: 'duration_too_long',
      message: error.message,
      duration: '9h',
      reason: 'INC-2',
      ticket: null,
    });
  });

  it.each([
    ['an unknown resource', () => principal('alice'), { resource: 'nope' }, 'unknown_resource'],
    ['a stranger', () => principal('mallory'), { resource: 'prod-db' }, 'not_a_requester'],
    ['a workload the resource does not name', () => principal('robot', 'app'), { resource: 'prod-db' }, 'not_a_workload'],
  ])('records the refusal of a create for %s', async (_case, who, body, code) => {
    const { db, service } = setup();
    expect((await refused(service.create(who(), body))).code).toBe(code);
    expect(rows(db).map((r) => [r.type, JSON.parse(r.body).code])).toEqual([['policy.refused', code]]);
  });

  it('records refused reviews, cancels and revokes naming the request and its resource', async () => {
    const { db, service } = setup();
    const { id } = await service.create(alice, { resource: 'prod-db' });
    await refused(service.review(alice, id, 'approve', null)); // self_review
    await refused(service.cancel(bob, id)); // not_allowed_to_cancel
    await refused(service.revoke(carol, id, null)); // grant_not_active
    await refused(service.review(principal('mallory'), 'req404', 'approve', null)); // request_not_found
    expect(
      rows(db)
        .slice(1)
        .map((r) => [r.actor_oid, r.subject, r.resource, JSON.parse(r.body).action, JSON.parse(r.body).code]),
    ).toEqual([
      ['alice', id, 'prod-db', 'review', 'self_review'],
      ['bob', id, 'prod-db', 'cancel', 'not_allowed_to_cancel'],
      ['carol', id, 'prod-db', 'revoke', 'grant_not_active'],
      ['mallory', 'req404', null, 'review', 'request_not_found'],
    ]);
  });

  it('leaves no entry when storing the change fails: the change and its entry roll back together', async () => {
    const { db, store, service } = setup();
    const { id } = await service.create(alice, { resource: 'prod-db' });
    store.failSaves = true;
    await expect(service.review(bob, id, 'approve', null)).rejects.toThrow('disk I/O error');
    expect(types(db)).toEqual(['request.created']);
    expect(store.get(id)?.state).toBe('pending');
    // The chain goes on from what was committed.
    store.failSaves = false;
    await service.review(bob, id, 'approve', null);
    expect(types(db)).toEqual(['request.created', 'request.review_recorded', 'request.approved']);
    expect(verifyChain(db)).toMatchObject({ ok: true, count: 3 });
  });

  it('leaves no change when the audit append fails: the entry and the change roll back together', async () => {
    const { db, store, service } = setup();
    const { id } = await service.create(alice, { resource: 'prod-db' });
    db.exec("CREATE TEMP TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit disk full'); END");
    await expect(service.review(bob, id, 'approve', null)).rejects.toThrow('audit disk full');
    expect(store.get(id)).toMatchObject({ state: 'pending', reviews: [] });
  });
});
