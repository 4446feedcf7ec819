// Break-glass, pure like the rest of the domain: in an emergency a member of the resource's
// breakGlass.groups takes a grant at once, without approval, for at most breakGlass.maxDuration and
// always with a reason. The grant is marked (AccessRequest.breakGlass), every approver is told
// (events, notifications) and it waits for a post-review: one approver of the resource, not the
// person who used it, records a verdict (acceptable / not acceptable) with a comment. The
// post-review may come while the grant is live or after it ended; it is recorded once.

import { formatDuration, parseDuration } from '../../shared/duration.js';
import { AccessError } from '../../shared/errors.js';
import type { GroupRef } from '../../shared/wire.js';
import type { ResourcePolicy } from '../config/types.js';
import { inAnyGroup } from '../identity/directory.js';
import type { AccessRequest, PostReview, RequestChange, RequestEvent } from './types.js';
import { actorName, formatInstant, groupList } from './wording.js';

type PostReviewEvent = Extract<RequestEvent, { type: 'post_review' }>;

/**
 * Checks a break-glass ask against the policy; returns its duration. Throws the refusal (the
 * caller, openRequest, throws its refusals too). Reason and ticket are checked by the caller.
 */
export function checkBreakGlass(policy: ResourcePolicy, requesterGroups: readonly GroupRef[], duration: string | null): number {
  const breakGlass = policy.breakGlass;
  if (!breakGlass) {
    throw new AccessError(
      'break_glass_not_allowed',
      `${policy.name} has no break-glass access (its policy has no \`breakGlass\`) — ask for access with \`access request ${policy.name}\` and an approver decides.`,
    );
  }
  if (!inAnyGroup(requesterGroups, breakGlass.groups)) {
    throw new AccessError(
      'break_glass_not_allowed',
      `You may not use break-glass access to ${policy.name}: only members of ${groupList(breakGlass.groups, policy.groupNames)} may. ` +
        `Ask for access with \`access request ${policy.name}\` instead.`,
    );
  }
  const asked = duration === null || duration.trim() === '' ? null : duration;
  const durationMs = asked === null ? Math.min(policy.defaultDurationMs, breakGlass.maxDurationMs) : parseDuration(asked);
  if (durationMs === undefined) throw new AccessError('duration_invalid', `${JSON.stringify(asked)} is not a duration — use e.g. 30m, 1h.`);
  if (durationMs > breakGlass.maxDurationMs) {
    throw new AccessError(
      'duration_too_long',
      `${JSON.stringify(asked)} is longer than break-glass access to ${policy.name} allows (at most ${formatDuration(breakGlass.maxDurationMs)}) — ` +
        `ask for ${formatDuration(breakGlass.maxDurationMs)} or less.`,
    );
  }
  return durationMs;
}

/**
 * The groups whose members may use a grant's tunnels (checked when one opens and re-checked while
 * it runs): the breakGlass groups for a break-glass grant, the requesters for any other.
 */
export function tunnelGroups(policy: ResourcePolicy, breakGlass: boolean): readonly string[] {
  return breakGlass ? (policy.breakGlass?.groups ?? []) : policy.requesters;
}

type PostReviewOutcome = { ok: true; request: AccessRequest; changes: RequestChange[] } | { ok: false; refusal: AccessError };

function refused(
  code: 'not_a_break_glass_grant' | 'already_reviewed' | 'self_review' | 'not_an_approver' | 'reason_required',
  message: string,
): PostReviewOutcome {
  return { ok: false, refusal: new AccessError(code, message) };
}

/** Records an approver's verdict on a break-glass grant (in any state: the clock has run first). */
export function applyPostReview(
  request: AccessRequest,
  event: PostReviewEvent,
  policy: ResourcePolicy | null,
  now: number,
  comment: string | null,
): PostReviewOutcome {
  if (!request.breakGlass) {
    return refused(
      'not_a_break_glass_grant',
      `Request ${request.id} was not a break-glass grant: there is nothing to post-review — \`access review\` lists those that wait.`,
    );
  }
  const done = request.postReview;
  if (done) {
    return refused(
      'already_reviewed',
      `Break-glass grant ${request.id} was already post-reviewed by ${actorName(done.reviewer)} at ${formatInstant(done.at, now)} (${done.verdict.replace('_', ' ')}).`,
    );
  }
  if (event.by.oid === request.requester.oid) {
    return refused(
      'self_review',
      `You used break-glass grant ${request.id} yourself and may not post-review it — another approver of ${request.resource} must.`,
    );
  }
  if (policy === null || !inAnyGroup(event.byGroups, policy.approvers)) {
    const who = policy
      ? `only members of ${groupList(policy.approvers, policy.groupNames)} may`
      : `${request.resource} is no longer in the broker's configuration`;
    return refused('not_an_approver', `You may not post-review break-glass grant ${request.id}: ${who}.`);
  }
  if (comment === null) {
    return refused('reason_required', `Say what you found: a post-review needs a comment, e.g. --comment "INC-4211 confirmed, queries matched the incident".`);
  }
  const postReview: PostReview = { reviewer: event.by, verdict: event.verdict, comment, at: now };
  return { ok: true, request: { ...request, postReview }, changes: ['post_reviewed'] };
}
