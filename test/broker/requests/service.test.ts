// The request service over the real SQLite store (in memory), with a fake directory and clock:
// every mutation reads groups, then loads → applies → saves in one transaction, then announces.

import { describe, expect, it } from 'vitest';
import { AccessError } from '../../../shared/errors.js';
import { HOUR, MINUTE, T0, g, harness, principal, resource } from './harness.js';

const alice = principal('alice');
const bob = principal('bob');
const carol = principal('carol');
const erin = principal('erin');
const ivy = principal('ivy');
const mallory = principal('mallory');
const robot = principal('robot', 'app');

async function refusal(promise: Promise<unknown>): Promise<AccessError> {
  const error: unknown = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  if (!(error instanceof AccessError)) throw new Error(`expected an AccessError, got ${String(error)}`);
  return error;
}

describe('RequestService: the request lifecycle', () => {
  it('creates a pending request and approves it with one approval; the clock starts at approval', async () => {
    const h = harness();
    const created = await h.service.create(alice, { resource: 'prod-db', duration: '2h', reason: 'INC-1' });
    expect(created).toMatchObject({ id: 'req001', state: 'pending', durationMs: 2 * HOUR, approvers: ['sg-dba'], approvalsRequired: 1 });
    h.clock.now = T0 + 10 * MINUTE;
    const approved = await h.service.review(bob, created.id, 'approve', 'ok');
    expect(approved).toMatchObject({ state: 'approved', approvals: 1, grantedAt: new Date(T0 + 10 * MINUTE).toISOString() });
    expect(approved.expiresAt).toBe(new Date(T0 + 10 * MINUTE + 2 * HOUR).toISOString());
    expect(h.store.get(created.id)?.state).toBe('approved');
    expect(h.changes.map((c) => c.change)).toEqual(['created', 'review_recorded', 'approved']);
    expect(h.log.lines.map((l) => l.message)).toEqual(['request created', 'request review_recorded', 'request approved']);
  });

  it('approves by policy when the requester is in an autoApprove group', async () => {
    const h = harness();
    const created = await h.service.create(principal('oscar'), { resource: 'prod-db' });
    expect(created).toMatchObject({ state: 'approved', autoApproved: true, durationMs: HOUR });
    expect(h.changes.map((c) => c.change)).toEqual(['created', 'auto_approved']);
  });

  it('denies with the reason the requester will read', async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    const denied = await h.service.review(bob, id, 'deny', 'use the read replica');
    expect(denied).toMatchObject({ state: 'denied', closeReason: 'use the read replica', closedBy: { oid: 'bob' } });
  });

  it('lets the requester cancel a pending request, and nobody else', async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    expect((await refusal(h.service.cancel(bob, id))).code).toBe('not_allowed_to_cancel');
    expect((await refusal(h.service.cancel(mallory, id))).code).toBe('request_not_found');
    expect(await h.service.cancel(alice, id)).toMatchObject({ state: 'cancelled', closedBy: { oid: 'alice' } });
  });

  it.each([
    ['the requester', alice],
    ['an approver', bob],
    ['an admin', erin],
  ])('lets %s revoke a live grant', async (_who, by) => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    await h.service.review(bob, id, 'approve', null);
    const revoked = await h.service.revoke(by, id, 'done');
    expect(revoked).toMatchObject({ state: 'revoked', closedBy: { oid: by.oid }, closeReason: 'done' });
    expect(h.changes.at(-1)).toMatchObject({ id, change: 'revoked' });
  });

  it('refuses a revoke by an auditor, who may see the grant but not end it', async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    await h.service.review(bob, id, 'approve', null);
    expect((await refusal(h.service.revoke(ivy, id, null))).code).toBe('not_allowed_to_revoke');
    expect(h.store.get(id)?.state).toBe('approved');
  });

  it("reads the reviewer's groups through the directory at the moment of review, not from the cache", async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    // Bob leaves sg-dba after the request was made; the cache still lists him.
    h.directory.cached.set('bob', [g.dba]);
    h.directory.current.set('bob', []);
    expect((await refusal(h.service.review(bob, id, 'approve', null))).code).toBe('not_an_approver');
    expect(h.directory.freshReads).toBe(1);
    expect(h.store.get(id)).toMatchObject({ state: 'pending', reviews: [] });
  });

  it('reads revoker groups fresh too: an approver removed from the group cannot revoke', async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    await h.service.review(bob, id, 'approve', null);
    h.directory.cached.set('carol', [g.dba]);
    h.directory.current.set('carol', []);
    expect((await refusal(h.service.revoke(carol, id, null))).code).toBe('not_allowed_to_revoke');
    expect(h.store.get(id)?.state).toBe('approved');
  });

  it("refuses a workload's request on a resource whose workloads do not name it, and any workload's review", async () => {
    const h = harness();
    expect((await refusal(h.service.create(robot, { resource: 'prod-db' }))).code).toBe('not_a_workload');
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    expect((await refusal(h.service.review(robot, id, 'approve', null))).code).toBe('forbidden');
  });

  it('lets a workload the policy names request: pending for an approver, or approved by policy under autoApproveWorkloads', async () => {
    const h = harness({ resources: [resource('batch', { workloads: ['cli'] }), resource('nightly', { workloads: ['cli'], autoApproveWorkloads: ['cli'] })] });
    const named = { ...robot, name: 'nightly-export' };
    const waiting = await h.service.create(named, { resource: 'batch', duration: '1h' });
    expect(waiting.state).toBe('pending');
    expect(waiting.requester).toMatchObject({ oid: robot.oid, upn: 'nightly-export (app cli)' });
    expect((await h.service.review(principal('bob'), waiting.id, 'approve', null)).state).toBe('approved');
    expect((await h.service.create(named, { resource: 'nightly', duration: '1h' })).state).toBe('approved');
  });

  it('refuses an unknown resource, listing the ones the caller may request', async () => {
    const h = harness();
    const error = await refusal(h.service.create(alice, { resource: 'prod-dbb' }));
    expect(error.code).toBe('unknown_resource');
    expect(error.message).toContain('"prod-dbb"');
    expect(error.message).toContain('prod-db, two-key');
    expect(error.message).not.toContain('secret-db');
  });

  it('passes policy refusals through and stores nothing', async () => {
    const h = harness();
    expect((await refusal(h.service.create(alice, { resource: 'prod-db', duration: '9h' }))).code).toBe('duration_too_long');
    expect((await refusal(h.service.create(mallory, { resource: 'prod-db' }))).code).toBe('not_a_requester');
    expect(h.store.listByStates(['pending', 'approved'])).toEqual([]);
    expect(h.changes).toEqual([]);
  });

  it('answers request_not_found for an id that does not exist', async () => {
    const h = harness();
    expect((await refusal(h.service.get(alice, 'nope'))).code).toBe('request_not_found');
    expect((await refusal(h.service.review(bob, 'nope', 'approve', null))).code).toBe('request_not_found');
  });
});

