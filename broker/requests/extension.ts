// Extensions of a live grant (`access extend ID --for 30m`), pure like the state machine that
// calls it: an extension is a sub-request on the grant, pending until its approvals are in
// (expiresAt moves by its duration), denied (the grant stays as it was) or lapsed (the grant ended
// or was revoked first). A grant has at most one pending extension.
//
// Policy (ResourcePolicy.extend): maxTotalMs caps expiresAt − grantedAt after the extension;
// autoApproveWithinMs approves it by policy while the time added by all approved extensions, this
// one included, stays within it. Without `extend` a grant cannot be extended.

import { formatDuration, parseDuration } from '../../shared/duration.js';
import { AccessError, type ErrorCode } from '../../shared/errors.js';
import type { ResourcePolicy } from '../config/types.js';
import { inAnyGroup } from '../identity/directory.js';
import { readComment } from './policy.js';
import type { AccessRequest, Extension, RequestChange, RequestEvent } from './types.js';
import { actorName, formatInstant, groupList } from './wording.js';

type ExtendEvent = Extract<RequestEvent, { type: 'extend' }>;
type ReviewEvent = Extract<RequestEvent, { type: 'review' }>;

export type ExtensionOutcome = { ok: true; request: AccessRequest; changes: RequestChange[] } | { ok: false; refusal: AccessError };

/** The extension of `request` that waits for a decision, if any. */
export function pendingExtension(request: AccessRequest): Extension | null {
  return request.extensions.find((extension) => extension.state === 'pending') ?? null;
}

/** Time all approved extensions added to the grant. */
function addedMs(request: AccessRequest): number {
  return request.extensions.filter((e) => e.state === 'approved').reduce((sum, e) => sum + e.durationMs, 0);
}

/**
 * How much longer a live grant may still be made under the policy now (maxTotal − its length), or
 * null when the resource allows no extension or `request` is not a grant.
 */
export function extendableMs(request: AccessRequest, policy: ResourcePolicy | null): number | null {
  if (!policy?.extend || request.grantedAt === null || request.expiresAt === null) return null;
  return Math.max(0, policy.extend.maxTotalMs - (request.expiresAt - request.grantedAt));
}

/** Distinct people who approved an extension. */
export function extensionApprovals(extension: Extension): number {
  return new Set(extension.reviews.filter((review) => review.decision === 'approve').map((review) => review.reviewer.oid)).size;
}

/**
 * Ends a pending extension because its grant ended (expiry, revoke) at `at`: the grant's change
 * gains `extension_lapsed`. Returns the request unchanged when nothing was pending.
 */
export function lapsePending(request: AccessRequest, at: number): { request: AccessRequest; changes: RequestChange[] } {
  if (pendingExtension(request) === null) return { request, changes: [] };
  const extensions = request.extensions.map((e): Extension => (e.state === 'pending' ? { ...e, state: 'lapsed', decidedAt: at } : e));
  return { request: { ...request, extensions }, changes: ['extension_lapsed'] };
}

function refused(code: ErrorCode, message: string): ExtensionOutcome {
  return { ok: false, refusal: new AccessError(code, message) };
}

