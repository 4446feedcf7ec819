// Which issuers the broker accepts: exactly the v1 and v2 Entra issuers of the configured tenant.
// A token from an Entra issuer of another tenant is told apart from a wholly foreign issuer, so the
// person reading the error knows they signed in to the wrong directory rather than the wrong service.

import { AccessError } from '../../shared/errors.js';
import { quote } from './claims.js';

/** v1 tokens (`accessTokenAcceptedVersion` null or 1): https://sts.windows.net/{tid}/ */
const V1_ISSUER = /^https:\/\/sts\.windows\.net\/([^/]+)\/$/;
/** v2 tokens (`accessTokenAcceptedVersion` 2): https://login.microsoftonline.com/{tid}/v2.0 */
const V2_ISSUER = /^https:\/\/login\.microsoftonline\.com\/([^/]+)\/v2\.0$/;

export function acceptedIssuers(tenantId: string): string[] {
  return [`https://sts.windows.net/${tenantId}/`, `https://login.microsoftonline.com/${tenantId}/v2.0`];
}

/** Throws token_issuer_invalid or token_tenant_invalid unless `iss` is one of the tenant's issuers. */
export function checkIssuer(iss: unknown, tenantId: string): void {
  const accepted = acceptedIssuers(tenantId);
  if (typeof iss === 'string' && accepted.includes(iss)) return;
  if (typeof iss !== 'string') {
    throw new AccessError('token_issuer_invalid', `the token has no issuer (iss); use an access token issued by Entra ID tenant ${tenantId}`);
  }
  const otherTenant = V1_ISSUER.exec(iss)?.[1] ?? V2_ISSUER.exec(iss)?.[1];
  if (otherTenant !== undefined) {
    throw new AccessError(
      'token_tenant_invalid',
      `the token was issued by tenant ${quote(otherTenant)} (iss ${quote(iss)}), but this broker accepts only tenant ${tenantId}; sign in to that tenant (access login)`,
    );
  }
  throw new AccessError(
    'token_issuer_invalid',
    `the token issuer ${quote(iss)} is not accepted; this broker accepts only ${accepted.map((i) => `"${i}"`).join(' or ')}`,
  );
}
