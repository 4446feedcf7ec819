// Access requests to store in the tests: a pending one by default, with overrides for each case.

import type { AccessRequest, Review } from '../../../broker/requests/types.js';

export const T0 = Date.UTC(2025, 0, 15, 9, 0, 0);
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;

export function pendingRequest(overrides: Partial<AccessRequest> = {}): AccessRequest {
  return {
    id: 'req-1',
    resource: 'prod-db',
    requester: { oid: 'oid-alice', upn: 'alice@contoso.test' },
    durationMs: HOUR,
    reason: 'investigate INC-42',
    ticket: 'INC-42',
    state: 'pending',
    createdAt: T0,
    pendingUntil: T0 + HOUR,
    approvalsRequired: 2,
    reviews: [],
    grantedAt: null,
    expiresAt: null,
    closedAt: null,
    closedBy: null,
    closeReason: null,
    autoApproved: false,
    extensions: [],
    breakGlass: false,
    postReview: null,
    ...overrides,
  };
}

export function approval(oid: string, at: number, comment: string | null = null): Review {
  return { reviewer: { oid, upn: `${oid}@contoso.test` }, decision: 'approve', comment, at };
}

/** `request` approved at `at` by the given reviews; the grant runs for its durationMs. */
export function approvedRequest(request: AccessRequest, at: number, reviews: Review[] = request.reviews): AccessRequest {
  return { ...request, state: 'approved', reviews, grantedAt: at, expiresAt: at + request.durationMs };
}
