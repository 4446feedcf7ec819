import { describe, expect, it } from 'vitest';
import type { ResourcePolicy } from '../../../broker/config/types.js';
import { openRequest } from '../../../broker/requests/policy.js';
import { applyEvent, isLive, nextDeadline, type Outcome } from '../../../broker/requests/state-machine.js';
import type { AccessRequest, RequestChange, RequestEvent, RequestState } from '../../../broker/requests/types.js';
import { AccessError, type ErrorCode } from '../../../shared/errors.js';
import { context, events, HOUR, input, MINUTE, people, policy, T0, type PersonName } from './fixtures.js';

const { approve, deny, cancel, revoke, tick, extend, postReview } = events;

/** breakGlass: { groups: [sg-oncall], maxDuration: 1h }. */
const BREAK_GLASS: Partial<ResourcePolicy> = { breakGlass: { groups: ['sg-oncall'], maxDurationMs: HOUR } };

/** extend: { maxTotal: 3h, approval: required }. */
const EXTEND_REQUIRED: Partial<ResourcePolicy> = { extend: { maxTotalMs: 3 * HOUR, autoApproveWithinMs: null } };
/** extend: { maxTotal: 3h, approval: { none-within: 1h } }. */
const EXTEND_WITHIN_1H: Partial<ResourcePolicy> = { extend: { maxTotalMs: 3 * HOUR, autoApproveWithinMs: HOUR } };

interface Step {
  /** Minutes after the request was made. */
  at: number;
  event: RequestEvent;
  /** The refusal this step must meet; the request is then unchanged, except for what the clock did. */
  refused?: ErrorCode;
  /** State after the step. */
  state: RequestState;
  /** Changes the step reports (for a refusal by the clock: the clock's changes). */
  changes?: RequestChange[];
  /** expiresAt, in minutes after the request was made. */
  expiresAt?: number;
  /** States of the grant's extensions after the step, oldest first. */
  extensions?: string[];
  /** The post-review verdict after the step (null: none yet). */
  verdict?: string | null;
}

interface Scenario {
  name: string;
  policy?: Partial<ResourcePolicy>;
  /** Who makes the request (default alice) and for how long (default 1h). */
  requester?: PersonName;
  duration?: string;
  /** State right after creation (default pending). */
  opened?: RequestState;
  /** Opened as break-glass (`access request --break-glass`). */
  breakGlass?: boolean;
  steps: Step[];
}

