// Who may open a tunnel, checked in order during the HTTP upgrade (after the token): the resource
// exists → the caller holds a live grant on it → for a person, Microsoft Graph says, now, that they
// are still in one of its requester groups; for a workload (service principal), its client id is one
// of the resource's `workloads` → the resource's conditions hold for this token and connection
// (policy/conditions.ts). Each refusal says what to do next.

import { AccessError } from '../../shared/errors.js';
import type { Principal } from '../auth/principal.js';
import type { DatabaseCredential, ResourcePolicy } from '../config/types.js';
import { currentGroups, inAnyGroup, type Directory } from '../identity/directory.js';
import { requireConditions } from '../policy/enforce.js';
import { tunnelGroups } from '../requests/break-glass.js';
import type { AccessRequest } from '../requests/types.js';
import { describeState, formatInstant, groupList } from '../requests/wording.js';
import type { LiveGrant, RequestStore } from '../store/request-store.js';
import { tunnelCredential } from './database-credential.js';

/** The reads admission needs from the request store. */
export type GrantLookup = Pick<RequestStore, 'liveGrant' | 'liveUntil' | 'recentFor'>;

export interface AdmissionContext {
  resources: readonly ResourcePolicy[];
  grants: GrantLookup;
  directory: Directory;
  now: number;
}

export interface Admission {
  policy: ResourcePolicy;
  /** The stored database login the broker uses for this tunnel (tunnel/database-credential.ts); null: the client logs in itself. */
  credential: DatabaseCredential | null;
  /** The live grant the tunnel runs under (the one lasting longest when there are several). */
  grant: LiveGrant;
  /** When the resource's conditions stop holding by themselves (its window closes, the sign-in grows too old); null: never. */
  conditionsUntil: number | null;
}

export async function admit(principal: Principal, resource: string | null, ctx: AdmissionContext): Promise<Admission> {
  if (!resource) {
    throw new AccessError('bad_request', 'Say which resource to connect to: /v1/tunnel?resource=NAME (`access connect NAME`).');
  }
  const policy = ctx.resources.find((r) => r.name === resource);
  if (!policy) {
    throw new AccessError('unknown_resource', `No resource named ${JSON.stringify(resource)}. List the ones you may use with \`access resources\`.`);
  }
  const grant = ctx.grants.liveGrant(principal.oid, policy.name, ctx.now);
  if (!grant) throw noLiveGrant(ctx.grants, principal.oid, policy.name, ctx.now);
  // A workload stands on the resource's `workloads` (the config now), a person on group membership (Graph now).
  if (principal.kind === 'app') {
    requireWorkload(principal, policy);
    return { policy, grant, credential: tunnelCredential(policy, []), conditionsUntil: requireConditions(policy, principal, ctx.now) };
  }
  // Never the cache: someone removed from the group a minute ago must not get a new tunnel.
  const groups = await currentGroups(ctx.directory, principal.oid);
  const allowed = tunnelGroups(policy, grant.breakGlass);
  if (!inAnyGroup(groups, allowed)) {
    throw new AccessError(
      'not_a_requester',
      `You are no longer in a group allowed to use ${policy.name} (${groupList(allowed, policy.groupNames)}), so grant ${grant.id} cannot open a tunnel. ` +
        'Ask an admin if you should be.',
    );
  }
  // Last: the resource's conditions on this token and this connection (a claims challenge when a new sign-in helps).
  const conditionsUntil = requireConditions(policy, principal, ctx.now);
  return { policy, grant, credential: tunnelCredential(policy, groups), conditionsUntil };
}

/** Throws not_a_workload unless the app's client id is one of the resource's `workloads`. */
export function requireWorkload(principal: Principal, policy: ResourcePolicy): void {
  const appId = principal.appId?.toLowerCase() ?? null;
  if (appId !== null && policy.workloads.includes(appId)) return;
  throw new AccessError(
    'not_a_workload',
    `The workload ${principal.appId ?? principal.oid} is not one of ${policy.name}'s workloads; an administrator adds its client id to resources.${policy.name}.workloads.`,
  );
}

/** The refusal for a caller without a live grant, saying what became of their latest request and how to ask. */
export function noLiveGrant(grants: GrantLookup, oid: string, resource: string, now: number): AccessError {
  const latest = grants.recentFor(oid, resource, 1)[0];
  if (latest?.state === 'pending') {
    return new AccessError(
      'no_live_grant',
      `You have no live grant for ${resource} yet: request ${latest.id} ${describeState(latest, now)}. ` +
        'Connect once an approver has approved it (`access requests` shows where it stands).',
    );
  }
  const story = latest ? ` (request ${latest.id} ${storyOf(latest, now)})` : '';
  return new AccessError('no_live_grant', `You have no live grant for ${resource}${story}. Ask for one: access request ${resource} --for 1h --reason "…"`);
}

/** describeState, except that a grant past its end that the clock has not closed yet reads as expired. */
function storyOf(request: AccessRequest, now: number): string {
  if (request.state === 'approved' && request.expiresAt !== null && request.expiresAt <= now) {
    return `was granted and the grant expired at ${formatInstant(request.expiresAt, now)}`;
  }
  return describeState(request, now);
}
