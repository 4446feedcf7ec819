// The request/approval state machine: `(request, event, ctx) → outcome`, pure. The broker loads
// the request, reads the clock and the actor's groups, calls applyEvent, and stores the result
// with its changes (audit, events stream) in one transaction.
//
// Every event is preceded by the clock, so no caller can forget it: a review of a request whose
// pendingUntil has passed is refused, and so is a revoke of a grant past its expiresAt. A refusal
// is a value, like a transition: it carries what the clock did first, which is stored all the same.

import { AccessError, type ErrorCode } from '../../shared/errors.js';
import type { ResourcePolicy } from '../config/types.js';
import { inAnyGroup } from '../identity/directory.js';
import { applyPostReview } from './break-glass.js';
import { applyExtend, applyExtensionReview, lapsePending, pendingExtension, type ExtensionOutcome } from './extension.js';
import { grantAccess } from './grant.js';
import { assertPolicyFor, readComment } from './policy.js';
import type { AccessRequest, RequestChange, RequestEvent } from './types.js';
import { actorName, describeState, formatInstant, groupList } from './wording.js';

/** What an event did: the request after it and what changed (empty for a tick with nothing due). */
export interface Transition {
  ok: true;
  request: AccessRequest;
  changes: RequestChange[];
}

/**
 * Why an event was refused. `request` and `changes` are what the clock did before the event was
 * looked at (a request timed out or a grant expired; otherwise the request as given and no
 * changes): the caller stores them with the refusal.
 */
export interface Refusal {
  ok: false;
  refusal: AccessError;
  request: AccessRequest;
  changes: RequestChange[];
}

export type Outcome = Transition | Refusal;

export interface EventContext {
  /**
   * The policy of the request's resource as configured now; null when the resource has left the
   * configuration. Such a request keeps its clock (it still times out and expires) and can still
   * be revoked by its requester and admins; nobody can approve it any more.
   */
  policy: ResourcePolicy | null;
  /** Admin groups of the broker (BrokerConfig.admins). */
  admins: readonly string[];
  /** The instant of the event, ms since epoch. */
  now: number;
}

type ReviewEvent = Extract<RequestEvent, { type: 'review' }>;
type CancelEvent = Extract<RequestEvent, { type: 'cancel' }>;
type RevokeEvent = Extract<RequestEvent, { type: 'revoke' }>;
/** What an event can be refused for when the request's state does not allow it. */
type StateAction = 'review' | 'cancel' | 'revoke' | 'extend';

/**
 * Applies the clock at `ctx.now`, then `event`. Throws only on a programming error (the policy of
 * another resource); what a caller may not do is returned as a Refusal.
 */
export function applyEvent(request: AccessRequest, event: RequestEvent, ctx: EventContext): Outcome {
  if (ctx.policy) assertPolicyFor(request.resource, ctx.policy);
  const clocked = advanceClock(request, ctx.now);
  if (event.type === 'tick') return clocked;
  // A post-review applies to the grant as the clock left it, ended or not.
  if (event.type === 'post_review') return postReview(clocked, event, ctx);
  if (clocked.changes.length > 0) {
    const { code, message } = refusalFor(event.type, clocked.request, ctx.now);
    return { ok: false, refusal: new AccessError(code, message), request: clocked.request, changes: clocked.changes };
  }
  switch (event.type) {
    case 'review':
      // On a live grant, a review is a decision on its pending extension.
      if (request.state === 'approved' && pendingExtension(request) !== null)
        return extensionOutcome(request, applyExtensionReview(request, event, ctx.policy, ctx.now));
      return applyReview(request, event, ctx);
    case 'cancel':
      return applyCancel(request, event, ctx);
    case 'revoke':
      return applyRevoke(request, event, ctx);
    case 'extend':
      if (request.state !== 'approved') return refuseInState(request, 'extend', ctx.now);
      return extensionOutcome(request, applyExtend(request, event, ctx.policy, ctx.now));
  }
}