const scenarios: Scenario[] = [
  // Thresholds.
  {
    name: 'one approval from an approver grants access, the clock starting at that approval',
    steps: [{ at: 5, event: approve('bob'), state: 'approved', changes: ['review_recorded', 'approved'], expiresAt: 65 }],
  },
  {
    name: 'with approvals: 2 the first approval records a review and the second grants',
    policy: { approvals: 2 },
    steps: [
      { at: 5, event: approve('bob'), state: 'pending', changes: ['review_recorded'] },
      { at: 10, event: approve('carol'), state: 'approved', changes: ['review_recorded', 'approved'], expiresAt: 70 },
    ],
  },
  {
    name: 'an approver group named by display name matches without regard to case',
    policy: { approvers: ['SG-DBA'] },
    steps: [{ at: 1, event: approve('bob'), state: 'approved' }],
  },

  // Who may review.
  {
    name: 'a requester who is also an approver may not approve their own request',
    requester: 'dan',
    steps: [
      { at: 1, event: approve('dan'), refused: 'self_review', state: 'pending' },
      { at: 2, event: approve('bob'), state: 'approved' },
    ],
  },
  {
    name: 'a requester may not deny their own request either',
    requester: 'dan',
    steps: [{ at: 1, event: deny('dan'), refused: 'self_review', state: 'pending' }],
  },
  {
    name: 'someone outside the approver groups may not review',
    steps: [
      { at: 1, event: approve('mallory'), refused: 'not_an_approver', state: 'pending' },
      { at: 2, event: deny('erin'), refused: 'not_an_approver', state: 'pending' },
    ],
  },
  {
    name: 'an approver removed from the group before reviewing no longer counts',
    steps: [
      // The groups read at review time no longer hold sg-dba.
      { at: 1, event: approve('bob', []), refused: 'not_an_approver', state: 'pending' },
      { at: 2, event: approve('carol'), state: 'approved' },
    ],
  },
  {
    name: 'the same approver approving twice counts once',
    policy: { approvals: 2 },
    steps: [
      { at: 1, event: approve('bob'), state: 'pending' },
      { at: 2, event: approve('bob'), refused: 'already_reviewed', state: 'pending' },
      { at: 3, event: deny('bob'), refused: 'already_reviewed', state: 'pending' },
      { at: 4, event: approve('carol'), state: 'approved', expiresAt: 64 },
    ],
  },

  // Deny.
  {
    name: 'one eligible deny denies, even after an approval',
    policy: { approvals: 2 },
    steps: [
      { at: 1, event: approve('bob'), state: 'pending' },
      { at: 2, event: deny('carol'), state: 'denied', changes: ['review_recorded', 'denied'] },
    ],
  },
  {
    name: 'a deny needs a non-empty reason',
    steps: [
      { at: 1, event: deny('bob', null), refused: 'reason_required', state: 'pending' },
      { at: 2, event: deny('bob', '   '), refused: 'reason_required', state: 'pending' },
      { at: 3, event: deny('bob', 'not during the freeze'), state: 'denied' },
    ],
  },
  {
    name: 'a review comment carrying a terminal escape sequence is refused',
    steps: [{ at: 1, event: deny('bob', 'ok\u001b[2Jsure'), refused: 'reason_invalid', state: 'pending' }],
  },
  {
    name: 'a review comment above the length limit is refused',
    steps: [{ at: 1, event: deny('bob', 'x'.repeat(1001)), refused: 'reason_too_long', state: 'pending' }],
  },

  // Reviews of requests that are no longer pending.
  {
    name: 'an approved request takes no more reviews',
    steps: [
      { at: 1, event: approve('bob'), state: 'approved' },
      { at: 2, event: approve('carol'), refused: 'request_not_pending', state: 'approved' },
      { at: 3, event: deny('carol'), refused: 'request_not_pending', state: 'approved' },
    ],
  },
  {
    name: 'a denied request takes no more reviews',
    steps: [
      { at: 1, event: deny('bob'), state: 'denied' },
      { at: 2, event: approve('carol'), refused: 'request_not_pending', state: 'denied' },
    ],
  },
  {
    name: 'a cancelled request takes no reviews',
    steps: [
      { at: 1, event: cancel('alice'), state: 'cancelled', changes: ['cancelled'] },
      { at: 2, event: approve('bob'), refused: 'request_not_pending', state: 'cancelled' },
    ],
  },

  // The pending TTL.
  {
    name: 'a review arriving at the pending deadline is refused and the request times out',
    steps: [{ at: 60, event: approve('bob'), refused: 'request_not_pending', state: 'timed_out', changes: ['timed_out'] }],
  },
  {
    name: 'a half-approved request times out at its deadline all the same',
    policy: { approvals: 2 },
    steps: [
      { at: 59, event: approve('bob'), state: 'pending' },
      { at: 61, event: approve('carol'), refused: 'request_not_pending', state: 'timed_out', changes: ['timed_out'] },
    ],
  },
  {
    name: 'the clock times out a pending request at pendingUntil and not before, once',
    steps: [
      { at: 59, event: tick(), state: 'pending', changes: [] },
      { at: 60, event: tick(), state: 'timed_out', changes: ['timed_out'] },
      { at: 120, event: tick(), state: 'timed_out', changes: [] },
      { at: 121, event: approve('bob'), refused: 'request_not_pending', state: 'timed_out' },
    ],
  },

  // Expiry: the clock starts at approval.
  {
    name: 'a grant approved 30 minutes after the request expires one hour after approval',
    steps: [
      { at: 30, event: approve('bob'), state: 'approved', expiresAt: 90 },
      { at: 60, event: tick(), state: 'approved', changes: [] },
      { at: 89, event: tick(), state: 'approved', changes: [] },
      { at: 90, event: tick(), state: 'expired', changes: ['expired'] },
      { at: 91, event: tick(), state: 'expired', changes: [] },
    ],
  },
  {
    name: 'with two approvals the clock starts at the second one',
    policy: { approvals: 2 },
    duration: '2h',
    steps: [
      { at: 10, event: approve('bob'), state: 'pending' },
      { at: 50, event: approve('carol'), state: 'approved', expiresAt: 170 },
      { at: 170, event: tick(), state: 'expired', changes: ['expired'] },
    ],
  },

  // Revoke.
  {
    name: 'the requester may revoke their own grant',
    steps: [
      { at: 1, event: approve('bob'), state: 'approved' },
      { at: 10, event: revoke('alice'), state: 'revoked', changes: ['revoked'] },
    ],
  },
  {
    name: 'an approver who did not review may revoke a grant',
    steps: [
      { at: 1, event: approve('bob'), state: 'approved' },
      { at: 10, event: revoke('carol', 'done with it'), state: 'revoked' },
    ],
  },
  {
    name: 'an admin may revoke a grant',
    steps: [
      { at: 1, event: approve('bob'), state: 'approved' },
      { at: 10, event: revoke('erin'), state: 'revoked' },
    ],
  },
  {
    name: 'someone else may not revoke a grant',
    steps: [
      { at: 1, event: approve('bob'), state: 'approved' },
      { at: 10, event: revoke('mallory'), refused: 'not_allowed_to_revoke', state: 'approved' },
      { at: 11, event: revoke('oscar'), refused: 'not_allowed_to_revoke', state: 'approved' },
    ],
  },
  {
    name: 'a grant past its expiry cannot be revoked, and the refusal records the expiry',
    steps: [
      { at: 5, event: approve('bob'), state: 'approved', expiresAt: 65 },
      { at: 65, event: revoke('erin'), refused: 'grant_not_active', state: 'expired', changes: ['expired'] },
      { at: 66, event: revoke('erin'), refused: 'grant_not_active', state: 'expired' },
    ],
  },
  {
    name: 'a grant already revoked cannot be revoked again',
    steps: [
      { at: 1, event: approve('bob'), state: 'approved' },
      { at: 2, event: revoke('bob'), state: 'revoked' },
      { at: 3, event: revoke('erin'), refused: 'grant_not_active', state: 'revoked' },
    ],
  },
  {
    name: 'a pending request is not a grant to revoke',
    steps: [{ at: 1, event: revoke('erin'), refused: 'grant_not_active', state: 'pending' }],
  },

  // Cancel.
  {
    name: 'only the requester may cancel',
    steps: [
      { at: 1, event: cancel('bob'), refused: 'not_allowed_to_cancel', state: 'pending' },
      { at: 2, event: cancel('erin'), refused: 'not_allowed_to_cancel', state: 'pending' },
      { at: 3, event: cancel('alice'), state: 'cancelled', changes: ['cancelled'] },
    ],
  },
  {
    name: 'an approved request cannot be cancelled (it can be revoked)',
    steps: [
      { at: 1, event: approve('bob'), state: 'approved' },
      { at: 2, event: cancel('alice'), refused: 'request_not_pending', state: 'approved' },
      { at: 3, event: revoke('alice'), state: 'revoked' },
    ],
  },
  {
    name: 'a timed-out request cannot be cancelled',
    steps: [{ at: 61, event: cancel('alice'), refused: 'request_not_pending', state: 'timed_out', changes: ['timed_out'] }],
  },

  // Auto-approve.
  {
    name: 'a member of an autoApprove group is granted at creation and takes no reviews',
    requester: 'oscar',
    opened: 'approved',
    steps: [
      { at: 1, event: approve('bob'), refused: 'request_not_pending', state: 'approved' },
      { at: 59, event: tick(), state: 'approved', changes: [] },
      { at: 60, event: tick(), state: 'expired', changes: ['expired'] },
    ],
  },
  {
    name: 'an auto-approved grant can be revoked by an approver',
    requester: 'oscar',
    opened: 'approved',
    steps: [{ at: 5, event: revoke('bob'), state: 'revoked' }],
  },

  // Extensions (access extend): approval required.
  {
    name: 'an extension that needs approval waits, then moves the expiry by its length once approved',
    policy: EXTEND_REQUIRED,
    steps: [
      { at: 0, event: approve('bob'), state: 'approved', expiresAt: 60 },
      { at: 50, event: extend('alice', '30m'), state: 'approved', changes: ['extension_requested'], expiresAt: 60, extensions: ['pending'] },
      { at: 55, event: approve('carol'), state: 'approved', changes: ['extension_review_recorded', 'extended'], expiresAt: 90, extensions: ['approved'] },
      { at: 60, event: tick(), state: 'approved', changes: [] },
      { at: 90, event: tick(), state: 'expired', changes: ['expired'] },
    ],
  },
  {
    name: 'a refused extension leaves the grant as it was',
    policy: EXTEND_REQUIRED,
    steps: [
      { at: 0, event: approve('bob'), state: 'approved', expiresAt: 60 },
      { at: 10, event: extend('alice', '30m'), state: 'approved', extensions: ['pending'] },
      { at: 11, event: deny('bob', null), refused: 'reason_required', state: 'approved', extensions: ['pending'] },
      {
        at: 12,
        event: deny('bob', 'hand over to the night shift'),
        state: 'approved',
        changes: ['extension_review_recorded', 'extension_denied'],
        expiresAt: 60,
        extensions: ['denied'],
      },
      { at: 60, event: tick(), state: 'expired', changes: ['expired'] },
    ],
  },
  {
    name: 'an extension needs the approvals the resource needs, from distinct approvers who are not the requester',
    policy: { ...EXTEND_REQUIRED, approvals: 2 },
    requester: 'dan',
    steps: [
      { at: 0, event: approve('bob'), state: 'pending' },
      { at: 1, event: approve('carol'), state: 'approved', expiresAt: 61 },
      { at: 30, event: extend('dan', '1h'), state: 'approved', extensions: ['pending'] },
      { at: 31, event: approve('dan'), refused: 'self_review', state: 'approved' },
      { at: 32, event: approve('mallory'), refused: 'not_an_approver', state: 'approved' },
      { at: 33, event: approve('bob'), state: 'approved', changes: ['extension_review_recorded'], expiresAt: 61, extensions: ['pending'] },
      { at: 34, event: approve('bob'), refused: 'already_reviewed', state: 'approved' },
      { at: 35, event: approve('carol'), state: 'approved', changes: ['extension_review_recorded', 'extended'], expiresAt: 121, extensions: ['approved'] },
    ],
  },
  {
    name: 'an extension still pending when the grant ends lapses with it',
    policy: EXTEND_REQUIRED,
    steps: [
      { at: 0, event: approve('bob'), state: 'approved' },
      { at: 50, event: extend('alice', '30m'), state: 'approved', extensions: ['pending'] },
      { at: 60, event: approve('bob'), refused: 'request_not_pending', state: 'expired', changes: ['expired', 'extension_lapsed'], extensions: ['lapsed'] },
    ],
  },
  {
    name: 'a revoke lapses a pending extension',
    policy: EXTEND_REQUIRED,
    steps: [
      { at: 0, event: approve('bob'), state: 'approved' },
      { at: 10, event: extend('alice', '30m'), state: 'approved' },
      { at: 11, event: revoke('bob', 'incident over'), state: 'revoked', changes: ['revoked', 'extension_lapsed'], extensions: ['lapsed'] },
    ],
  },
  {
    name: 'one pending extension at a time',
    policy: EXTEND_REQUIRED,
    steps: [
      { at: 0, event: approve('bob'), state: 'approved' },
      { at: 10, event: extend('alice', '30m'), state: 'approved' },
      { at: 11, event: extend('alice', '15m'), refused: 'extension_pending', state: 'approved', extensions: ['pending'] },
    ],
  },

  // Extensions: who, what and how long.
  {
    name: 'only the requester may extend their grant, and only while still a requester',
    policy: EXTEND_REQUIRED,
    steps: [
      { at: 0, event: approve('bob'), state: 'approved' },
      { at: 10, event: extend('bob', '30m'), refused: 'not_allowed_to_extend', state: 'approved' },
      { at: 11, event: extend('alice', '30m', 'still working', []), refused: 'not_a_requester', state: 'approved', extensions: [] },
    ],
  },
  {
    name: 'a resource without extend allows no extension',
    steps: [
      { at: 0, event: approve('bob'), state: 'approved' },
      { at: 10, event: extend('alice', '30m'), refused: 'extend_not_allowed', state: 'approved', expiresAt: 60, extensions: [] },
    ],
  },
  {
    name: 'maxTotal caps the grant with its extensions, counted from approval',
    policy: EXTEND_REQUIRED,
    duration: '2h',
    steps: [
      { at: 0, event: approve('bob'), state: 'approved', expiresAt: 120 },
      { at: 10, event: extend('alice', '1h1m'), refused: 'extension_too_long', state: 'approved', expiresAt: 120, extensions: [] },
      { at: 11, event: extend('alice', '1h'), state: 'approved', extensions: ['pending'] },
      { at: 12, event: approve('bob'), state: 'approved', expiresAt: 180 },
      { at: 13, event: extend('alice', '1m'), refused: 'extension_too_long', state: 'approved', expiresAt: 180 },
    ],
  },
  {
    name: 'an extension of a pending request or an ended grant is refused',
    policy: EXTEND_REQUIRED,
    steps: [
      { at: 1, event: extend('alice', '30m'), refused: 'grant_not_active', state: 'pending' },
      { at: 2, event: approve('bob'), state: 'approved', expiresAt: 62 },
      { at: 62, event: extend('alice', '30m'), refused: 'grant_not_active', state: 'expired', changes: ['expired'] },
    ],
  },
  {
    name: 'an extension needs a duration that parses and a reason when the policy requires one',
    policy: { ...EXTEND_REQUIRED, reason: 'required' },
    steps: [
      { at: 0, event: approve('bob'), state: 'approved' },
      { at: 1, event: extend('alice', 'soon'), refused: 'duration_invalid', state: 'approved' },
      { at: 2, event: extend('alice', '30m', null), refused: 'reason_required', state: 'approved' },
      { at: 3, event: extend('alice', '30m', 'x\u001b[2J'), refused: 'reason_invalid', state: 'approved', extensions: [] },
    ],
  },

  // Extensions: approval by policy (none-within).
  {
    name: 'within none-within extensions are approved by policy; beyond it they need approval',
    policy: EXTEND_WITHIN_1H,
    steps: [
      { at: 0, event: approve('bob'), state: 'approved', expiresAt: 60 },
      { at: 50, event: extend('alice', '40m'), state: 'approved', changes: ['extension_requested', 'extended'], expiresAt: 100, extensions: ['approved'] },
      {
        at: 90,
        event: extend('alice', '20m'),
        state: 'approved',
        changes: ['extension_requested', 'extended'],
        expiresAt: 120,
        extensions: ['approved', 'approved'],
      },
      // 1h added so far: one more minute is beyond none-within.
      {
        at: 110,
        event: extend('alice', '30m'),
        state: 'approved',
        changes: ['extension_requested'],
        expiresAt: 120,
        extensions: ['approved', 'approved', 'pending'],
      },
      { at: 111, event: approve('carol'), state: 'approved', expiresAt: 150, extensions: ['approved', 'approved', 'approved'] },
    ],
  },
  {
    name: 'an extension that would cross none-within needs approval as a whole',
    policy: EXTEND_WITHIN_1H,
    steps: [
      { at: 0, event: approve('bob'), state: 'approved', expiresAt: 60 },
      { at: 50, event: extend('alice', '1h30m'), state: 'approved', changes: ['extension_requested'], expiresAt: 60, extensions: ['pending'] },
    ],
  },
  // Break-glass and its post-review.
  {
    name: 'a break-glass grant is live at once and waits for a post-review by an approver, once',
    policy: BREAK_GLASS,
    requester: 'oscar',
    breakGlass: true,
    opened: 'approved',
    steps: [
      { at: 1, event: approve('bob'), refused: 'request_not_pending', state: 'approved', verdict: null },
      { at: 2, event: postReview('oscar'), refused: 'self_review', state: 'approved', verdict: null },
      { at: 3, event: postReview('mallory'), refused: 'not_an_approver', state: 'approved', verdict: null },
      { at: 4, event: postReview('erin'), refused: 'not_an_approver', state: 'approved', verdict: null },
      { at: 5, event: postReview('bob', 'acceptable', null), refused: 'reason_required', state: 'approved', verdict: null },
      { at: 6, event: postReview('bob', 'not_acceptable', 'nothing was down'), state: 'approved', changes: ['post_reviewed'], verdict: 'not_acceptable' },
      { at: 7, event: postReview('carol'), refused: 'already_reviewed', state: 'approved', verdict: 'not_acceptable' },
    ],
  },
  {
    name: 'a post-review may come after the break-glass grant ended, and records the expiry with it',
    policy: BREAK_GLASS,
    requester: 'oscar',
    breakGlass: true,
    opened: 'approved',
    steps: [{ at: 90, event: postReview('carol'), state: 'expired', changes: ['expired', 'post_reviewed'], verdict: 'acceptable' }],
  },
  {
    name: 'a grant that was not break-glass takes no post-review',
    steps: [
      { at: 1, event: approve('bob'), state: 'approved' },
      { at: 2, event: postReview('carol'), refused: 'not_a_break_glass_grant', state: 'approved', verdict: null },
    ],
  },
  {
    name: 'an auto-approved grant may be extended within none-within by policy too',
    policy: EXTEND_WITHIN_1H,
    requester: 'oscar',
    opened: 'approved',
    steps: [{ at: 30, event: extend('oscar', '1h'), state: 'approved', changes: ['extension_requested', 'extended'], expiresAt: 120 }],
  },
];

