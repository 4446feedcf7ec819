// How a stored request reads on the wire (shared/wire.ts RequestView): instants become ISO
// strings, and the resource's approver groups are added so a CLI can say whom the request waits for.

import type { ActorView, ExtensionView, PostReviewView, RequestView, ReviewView } from '../../shared/wire.js';
import type { ResourcePolicy } from '../config/types.js';
import { extendableMs, extensionApprovals } from './extension.js';
import { countApprovals } from './state-machine.js';
import { describeGroups } from './wording.js';
import type { AccessRequest, Actor, Extension, PostReview, Review } from './types.js';

function actorView(actor: Actor): ActorView {
  return { oid: actor.oid, upn: actor.upn };
}

function iso(at: number | null): string | null {
  return at === null ? null : new Date(at).toISOString();
}

function reviewView(review: Review): ReviewView {
  return { reviewer: actorView(review.reviewer), decision: review.decision, comment: review.comment, at: new Date(review.at).toISOString() };
}

/** @param policy the resource's current policy, or null when the resource has left the config. */
export function toRequestView(request: AccessRequest, policy: ResourcePolicy | null): RequestView {
  return {
    id: request.id,
    resource: request.resource,
    requester: actorView(request.requester),
    state: request.state,
    durationMs: request.durationMs,
    reason: request.reason,
    ticket: request.ticket,
    createdAt: new Date(request.createdAt).toISOString(),
    pendingUntil: new Date(request.pendingUntil).toISOString(),
    approvalsRequired: request.approvalsRequired,
    approvals: countApprovals(request),
    reviews: request.reviews.map(reviewView),
    approvers: policy ? describeGroups(policy.approvers, policy.groupNames) : [],
    grantedAt: iso(request.grantedAt),
    expiresAt: iso(request.expiresAt),
    closedAt: iso(request.closedAt),
    closedBy: request.closedBy ? actorView(request.closedBy) : null,
    closeReason: request.closeReason,
    autoApproved: request.autoApproved,
    extensions: request.extensions.map(extensionView),
    extendableMs: request.state === 'approved' ? extendableMs(request, policy) : null,
    breakGlass: request.breakGlass,
    postReview: request.postReview ? postReviewView(request.postReview) : null,
  };
}

export function postReviewView(review: PostReview): PostReviewView {
  return { reviewer: actorView(review.reviewer), verdict: review.verdict, comment: review.comment, at: new Date(review.at).toISOString() };
}

function extensionView(extension: Extension): ExtensionView {
  return {
    seq: extension.seq,
    durationMs: extension.durationMs,
    reason: extension.reason,
    requestedAt: new Date(extension.requestedAt).toISOString(),
    state: extension.state,
    approvalsRequired: extension.approvalsRequired,
    approvals: extensionApprovals(extension),
    reviews: extension.reviews.map(reviewView),
    decidedAt: iso(extension.decidedAt),
    previousExpiresAt: new Date(extension.previousExpiresAt).toISOString(),
  };
}
