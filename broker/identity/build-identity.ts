// Builds the broker's identity edge from its settings: the jose token verifier against the
// tenant's JWKS, and the Graph directory read with an app-only token from MSAL client credentials.

import { ConfidentialClientApplication, LogLevel } from '@azure/msal-node';
import { AccessError } from '../../shared/errors.js';
import { graphClientOverTransport } from '../../shared/graph-middleware.js';
import type { HttpTransport } from '../../shared/http-transport.js';
import { msalNetworkModule } from '../../shared/msal-network.js';
import { TokenVerifier } from '../auth/token-verifier.js';
import { CachedDirectory } from './cached-directory.js';
import { GraphDirectory } from './graph-directory.js';
import { GRAPH_SCOPE, type IdentitySettings } from './identity-settings.js';

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

  const app = new ConfidentialClientApplication({
    auth: {
      clientId: settings.graph.clientId,
      clientSecret: settings.graph.clientSecret,
      authority: settings.authority,
      ...(settings.devTenantOrigin ? { knownAuthorities: [new URL(settings.authority).host] } : {}),
    },
    system: {
      networkClient: msalNetworkModule(options.transport),
      loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined },
    },
  });
  const graphToken = async (): Promise<string> => {
    try {
      const result = await app.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
      if (result?.accessToken) return result.accessToken;
    } catch (error) {
      throw new AccessError(
        'directory_unavailable',
        `cannot get a Microsoft Graph token for app ${settings.graph.clientId}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        { cause: error },
      );
    }
    throw new AccessError('directory_unavailable', `the tenant gave no Microsoft Graph token to app ${settings.graph.clientId}`);
  };
  const client = graphClientOverTransport(options.transport, graphToken, settings.graph.baseUrl);
  const directory = new CachedDirectory(new GraphDirectory(client), options.groupCacheSeconds * 1000, now);
  return { verifier, directory };
}