function postReview(clocked: Transition, event: Extract<RequestEvent, { type: 'post_review' }>, ctx: EventContext): Outcome {
  const read = readComment(event.comment, 'comment');
  if (!read.ok) return { ok: false, refusal: read.refusal, request: clocked.request, changes: clocked.changes };
  const outcome = applyPostReview(clocked.request, event, ctx.policy, ctx.now, read.comment);
  if (!outcome.ok) return { ok: false, refusal: outcome.refusal, request: clocked.request, changes: clocked.changes };
  return { ok: true, request: outcome.request, changes: [...clocked.changes, ...outcome.changes] };
}

function extensionOutcome(request: AccessRequest, outcome: ExtensionOutcome): Outcome {
  return outcome.ok ? outcome : { ok: false, refusal: outcome.refusal, request, changes: [] };
}

/** The next instant the clock changes this request: pendingUntil when pending, expiresAt when approved, else null. */
export function nextDeadline(request: AccessRequest): number | null {
  if (request.state === 'pending') return request.pendingUntil;
  if (request.state === 'approved') return request.expiresAt;
  return null;
}

/** Whether the request is a grant that allows access at `now`. */
export function isLive(request: AccessRequest, now: number): boolean {
  return request.state === 'approved' && request.expiresAt !== null && now < request.expiresAt;
}

/** Times out a pending request and expires a grant whose deadline has come; closedAt is the deadline itself. */
function advanceClock(request: AccessRequest, now: number): Transition {
  const deadline = nextDeadline(request);
  if (deadline === null || now < deadline) return { ok: true, request, changes: [] };
  if (request.state === 'pending') {
    return { ok: true, request: { ...request, state: 'timed_out', closedAt: deadline }, changes: ['timed_out'] };
  }
  // An extension still waiting when the grant ends lapses with it.
  const lapsed = lapsePending(request, deadline);
  return { ok: true, request: { ...lapsed.request, state: 'expired', closedAt: deadline }, changes: ['expired', ...lapsed.changes] };
}

/** A refusal of an event that left the request as it was. */
function refuse(request: AccessRequest, code: ErrorCode, message: string): Refusal {
  return { ok: false, refusal: new AccessError(code, message), request, changes: [] };
}

function applyReview(request: AccessRequest, event: ReviewEvent, ctx: EventContext): Outcome {
  const { now, policy } = ctx;
  if (request.state !== 'pending') return refuseInState(request, 'review', now);
  const { reviewer } = event;
  if (policy === null) {
    return refuse(
      request,
      'not_an_approver',
      `Nobody may review request ${request.id} any more: ${request.resource} is no longer in the broker's configuration.`,
    );
  }
  if (reviewer.oid === request.requester.oid) {
    return refuse(
      request,
      'self_review',
      `You made request ${request.id} yourself and may not review it — another member of ${groupList(policy.approvers, policy.groupNames)} must.`,
    );
  }
  // Membership as read at this moment: someone removed from the approver group no longer counts.
  if (!inAnyGroup(event.reviewerGroups, policy.approvers)) {
    return refuse(
      request,
      'not_an_approver',
      `You may not review requests for ${policy.name}: only members of ${groupList(policy.approvers, policy.groupNames)} may.`,
    );
  }
  const earlier = request.reviews.find((review) => review.reviewer.oid === reviewer.oid);
  if (earlier !== undefined) {
    const missing = request.approvalsRequired - countApprovals(request);
    return refuse(
      request,
      'already_reviewed',
      `You already approved request ${request.id} at ${formatInstant(earlier.at, now)}; it still needs ` +
        `${missing} approval${missing === 1 ? '' : 's'} from other members of ${groupList(policy.approvers, policy.groupNames)}.`,
    );
  }
  const read = readComment(event.comment, 'comment');
  if (!read.ok) return { ok: false, refusal: read.refusal, request, changes: [] };
  const { comment } = read;
  if (event.decision === 'deny' && comment === null) {
    return refuse(
      request,
      'reason_required',
      `Say why you deny request ${request.id}: a denial needs a reason the requester can read, e.g. --reason "use the read replica".`,
    );
  }
  const reviewed: AccessRequest = {
    ...request,
    reviews: [...request.reviews, { reviewer, decision: event.decision, comment, at: now }],
  };
  // One eligible deny denies, whatever approvals came before.
  if (event.decision === 'deny') {
    return {
      ok: true,
      request: { ...reviewed, state: 'denied', closedAt: now, closedBy: reviewer, closeReason: comment },
      changes: ['review_recorded', 'denied'],
    };
  }
  if (countApprovals(reviewed) < reviewed.approvalsRequired) return { ok: true, request: reviewed, changes: ['review_recorded'] };
  return { ok: true, request: grantAccess(reviewed, now, false), changes: ['review_recorded', 'approved'] };
}