describe('RequestService: who may see a request', () => {
  it.each([
    ['its requester', 'alice', true],
    ['an approver of its resource', 'bob', true],
    ['an admin', 'erin', true],
    ['an auditor', 'ivy', true],
    ['someone in no group', 'mallory', false],
    ['another requester of the same resource', 'oscar', false],
  ])('%s: %s → visible %s', async (_who, oid, visible) => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    const seen = h.service.get(principal(oid), id);
    if (visible) await expect(seen).resolves.toMatchObject({ id });
    else expect((await refusal(seen)).code).toBe('request_not_found');
  });

  it("gives a stranger the same answer for someone else's request as for a missing one", async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    const hidden = await refusal(h.service.review(mallory, id, 'approve', null));
    const missing = await refusal(h.service.review(mallory, 'req999', 'approve', null));
    expect(hidden.code).toBe('request_not_found');
    expect(hidden.message.replace(id, 'ID')).toBe(missing.message.replace('req999', 'ID'));
  });
});

describe('RequestService: concurrent reviews', () => {
  /** Both fresh group reads resolve only once both reviews have asked: both transactions follow. */
  function lineUp(h: ReturnType<typeof harness>): void {
    let release: () => void = () => undefined;
    h.directory.gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const fresh = h.directory.fresh.bind(h.directory);
    h.directory.fresh = async (oid) => {
      const read = fresh(oid);
      if (h.directory.freshReads === 2) release();
      return read;
    };
  }

  it('records both approvals and makes exactly one approved transition on a 2-approval request', async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'two-key' });
    lineUp(h);
    const results = await Promise.allSettled([h.service.review(bob, id, 'approve', null), h.service.review(carol, id, 'approve', null)]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
    const stored = h.store.get(id);
    expect(stored?.state).toBe('approved');
    expect(stored?.reviews.map((r) => r.reviewer.oid).sort()).toEqual(['bob', 'carol']);
    expect(h.changes.filter((c) => c.change === 'approved')).toHaveLength(1);
    expect(h.changes.filter((c) => c.change === 'review_recorded')).toHaveLength(2);
  });

  it('refuses the second review of a 1-approval request, naming who approved it', async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    lineUp(h);
    const [first, second] = await Promise.allSettled([h.service.review(bob, id, 'approve', null), h.service.review(carol, id, 'approve', null)]);
    expect(first.status).toBe('fulfilled');
    expect(second.status).toBe('rejected');
    const error = (second as PromiseRejectedResult).reason as AccessError;
    expect(error.code).toBe('request_not_pending');
    expect(error.message).toContain('bob@contoso.com');
    expect(h.store.get(id)?.reviews.map((r) => r.reviewer.oid)).toEqual(['bob']);
    expect(h.changes.filter((c) => c.change === 'approved')).toHaveLength(1);
  });
});