/** Asks for more time on a live grant (the state machine checked the clock and the state). */
export function applyExtend(request: AccessRequest, event: ExtendEvent, policy: ResourcePolicy | null, now: number): ExtensionOutcome {
  const grantedAt = request.grantedAt as number;
  const expiresAt = request.expiresAt as number;
  if (policy === null) {
    return refused('extend_not_allowed', `Grant ${request.id} cannot be extended: ${request.resource} is no longer in the broker's configuration.`);
  }
  if (event.by.oid !== request.requester.oid) {
    return refused(
      'not_allowed_to_extend',
      `Only ${actorName(request.requester)}, who holds grant ${request.id}, may extend it — ask for access of your own with \`access request ${policy.name}\`.`,
    );
  }
  if (!inAnyGroup(event.byGroups, policy.requesters)) {
    return refused(
      'not_a_requester',
      `You may no longer extend access to ${policy.name}: only members of ${groupList(policy.requesters, policy.groupNames)} may. Ask an admin to add you to one of those groups.`,
    );
  }
  const extend = policy.extend;
  if (!extend) {
    return refused(
      'extend_not_allowed',
      `Grants of ${policy.name} cannot be extended (its policy has no \`extend\`) — when this one ends, ask again with \`access request ${policy.name}\`.`,
    );
  }
  const waiting = pendingExtension(request);
  if (waiting) {
    return refused(
      'extension_pending',
      `Grant ${request.id} already has an extension of ${formatDuration(waiting.durationMs)} waiting for approval since ${formatInstant(waiting.requestedAt, now)} — wait for that decision.`,
    );
  }
  const durationMs = parseDuration(event.duration);
  if (durationMs === undefined) {
    return refused('duration_invalid', `${JSON.stringify(event.duration)} is not a duration — use e.g. 30m, 1h, 1h30m.`);
  }
  const read = readComment(event.reason, 'reason');
  if (!read.ok) return { ok: false, refusal: read.refusal };
  if (read.comment === null && policy.reason === 'required') {
    return refused('reason_required', `${policy.name} requires a reason — say why you need more time, e.g. --reason "migration still running".`);
  }
  const room = extend.maxTotalMs - (expiresAt - grantedAt);
  if (durationMs > room) {
    const most = room > 0 ? `ask for ${formatDuration(room)} or less` : 'it cannot be extended any more; ask again with `access request` when it ends';
    return refused(
      'extension_too_long',
      `${formatDuration(durationMs)} more would make grant ${request.id} last longer than ${policy.name} allows with extensions ` +
        `(${formatDuration(extend.maxTotalMs)} from its approval at ${formatInstant(grantedAt, now)}) — ${most}.`,
    );
  }
  const byPolicy = extend.autoApproveWithinMs !== null && addedMs(request) + durationMs <= extend.autoApproveWithinMs;
  const extension: Extension = {
    seq: request.extensions.length + 1,
    durationMs,
    reason: read.comment,
    requestedAt: now,
    state: byPolicy ? 'approved' : 'pending',
    approvalsRequired: byPolicy ? 0 : policy.approvals,
    reviews: [],
    decidedAt: byPolicy ? now : null,
    previousExpiresAt: expiresAt,
  };
  const extended: AccessRequest = { ...request, extensions: [...request.extensions, extension] };
  if (!byPolicy) return { ok: true, request: extended, changes: ['extension_requested'] };
  return { ok: true, request: { ...extended, expiresAt: expiresAt + durationMs }, changes: ['extension_requested', 'extended'] };
}

/** An approver's decision on the pending extension of a live grant. */
export function applyExtensionReview(request: AccessRequest, event: ReviewEvent, policy: ResourcePolicy | null, now: number): ExtensionOutcome {
  const extension = pendingExtension(request) as Extension;
  const { reviewer } = event;
  const subject = `the extension of grant ${request.id}`;
  if (policy === null) {
    return refused('not_an_approver', `Nobody may review ${subject} any more: ${request.resource} is no longer in the broker's configuration.`);
  }
  if (reviewer.oid === request.requester.oid) {
    return refused(
      'self_review',
      `You asked for ${subject} yourself and may not review it — another member of ${groupList(policy.approvers, policy.groupNames)} must.`,
    );
  }
  if (!inAnyGroup(event.reviewerGroups, policy.approvers)) {
    return refused('not_an_approver', `You may not review requests for ${policy.name}: only members of ${groupList(policy.approvers, policy.groupNames)} may.`);
  }
  const earlier = extension.reviews.find((review) => review.reviewer.oid === reviewer.oid);
  if (earlier !== undefined) {
    return refused(
      'already_reviewed',
      `You already approved ${subject} at ${formatInstant(earlier.at, now)}; it needs other members of ${groupList(policy.approvers, policy.groupNames)}.`,
    );
  }
  const read = readComment(event.comment, 'comment');
  if (!read.ok) return { ok: false, refusal: read.refusal };
  if (event.decision === 'deny' && read.comment === null) {
    return refused('reason_required', `Say why you deny ${subject}: a denial needs a reason the requester can read, e.g. --reason "wrap up and hand over".`);
  }
  const reviewed: Extension = { ...extension, reviews: [...extension.reviews, { reviewer, decision: event.decision, comment: read.comment, at: now }] };
  const withExtension = (next: Extension): AccessRequest => ({ ...request, extensions: request.extensions.map((e) => (e.seq === next.seq ? next : e)) });
  if (event.decision === 'deny') {
    // The grant stays exactly as it was: only the extension is closed.
    return { ok: true, request: withExtension({ ...reviewed, state: 'denied', decidedAt: now }), changes: ['extension_review_recorded', 'extension_denied'] };
  }
  if (extensionApprovals(reviewed) < reviewed.approvalsRequired) return { ok: true, request: withExtension(reviewed), changes: ['extension_review_recorded'] };
  // The policy as it is now still allows the length (it may have been tightened since the ask).
  const expiresAt = (request.expiresAt as number) + reviewed.durationMs;
  const cap = policy.extend?.maxTotalMs ?? 0;
  if (expiresAt - (request.grantedAt as number) > cap) {
    return refused(
      'extension_too_long',
      `${policy.name} no longer allows grant ${request.id} to last that long (${policy.extend ? `at most ${formatDuration(cap)} with extensions` : 'no extensions'}) — deny the extension instead.`,
    );
  }
  return {
    ok: true,
    request: { ...withExtension({ ...reviewed, state: 'approved', decidedAt: now }), expiresAt },
    changes: ['extension_review_recorded', 'extended'],
  };
}
