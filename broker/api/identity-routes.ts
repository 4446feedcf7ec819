// `GET /v1/config` (public: how to sign in), `GET /v1/identity/jwks` (public: the key http targets
// verify the broker's identity tokens with) and `GET /v1/whoami` (who the broker sees).

import type { WhoAmIResponse } from '../../shared/wire.js';
import type { BrokerApp } from '../app.js';
import { callerGroups, inAnyGroup } from '../identity/directory.js';
import type { Route } from '../http/router.js';

export function identityRoutes(app: BrokerApp): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/config',
      auth: 'none',
      handle: async () => app.signIn,
    },
    {
      // Public like any JWKS: what a target of an http resource verifies X-Access-Token with.
      method: 'GET',
      path: '/v1/identity/jwks',
      auth: 'none',
      handle: async () => app.identityTokens.jwks(),
    },
    {
      method: 'GET',
      path: '/v1/whoami',
      auth: 'required',
      handle: async (_ctx, principal): Promise<WhoAmIResponse> => {
        const groups = await callerGroups(app.directory, principal);
        return {
          kind: principal.kind,
          oid: principal.oid,
          upn: principal.upn,
          name: principal.name,
          tenantId: principal.tenantId,
          groups: [...groups].sort((a, b) => a.displayName.localeCompare(b.displayName)),
          groupOverage: principal.groupOverage,
          tokenExpiresAt: principal.expiresAt.toISOString(),
          isAuditor: inAnyGroup(groups, app.config.auditors),
          isAdmin: inAnyGroup(groups, app.config.admins),
        };
      },
    },
  ];
}
