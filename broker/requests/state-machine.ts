// The request/approval state machine: `(request, event, ctx) → request'`, pure. The broker loads
// the request, reads the clock and the actor's groups, calls applyEvent, and stores the result
// with its changes (audit, events stream) in one transaction.
//
// Every event is preceded by the clock, so no caller can forget it: a review of a request whose
// pendingUntil has passed is refused, and so is a revoke of a grant past its expiresAt.

import { AccessError, type ErrorCode } from '../../shared/errors.js';
import { inAnyGroup } from '../identity/directory.js';
import { grantAccess } from './grant.js';
import { assertPolicyFor, checkComment, type RequestContext } from './policy.js';
import type { AccessRequest, RequestChange, RequestEvent } from './types.js';
import { actorName, describeState, formatInstant, groupList } from './wording.js';

type Transition = { request: AccessRequest; changes: RequestChange[] };
type ReviewEvent = Extract<RequestEvent, { type: 'review' }>;
type CancelEvent = Extract<RequestEvent, { type: 'cancel' }>;
type RevokeEvent = Extract<RequestEvent, { type: 'revoke' }>;

/**
 * Refusal of an event because the clock closed the request first (timed out or expired). It
 * carries that clock transition so the caller can store it in the same transaction as the refusal.
 */
export class ClosedByClockError extends AccessError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly request: AccessRequest,
    readonly changes: RequestChange[],
  ) {
    super(code, message);
  }
}

/** Applies the clock at `ctx.now`, then `event`. Throws AccessError when the event is not allowed. */
export function applyEvent(request: AccessRequest, event: RequestEvent, ctx: RequestContext): Transition {
  assertPolicyFor(request.resource, ctx.policy);
  const clocked = advanceClock(request, ctx.now);
  if (event.type === 'tick') return clocked;
  if (clocked.changes.length > 0) {
    const refusal = refusalFor(event.type, clocked.request, ctx.now);
    throw new ClosedByClockError(refusal.code, refusal.message, clocked.request, clocked.changes);
  }
  switch (event.type) {
    case 'review':
      return applyReview(request, event, ctx);
    case 'cancel':
      return applyCancel(request, event, ctx);
    case 'revoke':
      return applyRevoke(request, event, ctx);
  }
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
  if (deadline === null || now < deadline) return { request, changes: [] };
  if (request.state === 'pending') {
    return { request: { ...request, state: 'timed_out', closedAt: deadline }, changes: ['timed_out'] };
  }
  return { request: { ...request, state: 'expired', closedAt: deadline }, changes: ['expired'] };
}

function applyReview(request: AccessRequest, event: ReviewEvent, ctx: RequestContext): Transition {
  const { now, policy } = ctx;
  requirePending(request, 'review', now);
  const { reviewer } = event;
  if (reviewer.oid === request.requester.oid) {
    throw new AccessError(
      'self_review',
      `You made request ${request.id} yourself and may not review it — another member of ${groupList(policy.approvers, policy.groupNames)} must.`,
    );
  }
  // Membership as read at this moment: someone removed from the approver group no longer counts.
  if (!inAnyGroup(event.reviewerGroups, policy.approvers)) {
    throw new AccessError(
      'not_an_approver',
      `You may not review requests for ${policy.name}: only members of ${groupList(policy.approvers, policy.groupNames)} may.`,
    );
  }
  const earlier = request.reviews.find((review) => review.reviewer.oid === reviewer.oid);
  if (earlier !== undefined) {
    const missing = request.approvalsRequired - countApprovals(request);
    throw new AccessError(
      'already_reviewed',
      `You already approved request ${request.id} at ${formatInstant(earlier.at, now)}; it still needs ` +
        `${missing} approval${missing === 1 ? '' : 's'} from other members of ${groupList(policy.approvers, policy.groupNames)}.`,
    );
  }
  const comment = checkComment(event.comment, 'comment');
  if (event.decision === 'deny' && comment === null) {
    throw new AccessError(
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
      request: { ...reviewed, state: 'denied', closedAt: now, closedBy: reviewer, closeReason: comment },
      changes: ['review_recorded', 'denied'],
    };
  }
  if (countApprovals(reviewed) < reviewed.approvalsRequired) return { request: reviewed, changes: ['review_recorded'] };
  return { request: grantAccess(reviewed, now, false), changes: ['review_recorded', 'approved'] };
}

function applyCancel(request: AccessRequest, event: CancelEvent, ctx: RequestContext): Transition {
  requirePending(request, 'cancel', ctx.now);
  if (event.by.oid !== request.requester.oid) {
    throw new AccessError(
      'not_allowed_to_cancel',
      `Only ${actorName(request.requester)}, who made request ${request.id}, may cancel it — an approver can deny it instead.`,
    );
  }
  return {
    request: { ...request, state: 'cancelled', closedAt: ctx.now, closedBy: event.by, closeReason: null },
    changes: ['cancelled'],
  };
}

function applyRevoke(request: AccessRequest, event: RevokeEvent, ctx: RequestContext): Transition {
  const { now, policy } = ctx;
  if (request.state !== 'approved') {
    const refusal = refusalFor('revoke', request, now);
    throw new AccessError(refusal.code, refusal.message);
  }
  const { by } = event;
  const allowed =
    by.oid === request.requester.oid || inAnyGroup(event.byGroups, policy.approvers) || inAnyGroup(event.byGroups, ctx.admins);
  if (!allowed) {
    throw new AccessError(
      'not_allowed_to_revoke',
      `You may not revoke request ${request.id}: only its requester, members of ${groupList(policy.approvers, policy.groupNames)} ` +
        `and admins (${groupList(ctx.admins, policy.groupNames)}) may.`,
    );
  }
  const reason = checkComment(event.reason, 'revoke reason');
  return {
    request: { ...request, state: 'revoked', closedAt: now, closedBy: by, closeReason: reason },
    changes: ['revoked'],
  };
}

function requirePending(request: AccessRequest, action: 'review' | 'cancel', now: number): void {
  if (request.state === 'pending') return;
  const refusal = refusalFor(action, request, now);
  throw new AccessError(refusal.code, refusal.message);
}

/** Why `action` is refused on a request in its current (non-actionable) state. */
function refusalFor(action: 'review' | 'cancel' | 'revoke', request: AccessRequest, now: number): { code: ErrorCode; message: string } {
  const state = `Request ${request.id} ${describeState(request, now)}`;
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