describe('applyEvent', () => {
  it.each(scenarios)('$name', (scenario) => {
    const p = policy(scenario.policy);
    const requester = people[scenario.requester ?? 'alice'];
    const asked = input({ duration: scenario.duration ?? '1h', ...(scenario.breakGlass ? { breakGlass: true } : {}) });
    let { request } = openRequest(asked, requester.actor, requester.groups, context(p, T0), 'req-1');
    if (scenario.breakGlass) expect(request).toMatchObject({ breakGlass: true, autoApproved: false, reviews: [] });
    expect(request.state, 'after creation').toBe(scenario.opened ?? 'pending');

    scenario.steps.forEach((step, index) => {
      const label = `step ${index + 1} (at +${step.at}m, ${step.event.type})`;
      const outcome = applyEvent(request, step.event, context(p, T0 + step.at * MINUTE));
      expect(outcome.ok ? undefined : outcome.refusal.code, label).toBe(step.refused);
      if (step.changes !== undefined) expect(outcome.changes, label).toEqual(step.changes);
      request = outcome.request;
      expect(request.state, label).toBe(step.state);
      if (step.expiresAt !== undefined) expect(request.expiresAt, label).toBe(T0 + step.expiresAt * MINUTE);
      if (step.extensions !== undefined)
        expect(
          request.extensions.map((e) => e.state),
          label,
        ).toEqual(step.extensions);
    });
  });
});

