// Builds the broker's identity edge from its settings: the jose token verifier against the
// tenant's JWKS, and the Graph directory read with an app-only token from MSAL client credentials.

import type { Client } from '@microsoft/microsoft-graph-client';
import type { HttpTransport } from '../../shared/http-transport.js';
import { TokenVerifier } from '../auth/token-verifier.js';
import { CachedDirectory } from './cached-directory.js';
import { GraphDirectory } from './graph-directory.js';
import { graphAppClient } from './graph-app-client.js';
import { graphScopeOf } from './clouds.js';
import type { IdentitySettings } from './identity-settings.js';

export interface Identity {
  verifier: TokenVerifier;
  directory: CachedDirectory;
  /** The Graph client the directory reads with, for start-up checks of the policy's groups (group-check.ts). */
  graph: Client;
}

export function buildIdentity(
  settings: IdentitySettings,
  options: {
    transport: HttpTransport;
    groupCacheSeconds: number;
    /** Longest total Retry-After wait per Graph call (BrokerConfig.graphRetryBudgetMs). */
    graphRetryBudgetMs?: number;
    /** Policy names groups by display name (dev only): a Graph answer without names cannot be matched and is an error. */
    groupNamesMatter?: boolean;
    /** Where Graph warnings go (limited-information groups). */
    warn?: (message: string) => void;
    now?: () => number;
  },
): Identity {
  const now = options.now ?? Date.now;
  const verifier = new TokenVerifier({
    tenantId: settings.tenantId,
    audiences: settings.audiences,
    requiredScope: settings.requiredScope,
    requiredAppRole: settings.requiredAppRole,
    cliClientId: settings.cliClientId,
    automationClientIds: settings.automationClientIds,
    cloud: settings.cloud,
    jwksUri: settings.jwksUri,
    transport: options.transport,
    now,
  });

  const client = graphAppClient(
    {
      ...settings.graph,
      authority: settings.authority,
      customAuthority: settings.devTenantOrigin !== null,
      scope: graphScopeOf(settings.cloud.graphHost),
      retry: { retryBudgetMs: options.graphRetryBudgetMs },
    },
    options.transport,
  );
  const directory = new CachedDirectory(
    new GraphDirectory(client, { groupNamesMatter: options.groupNamesMatter ?? false, warn: options.warn }),
    options.groupCacheSeconds * 1000,
    now,
  );
  return { verifier, directory, graph: client };
}
