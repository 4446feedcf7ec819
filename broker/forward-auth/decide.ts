// Whether a caller may reach a resource through a proxy that asks `/v1/forward-auth`, as a pure
// function of what the broker knows now: a person needs a live grant on the resource and, per the
// directory (cached for groupCacheSeconds), membership of one of its requester groups; a workload
// (service principal) needs its client id in the resource's `workloads`. Each refusal says why.

import { AccessError } from '../../shared/errors.js';
import type { GroupRef } from '../../shared/wire.js';
import type { Principal } from '../auth/principal.js';
import { RESOURCE_NAME } from '../config/schema.js';
import type { ResourcePolicy } from '../config/types.js';
import { inAnyGroup, type Directory } from '../identity/directory.js';
import { groupList } from '../requests/wording.js';
import type { LiveGrant } from '../store/request-store.js';
import { noLiveGrant, requireWorkload, type GrantLookup } from '../tunnel/admission.js';

export interface DecisionContext {
  resources: readonly ResourcePolicy[];
  grants: GrantLookup;
  directory: Directory;
  now: number;
}

export interface Allowed {
  policy: ResourcePolicy;
  /** The person's live grant; null for a workload, which is allowed by policy. */
  grant: LiveGrant | null;
  /** The caller's groups that the resource's policy names (none for a workload). */
  groups: GroupRef[];
  /** The decision holds no longer than this (the grant's end, else the token's). */
  validUntil: number;
}

/** The resource a forward-auth call names, or why it names none we know. */
export function resourcePolicy(resources: readonly ResourcePolicy[], resource: string | null): ResourcePolicy {
  if (!resource) {
    throw new AccessError(
      'bad_request',
      'Say which resource the proxy protects: /v1/forward-auth?resource=NAME, or the X-Access-Resource header (see README, "Forward-auth").',
    );
  }
  if (!RESOURCE_NAME.test(resource)) {
    throw new AccessError(
      'unknown_resource',
      'The resource the proxy names is not a resource name (lower-case letters, digits and hyphens, at most 63 characters).',
    );
  }
  const policy = resources.find((r) => r.name === resource);
  if (!policy) {
    throw new AccessError(
      'unknown_resource',
      `No resource named ${JSON.stringify(resource)} in the broker's config: the proxy names a resource the broker does not have.`,
    );
  }
  return policy;
}

export async function decide(principal: Principal, resource: string | null, ctx: DecisionContext): Promise<Allowed> {
  const policy = resourcePolicy(ctx.resources, resource);
  if (principal.kind === 'app') return workloadAllowed(principal, policy);
  const grant = ctx.grants.liveGrant(principal.oid, policy.name, ctx.now);
  if (!grant) throw noLiveGrant(ctx.grants, principal.oid, policy.name, ctx.now);
  const groups = await ctx.directory.memberGroups(principal.oid);
  if (!inAnyGroup(groups, policy.requesters)) {
    throw new AccessError(
      'not_a_requester',
      `You are no longer in a group allowed to use ${policy.name} (${groupList(policy.requesters, policy.groupNames)}), so grant ${grant.id} no longer lets you in. Ask an admin if you should be.`,
    );
  }
  const named = [...policy.requesters, ...policy.approvers, ...policy.autoApprove];
  return {
    policy,
    grant,
    groups: groups.filter((group) => inAnyGroup([group], named)),
    validUntil: grant.expiresAt,
  };
}

function workloadAllowed(principal: Principal, policy: ResourcePolicy): Allowed {
  requireWorkload(principal, policy);
  return { policy, grant: null, groups: [], validUntil: principal.expiresAt.getTime() };
}

/** Anything outside printable ASCII percent-encoded: a header value the upstream can parse, never a second header. */
export function headerValue(text: string): string {
  return text.replace(/[^\x20-\x7e]|%/g, (ch) => encodeURIComponent(ch));
}

/** What the proxy hands the upstream about the caller (README, "Forward-auth"). */
export function identityHeaders(principal: Principal, allowed: Allowed): Record<string, string> {
  const workload = principal.kind === 'app';
  const headers: Record<string, string> = {
    'x-access-user': headerValue(workload ? (principal.appId ?? principal.oid) : (principal.upn ?? principal.oid)),
    'x-access-user-id': principal.oid,
    'x-access-kind': workload ? 'workload' : 'user',
    'x-access-resource': allowed.policy.name,
    'x-access-groups': allowed.groups.map((group) => group.id).join(','),
    'x-access-expires': new Date(allowed.validUntil).toISOString(),
  };
  if (principal.name) headers['x-access-name'] = headerValue(principal.name);
  if (allowed.grant) headers['x-access-grant'] = allowed.grant.id;
  return headers;
}