function opened(overrides: Partial<ResourcePolicy> = {}): { request: AccessRequest; p: ResourcePolicy } {
  const p = policy(overrides);
  const { request } = openRequest(input(), people.alice.actor, people.alice.groups, context(p, T0), 'req-1');
  return { request, p };
}

/** The refusal of an outcome; fails the test when the event was not refused. */
function refusal(outcome: Outcome): AccessError {
  if (outcome.ok) throw new Error(`expected a refusal, got ${outcome.request.state}`);
  return outcome.refusal;
}

/** The request after an event that must succeed. */
function applied(outcome: Outcome): AccessRequest {
  if (!outcome.ok) throw new Error(`expected a transition, got ${outcome.refusal.code}: ${outcome.refusal.message}`);
  return outcome.request;
}

/** The AccessError a call throws (only a programming error throws: the policy of another resource). */
function thrown(run: () => unknown): AccessError {
  try {
    run();
  } catch (error) {
    if (error instanceof AccessError) return error;
    throw error;
  }
  throw new Error('expected a throw');
}

describe('state machine details', () => {
  it('records who reviewed, when, and why a request was denied', () => {
    const { request, p } = opened();
    const denied = applied(applyEvent(request, deny('bob', 'use the read replica'), context(p, T0 + 7 * MINUTE)));
    expect(denied.reviews).toEqual([{ reviewer: people.bob.actor, decision: 'deny', comment: 'use the read replica', at: T0 + 7 * MINUTE }]);
    expect(denied).toMatchObject({ closedAt: T0 + 7 * MINUTE, closedBy: people.bob.actor, closeReason: 'use the read replica' });
    expect(denied.grantedAt).toBeNull();
  });

  it('records the revoker and the revoke reason', () => {
    const { request, p } = opened();
    const approved = applied(applyEvent(request, approve('bob'), context(p, T0 + MINUTE)));
    const revoked = applied(applyEvent(approved, revoke('erin', 'incident closed'), context(p, T0 + 2 * MINUTE)));
    expect(revoked).toMatchObject({ closedAt: T0 + 2 * MINUTE, closedBy: people.erin.actor, closeReason: 'incident closed' });
  });

  it('closes a timed-out request at its deadline, not at the late tick that noticed it', () => {
    const { request, p } = opened();
    const timedOut = applied(applyEvent(request, tick(), context(p, T0 + 5 * HOUR)));
    expect(timedOut.closedAt).toBe(T0 + HOUR);
    expect(timedOut.closedBy).toBeNull();
  });

  it('says when a late review found the request timed out', () => {
    const { request, p } = opened();
    const outcome = applyEvent(request, approve('bob'), context(p, T0 + 2 * HOUR));
    const error = refusal(outcome);
    // The refusal carries the clock's transition, for the broker to store with it.
    expect(outcome).toMatchObject({ changes: ['timed_out'], request: { state: 'timed_out' } });
    expect(error.message).toContain('Request req-1 timed out at 10:00 UTC');
    expect(error.status).toBe(409);
  });

  it('says when a grant expired to someone trying to revoke it', () => {
    const { request, p } = opened();
    const approved = applied(applyEvent(request, approve('bob'), context(p, T0 + 5 * MINUTE)));
    const error = refusal(applyEvent(approved, revoke('alice'), context(p, T0 + 3 * HOUR)));
    expect(error.message).toContain('the grant expired at 10:05 UTC');
  });

  it('names the current state when refusing a review of a request no longer pending', () => {
    const { request, p } = opened();
    const denied = applied(applyEvent(request, deny('carol'), context(p, T0 + MINUTE)));
    const error = refusal(applyEvent(denied, approve('bob'), context(p, T0 + 2 * MINUTE)));
    expect(error.message).toBe('Request req-1 was denied by carol@contoso.com at 09:01 UTC; only a pending request can be reviewed.');
  });

  it('names the approver groups when refusing someone outside them', () => {
    const { request, p } = opened();
    const error = refusal(applyEvent(request, approve('mallory'), context(p, T0 + MINUTE)));
    expect(error).toMatchObject({ code: 'not_an_approver', status: 403, exitCode: 3 });
    expect(error.message).toContain('only members of 7c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3f may');
  });

  it('keeps the number of approvals fixed at creation when the policy changes later', () => {
    const { request } = opened({ approvals: 1 });
    const stricter = policy({ approvals: 2 });
    const approved = applied(applyEvent(request, approve('bob'), context(stricter, T0 + MINUTE)));
    expect(approved.state).toBe('approved');
  });

  it('judges reviewers against the policy as it is now', () => {
    const { request } = opened();
    const moved = policy({ approvers: ['sg-platform'] });
    expect(refusal(applyEvent(request, approve('bob'), context(moved, T0 + MINUTE))).code).toBe('not_an_approver');
    expect(applied(applyEvent(request, approve('erin'), context(moved, T0 + MINUTE))).state).toBe('approved');
  });

  it('refuses to run with the policy of another resource', () => {
    const { request } = opened();
    const other = policy({ name: 'prod-ssh' });
    expect(thrown(() => applyEvent(request, approve('bob'), context(other, T0 + MINUTE))).code).toBe('internal');
  });

  it('keeps the clock of a request whose resource left the configuration, and lets only its requester and admins act', () => {
    const { request, p } = opened();
    const approved = applied(applyEvent(request, approve('bob'), context(p, T0 + MINUTE)));
    const gone = (now: number) => ({ ...context(p, now), policy: null });
    expect(refusal(applyEvent(request, approve('bob'), gone(T0 + MINUTE))).code).toBe('not_an_approver');
    expect(refusal(applyEvent(approved, revoke('bob'), gone(T0 + 2 * MINUTE))).code).toBe('not_allowed_to_revoke');
    expect(applied(applyEvent(approved, revoke('erin'), gone(T0 + 2 * MINUTE))).state).toBe('revoked');
    expect(applied(applyEvent(approved, revoke('alice'), gone(T0 + 2 * MINUTE))).state).toBe('revoked');
    expect(applied(applyEvent(request, tick(), gone(T0 + HOUR))).state).toBe('timed_out');
  });

  it('never modifies the request it is given', () => {
    const { request, p } = opened({ approvals: 2 });
    const frozen = deepFreeze(structuredClone(request));
    const next = applied(applyEvent(frozen, approve('bob'), context(p, T0 + MINUTE)));
    applyEvent(next, approve('carol'), context(p, T0 + 2 * MINUTE));
    applyEvent(frozen, tick(), context(p, T0 + 2 * HOUR));
    expect(frozen).toEqual(request);
    expect(next.reviews).toHaveLength(1);
  });
});