function applyCancel(request: AccessRequest, event: CancelEvent, ctx: EventContext): Outcome {
  if (request.state !== 'pending') return refuseInState(request, 'cancel', ctx.now);
  if (event.by.oid !== request.requester.oid) {
    return refuse(
      request,
      'not_allowed_to_cancel',
      `Only ${actorName(request.requester)}, who made request ${request.id}, may cancel it — an approver can deny it instead.`,
    );
  }
  return {
    ok: true,
    request: { ...request, state: 'cancelled', closedAt: ctx.now, closedBy: event.by, closeReason: null },
    changes: ['cancelled'],
  };
}

function applyRevoke(request: AccessRequest, event: RevokeEvent, ctx: EventContext): Outcome {
  const { now } = ctx;
  if (request.state !== 'approved') return refuseInState(request, 'revoke', now);
  const { by } = event;
  const approvers = ctx.policy?.approvers ?? [];
  const allowed = by.oid === request.requester.oid || inAnyGroup(event.byGroups, approvers) || inAnyGroup(event.byGroups, ctx.admins);
  if (!allowed) {
    // Group names come with the resource's policy; once the resource left the config, ids show as written.
    const names = ctx.policy?.groupNames;
    const approverPart = approvers.length > 0 ? `, members of ${groupList(approvers, names)}` : '';
    return refuse(
      request,
      'not_allowed_to_revoke',
      `You may not revoke request ${request.id}: only its requester${approverPart} and admins (${groupList(ctx.admins, names)}) may.`,
    );
  }
  const read = readComment(event.reason, 'revoke reason');
  if (!read.ok) return { ok: false, refusal: read.refusal, request, changes: [] };
  const lapsed = lapsePending(request, now);
  return {
    ok: true,
    request: { ...lapsed.request, state: 'revoked', closedAt: now, closedBy: by, closeReason: read.comment },
    changes: ['revoked', ...lapsed.changes],
  };
}

/** Refuses `action` on a request whose state does not allow it. */
function refuseInState(request: AccessRequest, action: StateAction, now: number): Refusal {
  const { code, message } = refusalFor(action, request, now);
  return refuse(request, code, message);
}

/** Why `action` is refused on a request in its current (non-actionable) state. */
function refusalFor(action: StateAction, request: AccessRequest, now: number): { code: ErrorCode; message: string } {
  const state = `Request ${request.id} ${describeState(request, now)}`;
  if (action === 'extend') {
    const hint =
      request.state === 'pending'
        ? ' — extend it once it is approved.'
        : `; only an active grant can be extended — ask again with \`access request ${request.resource}\`.`;
    return { code: 'grant_not_active', message: `${state}${hint}` };
  }
  if (action === 'revoke') {
    const hint = request.state === 'pending' ? ' — cancel or deny it instead.' : '; only an active grant can be revoked.';
    return { code: 'grant_not_active', message: `${state}${hint}` };
  }
  const verb = action === 'review' ? 'reviewed' : 'cancelled';
  return { code: 'request_not_pending', message: `${state}; only a pending request can be ${verb}.` };
}

/** Distinct people who approved: an approval recorded twice by some other path still counts once. */
export function countApprovals(request: AccessRequest): number {
  return new Set(request.reviews.filter((review) => review.decision === 'approve').map((review) => review.reviewer.oid)).size;
}
