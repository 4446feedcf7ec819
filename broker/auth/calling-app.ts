// Which client application obtained a token. Any app in the tenant can ask Entra for a token to
// the broker's API once it is consented (or, for app tokens, assigned the role); the broker only
// honours the clients it was set up with: the access CLI for people, the configured automation
// apps for service principals (Microsoft's claims-validation guidance: validate `azp`/`appid`).

import type { JWTPayload } from 'jose';
import { AccessError } from '../../shared/errors.js';
import { quote, stringClaim } from './claims.js';

/** The client id of the app that obtained the token: `azp` in v2 tokens, `appid` in v1. */
export function callingAppOf(claims: JWTPayload): string | null {
  return stringClaim(claims, 'azp') ?? stringClaim(claims, 'appid');
}

/** Throws token_client_invalid unless the token's calling app is one of `allowed` (lower-case client ids). */
export function checkCallingApp(claims: JWTPayload, kind: 'user' | 'app', allowed: readonly string[]): void {
  const client = callingAppOf(claims);
  if (client !== null && allowed.includes(client.toLowerCase())) return;
  const found = client === null ? 'names no calling app (no azp or appid claim)' : `was obtained by app ${quote(client)}`;
  if (kind === 'user') {
    throw new AccessError(
      'token_client_invalid',
      `the user token ${found}, but this broker accepts user tokens only from the access CLI (client id ${allowed[0] ?? 'unset'}); sign in with \`access login\``,
    );
  }
  const accepted =
    allowed.length === 0 ? 'no automation apps are configured (tenant.automationApps)' : `it accepts ${allowed.map((id) => `"${id}"`).join(', ')}`;
  throw new AccessError(
    'token_client_invalid',
    `the app token ${found}, which is not one of this broker's automation apps: ${accepted}; an administrator adds the app's client id to tenant.automationApps`,
  );
}
