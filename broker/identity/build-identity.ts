// Builds the broker's identity edge from its settings: the jose token verifier against the
// tenant's JWKS, and the Graph directory read with an app-only token from MSAL client credentials.

import type { HttpTransport } from '../../shared/http-transport.js';
import { TokenVerifier } from '../auth/token-verifier.js';
import { CachedDirectory } from './cached-directory.js';
import { DeadlineDirectory } from './deadline-directory.js';
import { GraphDirectory } from './graph-directory.js';
import { graphAppClient } from './graph-app-client.js';
import type { IdentitySettings } from './identity-settings.js';

export interface Identity {
  verifier: TokenVerifier;
  directory: CachedDirectory;
}

export function buildIdentity(
  settings: IdentitySettings,
  options: { transport: HttpTransport; groupCacheSeconds: number; now?: () => number },
): Identity {
  const now = options.now ?? Date.now;
  const verifier = new TokenVerifier({
    tenantId: settings.tenantId,
    audiences: settings.audiences,
    requiredScope: settings.requiredScope,
    requiredAppRole: settings.requiredAppRole,
    jwksUri: settings.jwksUri,
    transport: options.transport,
    now,
  });

  const client = graphAppClient(
    { ...settings.graph, authority: settings.authority, customAuthority: settings.devTenantOrigin !== null },
    options.transport,
  );
  const directory = new CachedDirectory(new DeadlineDirectory(new GraphDirectory(client)), options.groupCacheSeconds * 1000, now);
  return { verifier, directory };
}
