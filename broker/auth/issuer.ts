// Which issuers the broker accepts: exactly the v1 and v2 Entra issuers of the configured tenant in
// its cloud (broker/identity/clouds.ts). A token from an issuer of the same shape for another tenant
// is told apart from a wholly foreign issuer (another cloud, another service), so the person reading
// the error knows they signed in to the wrong directory rather than the wrong service.

import { AccessError } from '../../shared/errors.js';
import { quote } from './claims.js';

/** Throws token_issuer_invalid or token_tenant_invalid unless `iss` is one of `accepted` (the tenant's issuers). */
export function checkIssuer(iss: unknown, tenantId: string, accepted: readonly string[]): void {
  if (typeof iss === 'string' && accepted.includes(iss)) return;
  if (typeof iss !== 'string') {
    throw new AccessError('token_issuer_invalid', `the token has no issuer (iss); use an access token issued by Entra ID tenant ${tenantId}`);
  }
  const otherTenant = tenantOfSameShape(iss, tenantId, accepted);
  if (otherTenant !== null) {
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

/** The tenant named by `iss` when it is one of the accepted issuers with another tenant in it. */
function tenantOfSameShape(iss: string, tenantId: string, accepted: readonly string[]): string | null {
  for (const issuer of accepted) {
    const at = issuer.indexOf(`/${tenantId}/`);
    if (at < 0) continue;
    const prefix = issuer.slice(0, at + 1);
    const suffix = issuer.slice(at + 1 + tenantId.length);
    if (!iss.startsWith(prefix) || !iss.endsWith(suffix)) continue;
    const middle = iss.slice(prefix.length, iss.length - suffix.length);
    if (middle !== '' && !middle.includes('/')) return middle;
  }
  return null;
}
