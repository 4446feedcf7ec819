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
  /** What the sign-in behind the token proved, for a resource's conditions (policy/conditions.ts). */
  signIn: SignInFacts;
  /**
   * The client address this call came from (the peer, or X-Forwarded-For behind a trusted proxy:
   * policy/networks.ts), set by the authenticator; null when unknown.
   */
  clientAddress: string | null;
}

/**
 * From the token: `amr` (authentication methods: Entra v1 access tokens carry it, v2 do not),
 * `acrs` (authentication contexts satisfied, both versions), and when the person signed in:
 * `auth_time` when the token has it, else `iat`, which Entra documents as when "the
 * authentication for this token occurred" (a refreshed token has a new one).
 */
export interface SignInFacts {
  amr: string[];
  acrs: string[];
  /** ms since the epoch; null when the token has neither claim. */
  authTime: number | null;
}

export function signInFactsOf(claims: JWTPayload): SignInFacts {
  const seconds = typeof claims['auth_time'] === 'number' ? claims['auth_time'] : typeof claims.iat === 'number' ? claims.iat : null;
  return {
    amr: stringListClaim(claims, 'amr') ?? [],
    acrs: stringListClaim(claims, 'acrs') ?? [],
    authTime: seconds === null || !Number.isFinite(seconds) ? null : seconds * 1000,
  };
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
    signIn: signInFactsOf(claims),
    clientAddress: null,
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
