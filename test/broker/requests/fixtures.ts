// People, groups and a policy shared by the request tests. Groups are GroupRefs as the directory
// returns them; the policy names some by display name and one by object id, as configs do.

import type { ResourcePolicy } from '../../../broker/config/types.js';
import type { RequestContext } from '../../../broker/requests/policy.js';
import type { Actor, NewRequestInput, RequestEvent } from '../../../broker/requests/types.js';
import type { GroupRef } from '../../../shared/wire.js';
import { resourcePolicy } from '../../helpers/resource-policy.js';

export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
/** 2025-03-04 09:00 UTC: every scenario starts here, so messages read "10:00 UTC". */
export const T0 = Date.UTC(2025, 2, 4, 9, 0);

export const groups = {
  eng: { id: '0b8f1e2a-3c4d-4e5f-8a6b-7c8d9e0f1a2b', displayName: 'sg-eng' },
  dba: { id: '7c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3f', displayName: 'sg-dba' },
  oncall: { id: '3e4a5b6c-7d8e-4f9a-8b0c-1d2e3f4a5b6c', displayName: 'sg-oncall' },
  platform: { id: '9a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d', displayName: 'sg-platform' },
} satisfies Record<string, GroupRef>;

export interface Person {
  actor: Actor;
  /** Membership the directory reports for them (unless a step says otherwise). */
  groups: GroupRef[];
}

function person(name: string, memberOf: GroupRef[]): Person {
  return { actor: { oid: `oid-${name}`, upn: `${name}@contoso.com` }, groups: memberOf };
}

export const people = {
  alice: person('alice', [groups.eng]), // requester
  bob: person('bob', [groups.dba]), // approver
  carol: person('carol', [groups.dba]), // approver
  dan: person('dan', [groups.eng, groups.dba]), // requester who is also an approver
  oscar: person('oscar', [groups.eng, groups.oncall]), // on call: auto-approved
  erin: person('erin', [groups.platform]), // admin
  mallory: person('mallory', []), // in no group
};
export type PersonName = keyof typeof people;

export function policy(overrides: Partial<ResourcePolicy> = {}): ResourcePolicy {
  return resourcePolicy({
    name: 'prod-db',
    // One approver group by object id, to show ids and names both work.
    approvers: ['7c1d2e3f-4a5b-4c6d-9e7f-8a9b0c1d2e3f'],
    requestTtlMs: HOUR,
    autoApprove: ['sg-oncall'],
    credentials: [],
    ...overrides,
  });
}

export function context(p: ResourcePolicy, now: number): RequestContext {
  return { policy: p, admins: ['SG-Platform'], now };
}

export function input(overrides: Partial<NewRequestInput> = {}): NewRequestInput {
  return { resource: 'prod-db', duration: '1h', reason: 'INC-4211: stuck migration', ticket: null, ...overrides };
}

export const events = {
  approve: (who: PersonName, memberOf: GroupRef[] = people[who].groups): RequestEvent => ({
    type: 'review',
    reviewer: people[who].actor,
    reviewerGroups: memberOf,
    decision: 'approve',
    comment: null,
  }),
  deny: (who: PersonName, comment: string | null = 'use the read replica'): RequestEvent => ({
    type: 'review',
    reviewer: people[who].actor,
    reviewerGroups: people[who].groups,
    decision: 'deny',
    comment,
  }),
  cancel: (who: PersonName): RequestEvent => ({ type: 'cancel', by: people[who].actor }),
  revoke: (who: PersonName, reason: string | null = null): RequestEvent => ({
    type: 'revoke',
    by: people[who].actor,
    byGroups: people[who].groups,
    reason,
  }),
  tick: (): RequestEvent => ({ type: 'tick' }),
  postReview: (who: PersonName, verdict: 'acceptable' | 'not_acceptable' = 'acceptable', comment: string | null = 'INC-4211 confirmed'): RequestEvent => ({
    type: 'post_review',
    by: people[who].actor,
    byGroups: people[who].groups,
    verdict,
    comment,
  }),
  extend: (who: PersonName, duration: string, reason: string | null = 'migration still running', memberOf: GroupRef[] = people[who].groups): RequestEvent => ({
    type: 'extend',
    by: people[who].actor,
    byGroups: memberOf,
    duration,
    reason,
  }),
};
