// The access-request domain as plain values. The state machine (state-machine.ts) maps
// `(request, event, now) → request'` with no I/O; the broker loads, calls it and stores the
// result in one transaction.
//
//   pending ──approve×N──▶ approved ──(expiresAt)──▶ expired
//      │                      └──revoke──▶ revoked
//      ├──deny──▶ denied
//      ├──cancel──▶ cancelled
//      └──(pendingUntil)──▶ timed_out

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
}

/** What a caller asks for; validated against the resource's policy by policy.ts. */
export interface NewRequestInput {
  resource: string;
  /** As typed (e.g. "1h30m"); absent means the resource's defaultDuration. */
  duration: string | null;
  reason: string | null;
  ticket: string | null;
}

/** Events the state machine applies. Group memberships are read by the caller at the moment of the event. */
export type RequestEvent =
  | { type: 'review'; reviewer: Actor; reviewerGroups: readonly GroupRef[]; decision: 'approve' | 'deny'; comment: string | null }
  | { type: 'cancel'; by: Actor }
  | { type: 'revoke'; by: Actor; byGroups: readonly GroupRef[]; reason: string | null }
  /** The clock: times out a stale pending request, expires an ended grant. */
  | { type: 'tick' };

/** What happened, for the audit log and the events stream. */
export type RequestChange = 'created' | 'auto_approved' | 'review_recorded' | 'approved' | 'denied' | 'cancelled' | 'timed_out' | 'expired' | 'revoked';
