// Who is calling, as the broker sees it after the bearer token has passed every check in
// token-verifier.ts. `oid` is the key for everything (users and service principals alike);
// names are for display only because they can change and be reused.

import type { JWTPayload } from 'jose';
import { callingAppOf } from './calling-app.js';
import { stringClaim, stringListClaim } from './claims.js';

export interface Principal {
  kind: 'user' | 'app';
  /** Entra object id of the user or service principal: the key for everything. */
  oid: string;
  tenantId: string;
  /** preferred_username (v2) or upn/unique_name (v1): display only. */
  upn: string | null;
  name: string | null;
  /** azp (v2) or appid (v1): the client application that obtained the token. */
  appId: string | null;
  /** From `scp` (space separated); empty for app tokens. */
  scopes: string[];
  roles: string[];
  /** The `groups` claim if present. Never trusted alone: membership is read from Graph. */
  groupsClaim: string[] | null;
  /** True when the token says its groups did not fit (overage): ask Graph. */
  groupOverage: boolean;
  expiresAt: Date;
}

/** Builds the principal from claims that have already been verified (signature, time, issuer, audience). */
export function principalFromClaims(
  claims: JWTPayload,
  facts: { kind: Principal['kind']; oid: string; tenantId: string; scopes: string[]; roles: string[]; exp: number },
): Principal {
  return {
    kind: facts.kind,
    oid: facts.oid,
    tenantId: facts.tenantId,
    upn: stringClaim(claims, 'preferred_username') ?? stringClaim(claims, 'upn') ?? stringClaim(claims, 'unique_name'),
    // App tokens carry no `name`; Entra's v1 app tokens (and the dev tenant's) name the app in app_displayname.
    name: stringClaim(claims, 'name') ?? (facts.kind === 'app' ? stringClaim(claims, 'app_displayname') : null),
    appId: callingAppOf(claims),
    scopes: facts.scopes,
    roles: facts.roles,
    groupsClaim: stringListClaim(claims, 'groups'),
    groupOverage: hasGroupOverage(claims),
    expiresAt: new Date(facts.exp * 1000),
  };
}

/**
 * Above 200 groups Entra leaves out `groups` and points to Graph instead through
 * `_claim_names.groups`; v1 implicit-flow tokens say the same with `hasgroups: true`.
 */
function hasGroupOverage(claims: JWTPayload): boolean {
  if (claims['hasgroups'] === true) return true;
  const names = claims['_claim_names'];
  return typeof names === 'object' && names !== null && Object.hasOwn(names, 'groups');
}
