// The dev tenant's app registrations, set up the way a real tenant is set up for `access`:
//   - the CLI: a public client (device code, refresh) with delegated `user_impersonation` on the API;
//   - the API (the broker): exposes `api://{clientId}/user_impersonation` and the app role
//     `Access.Automation`, and asks for the `groups` claim;
//   - the broker's Graph app: a confidential client holding Graph `GroupMember.Read.All` and
//     `User.Read.All` application permissions;
//   - an automation app: a confidential client holding the API's `Access.Automation` app role;
//   - a directory admin app: a confidential client holding Graph `GroupMember.ReadWrite.All` (and
//     `User.Read.All`), so tests and scripts can change group membership of a running dev broker.

import { timingSafeEqual } from 'node:crypto';
import type { TenantState } from './state.js';
import { GRAPH_APP_ID, GRAPH_RESOURCE } from './tokens.js';

export const API_SCOPE_NAME = 'user_impersonation';
export const AUTOMATION_ROLE = 'Access.Automation';
/** Application.Read.All lets `access-broker doctor` read the app registrations' setup. */
export const GRAPH_APP_ROLES = ['GroupMember.Read.All', 'User.Read.All', 'Application.Read.All'] as const;
/** The directory admin app's Graph permissions: change memberships, look users up by UPN, change app registrations. */
export const DIRECTORY_ADMIN_ROLES = ['GroupMember.ReadWrite.All', 'User.Read.All', 'Application.ReadWrite.All'] as const;
/** Scopes of OpenID Connect itself, which any client may ask for next to a resource scope. */
export const OIDC_SCOPES = new Set(['openid', 'profile', 'offline_access', 'email']);

export type Resource = 'graph' | 'api';

export interface AppRegistration {
  readonly key: keyof TenantState['apps'];
  readonly displayName: string;
  readonly clientId: string;
  readonly servicePrincipalId: string;
  /** Null for an app that cannot authenticate itself (public client, resource-only app). */
  readonly clientSecret: string | null;
  /** May run the device code and refresh token flows. */
  readonly publicClient: boolean;
  /** Application permissions (app roles) granted to the app's service principal, by resource. */
  readonly appRoles: Readonly<Record<Resource, readonly string[]>>;
}

export class AppRegistry {
  readonly cli: AppRegistration;
  readonly api: AppRegistration;
  readonly graph: AppRegistration;
  readonly automation: AppRegistration;
  readonly directoryAdmin: AppRegistration;
  readonly apiAppIdUri: string;
  readonly apiScope: string;

  /** Microsoft Graph of the cloud the tenant presents itself as (a `{graph}/.default` scope names it). */
  readonly #graphResource: string;

  constructor(apps: TenantState['apps'], graphResource: string = GRAPH_RESOURCE) {
    this.#graphResource = graphResource;
    const none = { graph: [], api: [] };
    this.cli = { key: 'cli', displayName: 'access CLI (dev)', ...apps.cli, publicClient: true, appRoles: none };
    this.api = { key: 'api', displayName: 'access broker API (dev)', ...apps.api, publicClient: false, appRoles: none };
    this.graph = {
      key: 'graph',
      displayName: 'access broker Graph reader (dev)',
      ...apps.graph,
      publicClient: false,
      appRoles: { graph: GRAPH_APP_ROLES, api: [] },
    };
    this.automation = {
      key: 'automation',
      displayName: 'access automation (dev)',
      ...apps.automation,
      publicClient: false,
      appRoles: { graph: [], api: [AUTOMATION_ROLE] },
    };
    this.directoryAdmin = {
      key: 'directoryAdmin',
      displayName: 'access directory admin (dev)',
      ...apps.directoryAdmin,
      publicClient: false,
      appRoles: { graph: DIRECTORY_ADMIN_ROLES, api: [] },
    };
    this.apiAppIdUri = `api://${apps.api.clientId}`;
    this.apiScope = `${this.apiAppIdUri}/${API_SCOPE_NAME}`;
  }

  byClientId(clientId: string): AppRegistration | undefined {
    const id = clientId.toLowerCase();
    return [this.cli, this.api, this.graph, this.automation, this.directoryAdmin].find((app) => app.clientId === id);
  }

  /** Whether `secret` is the app's client secret (constant time). */
  secretMatches(app: AppRegistration, secret: string): boolean {
    if (app.clientSecret === null) return false;
    const expected = Buffer.from(app.clientSecret);
    const given = Buffer.from(secret);
    return expected.length === given.length && timingSafeEqual(expected, given);
  }

  /**
   * The delegated permission a user-flow scope names on the API (`user_impersonation`; `.default`
   * means every consented one, which is that one), or null when it is not an API scope. The API is
   * named by its App ID URI or its client id, as Entra accepts both.
   */
  apiPermission(scope: string): string | null {
    for (const prefix of [this.apiAppIdUri, this.api.clientId]) {
      if (scope === `${prefix}/${API_SCOPE_NAME}` || scope === `${prefix}/.default`) return API_SCOPE_NAME;
    }
    return null;
  }

  /** The resource a client-credentials scope (`{resource}/.default`) names, or null when unknown. */
  defaultScopeResource(scope: string): Resource | null {
    const resource = scope.slice(0, -'/.default'.length).replace(/\/$/, '');
    if (resource === this.#graphResource || resource === GRAPH_APP_ID) return 'graph';
    if (resource === this.apiAppIdUri || resource === this.api.clientId) return 'api';
    return null;
  }
}
