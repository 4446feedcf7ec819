// Audit wire values for CLI tests: sessions and entries as the broker's audit API sends them.

import type { AuditEntryView, AuditSessionView } from '../../../shared/wire.js';
import { NOW } from '../commands/fakes.js';

export const alice = { oid: 'oid-alice', upn: 'alice@contoso.com' };
export const bob = { oid: 'oid-bob', upn: 'bob@contoso.com' };

export function sessionView(overrides: Partial<AuditSessionView> = {}): AuditSessionView {
  return {
    id: 's1a2b3',
    requestId: 'r7f3c0a1b2',
    user: alice,
    resource: 'prod-db',
    target: '10.0.0.5:5432',
    client: '127.0.0.1',
    openedAt: new Date(NOW - 10 * 60_000).toISOString(),
    closedAt: new Date(NOW - 7 * 60_000).toISOString(),
    bytesUp: 812,
    bytesDown: 4096,
    endReason: 'clientClosed',
    queries: 3,
    reason: 'INC-4211: stuck migration',
    ...overrides,
  };
}

/** An entry with a made-up chain: these tests read it, they do not verify it. */
export function entryView(seq: number, overrides: Partial<AuditEntryView> = {}): AuditEntryView {
  return {
    seq,
    at: new Date(NOW - 60_000 + seq).toISOString(),
    type: 'request.created',
    actor: alice,
    subject: 'r7f3c0a1b2',
    resource: 'prod-db',
    body: { durationMs: 3_600_000, reason: 'INC-4211: stuck migration', ticket: null, approvalsRequired: 1 },
    prevHash: String(seq - 1).padStart(64, '0'),
    hash: String(seq).padStart(64, '0'),
    ...overrides,
  };
}
