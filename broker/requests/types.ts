// The access-request domain as plain values. The state machine (state-machine.ts) maps
// `(request, event, now) → request'` with no I/O; the broker loads, calls it and stores the
// result in one transaction.
//
//   pending ──approve×N──▶ approved ──(expiresAt)──▶ expired
//      │                      └──revoke──▶ revoked
//      ├──deny──▶ denied
//      ├──cancel──▶ cancelled
//      └──(pendingUntil)──▶ timed_out
//
// A live grant may carry extensions (access extend): each is a sub-request on the grant, pending
// until approved (expiresAt moves), denied, or lapsed (the grant ended first). At most one pending.

import type { GroupRef } from '../../shared/wire.js';

export type RequestState = 'pending' | 'approved' | 'denied' | 'cancelled' | 'timed_out' | 'expired' | 'revoked';

/** A person (or app) acting on a request. `oid` is the key; `upn` is for display. */
export interface Actor {
  oid: string;
  upn: string | null;
}

export interface Review {
  reviewer: Actor;
  decision: 'approve' | 'deny';
  comment: string | null;
  /** ms since epoch */
  at: number;
}

export interface AccessRequest {
  id: string;
  resource: string;
  requester: Actor;
  /** Length of the grant once approved; the clock starts at approval. */
  durationMs: number;
  reason: string | null;
  ticket: string | null;
  state: RequestState;
  createdAt: number;
  /** A pending request times out at this instant (createdAt + the resource's requestTtl). */
  pendingUntil: number;
  /** Distinct approvals needed (copied from policy at creation so a later policy change does not move the goalposts). */
  approvalsRequired: number;
  reviews: Review[];
  /** When approved: approval instant and absolute end of access. */
  grantedAt: number | null;
  expiresAt: number | null;
  /** When the request left pending (denied, cancelled, timed out) or the grant ended (expired, revoked). */
  closedAt: number | null;
  /** Who closed it (denier, canceller, revoker); null for the clock (timed_out, expired) and approval. */
  closedBy: Actor | null;
  /** Why: the deny or revoke reason. */
  closeReason: string | null;
  /** Approved by policy (autoApprove group), not by people. */
  autoApproved: boolean;
  /** Extensions asked for on this grant, oldest first (`access extend`). */
  extensions: Extension[];
  /** Granted at once as break-glass (`access request NAME --break-glass`): it needs a post-review. */
  breakGlass: boolean;
  /** An approver's verdict on a break-glass grant after the fact; null until recorded (and for other grants). */
  postReview: PostReview | null;
}

export type PostReviewVerdict = 'acceptable' | 'not_acceptable';

/** The mandatory review of a break-glass grant, recorded once by an approver of its resource. */
export interface PostReview {
  reviewer: Actor;
  verdict: PostReviewVerdict;
  comment: string;
  at: number;
}

export type ExtensionState = 'pending' | 'approved' | 'denied' | 'lapsed';

/**
 * A request for more time on a live grant. Pending until approved (the grant's expiresAt moves by
 * durationMs), denied (the grant stays as it was) or lapsed (the grant ended or was revoked first).
 */
export interface Extension {
  /** 1, 2, … within the grant. */
  seq: number;
  /** Time added to the grant's expiresAt when approved. */
  durationMs: number;
  reason: string | null;
  requestedAt: number;
  state: ExtensionState;
  /** Distinct approvals needed; 0 when the policy approves it (extend.approval none-within). */
  approvalsRequired: number;
  reviews: Review[];
  /** When it left pending. */
  decidedAt: number | null;
  /** The grant's expiresAt when the extension was asked for. */
  previousExpiresAt: number;
}

/** What a caller asks for; validated against the resource's policy by policy.ts. */
export interface NewRequestInput {
  resource: string;
  /** As typed (e.g. "1h30m"); absent means the resource's defaultDuration. */
  duration: string | null;
  reason: string | null;
  ticket: string | null;
  /** Break-glass: granted at once to members of the resource's breakGlass.groups. */
  breakGlass?: boolean;
}

/** Events the state machine applies. Group memberships are read by the caller at the moment of the event. */
export type RequestEvent =
  | { type: 'review'; reviewer: Actor; reviewerGroups: readonly GroupRef[]; decision: 'approve' | 'deny'; comment: string | null }
  | { type: 'cancel'; by: Actor }
  | { type: 'revoke'; by: Actor; byGroups: readonly GroupRef[]; reason: string | null }
  /** An approver's verdict on a break-glass grant, in any state (live or ended). */
  | { type: 'post_review'; by: Actor; byGroups: readonly GroupRef[]; verdict: PostReviewVerdict; comment: string | null }
  /** More time on a live grant, asked by its requester; `duration` as typed (e.g. "30m"). */
  | { type: 'extend'; by: Actor; byGroups: readonly GroupRef[]; duration: string; reason: string | null }
  /** The clock: times out a stale pending request, expires an ended grant. */
  | { type: 'tick' };

/** What happened, for the audit log and the events stream. */
export type RequestChange =
  | 'created'
  | 'auto_approved'
  | 'review_recorded'
  | 'approved'
  | 'denied'
  | 'cancelled'
  | 'timed_out'
  | 'expired'
  | 'revoked'
  /** An extension was asked for and waits for approval. */
  | 'extension_requested'
  /** An approval of the pending extension that did not yet reach approvalsRequired. */
  | 'extension_review_recorded'
  /** The extension was approved (by people or by policy): expiresAt moved. */
  | 'extended'
  | 'extension_denied'
  /** A pending extension ended with its grant (expired or revoked) before a decision. */
  | 'extension_lapsed'
  /** Granted at once as break-glass (after `created`). */
  | 'break_glass'
  /** An approver recorded the post-review of a break-glass grant. */
  | 'post_reviewed';