describe('RequestService: listings', () => {
  it("lists the caller's requests newest first, filtered by state", async () => {
    const h = harness();
    const first = await h.service.create(alice, { resource: 'prod-db' });
    h.clock.now += MINUTE;
    const second = await h.service.create(alice, { resource: 'two-key' });
    await h.service.cancel(alice, first.id);
    expect((await h.service.listMine(alice)).map((r) => r.id)).toEqual([second.id, first.id]);
    expect((await h.service.listMine(alice, { states: ['pending', 'approved'] })).map((r) => r.id)).toEqual([second.id]);
    expect(await h.service.listMine(bob)).toEqual([]);
  });

  it('lists for an approver the pending requests they can act on, oldest first, with context', async () => {
    const h = harness();
    const earlier = await h.service.create(alice, { resource: 'prod-db', reason: 'earlier' });
    await h.service.review(bob, earlier.id, 'deny', 'no');
    h.clock.now += MINUTE;
    const a = await h.service.create(alice, { resource: 'prod-db', reason: 'now' });
    h.clock.now += MINUTE;
    const b = await h.service.create(alice, { resource: 'two-key' });
    await h.service.review(carol, b.id, 'approve', null);
    const forBob = await h.service.listApprovals(bob);
    expect(forBob.map((v) => v.id)).toEqual([a.id, b.id]);
    expect(forBob[0]?.requesterGroups).toEqual([g.eng]);
    expect(forBob[0]?.recent.map((r) => r.id)).toEqual([earlier.id]);
    // Carol already approved b; she can act on a only.
    expect((await h.service.listApprovals(carol)).map((v) => v.id)).toEqual([a.id]);
    expect(await h.service.listApprovals(alice)).toEqual([]);
    expect(await h.service.listApprovals(erin)).toEqual([]);
  });

  it('leaves out requests whose time to wait has passed, even before the sweep closed them', async () => {
    const h = harness();
    await h.service.create(alice, { resource: 'prod-db' });
    h.clock.now += HOUR;
    expect(await h.service.listApprovals(bob)).toEqual([]);
  });
});

describe('RequestService: the clock', () => {
  it('sweeps due requests: pending ones time out, ended grants expire at their deadline', async () => {
    const h = harness();
    const waiting = await h.service.create(alice, { resource: 'prod-db' });
    const granted = await h.service.create(alice, { resource: 'prod-db', duration: '30m' });
    await h.service.review(bob, granted.id, 'approve', null);
    expect(h.service.sweep()).toBe(0);
    h.clock.now = T0 + 2 * HOUR;
    expect(h.service.sweep()).toBe(2);
    expect(h.store.get(waiting.id)).toMatchObject({ state: 'timed_out', closedAt: T0 + HOUR });
    expect(h.store.get(granted.id)).toMatchObject({ state: 'expired', closedAt: T0 + 30 * MINUTE });
    expect(h.service.sweep()).toBe(0);
  });

  it('stores the timeout it found when a review arrives too late, and refuses the review', async () => {
    const h = harness();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    h.clock.now = T0 + HOUR + MINUTE;
    const error = await refusal(h.service.review(bob, id, 'approve', null));
    expect(error.code).toBe('request_not_pending');
    expect(h.store.get(id)).toMatchObject({ state: 'timed_out', closedAt: T0 + HOUR, reviews: [] });
    expect(h.changes.at(-1)).toMatchObject({ id, change: 'timed_out' });
  });
});
