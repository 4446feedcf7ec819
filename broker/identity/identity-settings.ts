// Where the broker's identity settings come from: a real Entra tenant (the config file's `tenant`
// block) or the embedded dev tenant. Both produce the same settings, and everything downstream
// (token validation, Graph, the CLI's sign-in config) runs the same code for either.

import { DEFAULT_SIGN_IN_METHOD, type BrokerConfigResponse, type SignInMethod } from '../../shared/wire.js';
import { VERSION } from '../../shared/version.js';
import type { TenantConfig } from '../config/types.js';
import type { Cloud } from './clouds.js';

export interface IdentitySettings {
  tenantId: string;
  /** MSAL authority for the CLI and the broker's own client credentials. */
  authority: string;
  cliClientId: string;
  cliScope: string;
  audiences: string[];
  requiredScope: string;
  requiredAppRole: string;
  /** Client ids of the automation apps whose app tokens are accepted. */
  automationClientIds: string[];
  /** The Entra cloud instance: which issuers tokens may carry, and Graph's scope. */
  cloud: Cloud;
  jwksUri: string;
  graph: TenantConfig['graph'];
  /**
   * Set only for the embedded dev tenant served by this broker: its https origin (MSAL treats it as
   * a known authority, so no cloud instance discovery is attempted for it).
   */
  devTenantOrigin: string | null;
  /**
   * True when that dev tenant is really served over plain HTTP on loopback (`dev` without TLS):
   * /v1/config then names it so the CLI reaches it the same way. Default false: over TLS the CLI
   * reaches the tenant at its https origin like any other.
   */
  devTenantPlaintext?: boolean;
  /** The sign-in `access login` uses by default (tenant.signIn, or `dev --sign-in`). Default DEFAULT_SIGN_IN_METHOD. */
  preferredSignIn?: SignInMethod;
}

export function identityFromTenant(tenant: TenantConfig): IdentitySettings {
  const host = tenant.cloud.authorityHost;
  return {
    tenantId: tenant.tenantId,
    authority: `${host}/${tenant.tenantId}`,
    cliClientId: tenant.cliClientId,
    cliScope: tenant.cliScope,
    audiences: tenant.audiences,
    requiredScope: tenant.requiredScope,
    requiredAppRole: tenant.requiredAppRole,
    automationClientIds: tenant.automationClientIds,
    cloud: tenant.cloud,
    jwksUri: `${host}/${tenant.tenantId}/discovery/v2.0/keys`,
    graph: tenant.graph,
    devTenantOrigin: null,
    preferredSignIn: tenant.signIn,
  };
}

export function signInResponse(identity: IdentitySettings): BrokerConfigResponse {
  return {
    tenantId: identity.tenantId,
    authority: identity.authority,
    clientId: identity.cliClientId,
    scopes: [identity.cliScope],
    ...(identity.devTenantOrigin && identity.devTenantPlaintext ? { devTenant: { origin: identity.devTenantOrigin } } : {}),
    ...(identity.cloud.name === 'custom' ? { customCloud: true as const } : {}),
    signIn: identity.preferredSignIn ?? DEFAULT_SIGN_IN_METHOD,
    brokerVersion: VERSION,
  };
}
