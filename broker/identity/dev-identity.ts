// The identity settings of a broker whose tenant is the embedded dev tenant: the same settings a
// real tenant's config produces (identity-settings.ts), filled from the dev tenant's own apps, so
// everything downstream runs the same code for either.

import type { DevTenant } from '../devtenant/dev-tenant.js';
import { secretCredential } from '../../shared/app-token.js';
import type { IdentitySettings } from './identity-settings.js';

export function identityFromDevTenant(tenant: DevTenant, served: { publicOrigin: string; plaintext: boolean }): IdentitySettings {
  return {
    tenantId: tenant.tenantId,
    authority: tenant.authority,
    cliClientId: tenant.cliClientId,
    cliScope: tenant.api.scope,
    audiences: [tenant.api.clientId, tenant.api.appIdUri],
    requiredScope: 'user_impersonation',
    requiredAppRole: 'Access.Automation',
    automationClientIds: [tenant.automationApp.clientId],
    cloud: tenant.cloud,
    jwksUri: tenant.jwksUri,
    graph: { clientId: tenant.graphApp.clientId, credential: secretCredential(tenant.graphApp.clientSecret), baseUrl: tenant.graphBaseUrl },
    devTenantOrigin: served.publicOrigin,
    devTenantPlaintext: served.plaintext,
  };
}
