// Delivery rules of the events hub (shared/wire.ts EventMessage): the requester receives every
// change to their requests; approvers receive every change to pending requests they can act on.

import { describe, expect, it } from 'vitest';
import { EventHub } from '../../../broker/events/hub.js';
import type { AccessRequest, Extension, RequestChange } from '../../../broker/requests/types.js';
import type { EventMessage } from '../../../shared/wire.js';
import { HOUR, T0, config, g, recordingLog } from '../requests/harness.js';
import { pendingRequest } from '../store/sample-requests.js';

function request(over: Partial<AccessRequest> = {}): AccessRequest {
  return pendingRequest({
    id: 'r1',
    requester: { oid: 'alice', upn: 'alice@contoso.com' },
    reason: null,
    ticket: null,
    approvalsRequired: 1,
    createdAt: T0,
    pendingUntil: T0 + HOUR,
    ...over,
  });
}

const approved = request({ state: 'approved', grantedAt: T0, expiresAt: T0 + HOUR });

function listen(hub: EventHub, oid: string, groups = [g.dba]): EventMessage[] {
  const got: EventMessage[] = [];
  hub.subscribe({ oid, upn: null }, groups, (m) => got.push(m));
  return got;
}

function extension(state: Extension['state'], approvalsRequired: number): Extension {
  return {
    seq: 1,
    durationMs: 1_800_000,
    reason: null,
    requestedAt: 0,
    state,
    approvalsRequired,
    reviews: [],
    decidedAt: state === 'pending' ? null : 1,
    previousExpiresAt: 0,
  };
}

function changesOf(messages: EventMessage[]): string[] {
  return messages.map((m) => (m.type === 'request' ? m.change : m.type));
}

describe('EventHub', () => {
  it.each<[RequestChange, AccessRequest, boolean]>([
    ['created', request(), true],
    ['review_recorded', request(), true],
    ['approved', approved, true],
    ['denied', request({ state: 'denied' }), true],
    ['cancelled', request({ state: 'cancelled' }), true],
    ['timed_out', request({ state: 'timed_out' }), true],
    ['created', { ...approved, autoApproved: true }, false],
    ['auto_approved', { ...approved, autoApproved: true }, false],
    ['revoked', request({ state: 'revoked' }), false],
    ['expired', request({ state: 'expired' }), false],
    // Break-glass: every approver is told at once, and of its post-review.
    ['break_glass', { ...approved, breakGlass: true }, true],
    ['post_reviewed', { ...approved, breakGlass: true }, true],
    // Extensions: approvers hear of one waiting for them and of its decision, not of one the policy approved.
    ['extension_requested', { ...approved, extensions: [extension('pending', 1)] }, true],
    ['extended', { ...approved, extensions: [extension('approved', 1)] }, true],
    ['extension_requested', { ...approved, extensions: [extension('approved', 0)] }, false],
    ['extended', { ...approved, extensions: [extension('approved', 0)] }, false],
  ])('sends %s (request %s) to the requester, and to approvers: %s', (change, req, toApprovers) => {
    const hub = new EventHub(config());
    const requester = listen(hub, 'alice', [g.eng]);
    const approver = listen(hub, 'bob', [g.dba]);
    hub.publish(change, req);
    expect(changesOf(requester)).toEqual([change]);
    expect(changesOf(approver)).toEqual(toApprovers ? [change] : []);
  });

  it('sends nothing to approvers of other resources or people in no group', () => {
    const hub = new EventHub(config());
    const secretApprover = listen(hub, 'sam', [g.secret]);
    const nobody = listen(hub, 'mallory', []);
    hub.publish('created', request());
    expect(secretApprover).toEqual([]);
    expect(nobody).toEqual([]);
  });

  it('sends a requester who is also an approver each change once', () => {
    const hub = new EventHub(config());
    const dan = listen(hub, 'alice', [g.eng, g.dba]);
    hub.publish('created', request());
    expect(changesOf(dan)).toEqual(['created']);
  });

  it("carries the request as the API shows it, with the resource's approver groups", () => {
    const hub = new EventHub(config());
    const got = listen(hub, 'alice', [g.eng]);
    hub.publish('approved', approved);
    expect(got[0]).toMatchObject({
      type: 'request',
      change: 'approved',
      request: { id: 'r1', state: 'approved', approvers: ['sg-dba'], expiresAt: new Date(T0 + HOUR).toISOString() },
    });
  });

  it('follows group changes and stops after close', () => {
    const hub = new EventHub(config());
    const got: EventMessage[] = [];
    const subscription = hub.subscribe({ oid: 'bob', upn: null }, [g.dba], (m) => got.push(m));
    subscription.setGroups([]);
    hub.publish('created', request());
    subscription.setGroups([g.dba]);
    hub.publish('created', request({ id: 'r2' }));
    subscription.close();
    hub.publish('created', request({ id: 'r3' }));
    expect(got.map((m) => (m.type === 'request' ? m.request.id : ''))).toEqual(['r2']);
    expect(hub.size).toBe(0);
  });

  it('sends a direct message to every stream of one person only', () => {
    const hub = new EventHub(config());
    const phone = listen(hub, 'alice', []);
    const laptop = listen(hub, 'alice', []);
    const other = listen(hub, 'bob');
    hub.sendTo('alice', { type: 'hello', oid: 'alice', upn: null });
    expect([phone.length, laptop.length, other.length]).toEqual([1, 1, 0]);
  });

  it('keeps delivering to the others when one stream throws', () => {
    const log = recordingLog();
    const hub = new EventHub(config(), log);
    hub.subscribe({ oid: 'alice', upn: null }, [], () => {
      throw new Error('socket gone');
    });
    const other = listen(hub, 'alice', []);
    hub.publish('created', request());
    expect(other).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ level: 'warn', message: 'event delivery failed' });
  });
});