describe('nextDeadline and isLive', () => {
  it('gives pendingUntil for a pending request and expiresAt for a grant', () => {
    const { request, p } = opened();
    expect(nextDeadline(request)).toBe(T0 + HOUR);
    const approved = applied(applyEvent(request, approve('bob'), context(p, T0 + 30 * MINUTE)));
    expect(nextDeadline(approved)).toBe(T0 + 90 * MINUTE);
    const revoked = applied(applyEvent(approved, revoke('alice'), context(p, T0 + 31 * MINUTE)));
    expect(nextDeadline(revoked)).toBeNull();
  });

  it('counts a grant live from approval until just before expiresAt', () => {
    const { request, p } = opened();
    expect(isLive(request, T0)).toBe(false);
    const approved = applied(applyEvent(request, approve('bob'), context(p, T0 + 30 * MINUTE)));
    expect(isLive(approved, T0 + 30 * MINUTE)).toBe(true);
    expect(isLive(approved, T0 + 90 * MINUTE - 1)).toBe(true);
    expect(isLive(approved, T0 + 90 * MINUTE)).toBe(false);
  });

  it('counts a revoked grant dead before its expiry', () => {
    const { request, p } = opened();
    const approved = applied(applyEvent(request, approve('bob'), context(p, T0 + MINUTE)));
    const revoked = applied(applyEvent(approved, revoke('bob'), context(p, T0 + 2 * MINUTE)));
    expect(isLive(revoked, T0 + 3 * MINUTE)).toBe(false);
  });
});

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
