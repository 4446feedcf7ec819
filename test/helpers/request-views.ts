// A request as the broker shows it (RequestView): pending on prod-db, asked by alice at `createdAt`,
// one approval from sg-dba needed; overrides for each case. The CLI's fakes and the notification
// tests build theirs on it.

import type { RequestView } from '../../shared/wire.js';

export function requestView(createdAt: number, overrides: Partial<RequestView> = {}): RequestView {
  return {
    id: 'r7f3c0a1b2',
    resource: 'prod-db',
    requester: { oid: 'oid-alice', upn: 'alice@contoso.com' },
    state: 'pending',
    durationMs: 3_600_000,
    reason: 'INC-4211: stuck migration',
    ticket: null,
    createdAt: new Date(createdAt).toISOString(),
    pendingUntil: new Date(createdAt + 3_600_000).toISOString(),
    approvalsRequired: 1,
    approvals: 0,
    reviews: [],
    approvers: ['sg-dba'],
    grantedAt: null,
    expiresAt: null,
    closedAt: null,
    closedBy: null,
    closeReason: null,
    autoApproved: false,
    ...overrides,
  };
}
