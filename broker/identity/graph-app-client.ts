// A Microsoft Graph client acting as an application: an app-only token from MSAL client
// credentials, and the real Graph client over our transport. The broker reads membership with one;
// tests and scripts use the same function for the dev tenant's other apps.

import { ConfidentialClientApplication, LogLevel } from '@azure/msal-node';
import type { Client } from '@microsoft/microsoft-graph-client';
import { AccessError } from '../../shared/errors.js';
import { graphClientOverTransport } from '../../shared/graph-middleware.js';
import type { HttpTransport } from '../../shared/http-transport.js';
import { msalNetworkModule } from '../../shared/msal-network.js';

export const GRAPH_SCOPE = 'https://graph.microsoft.com/.default';

export interface GraphApp {
  clientId: string;
  clientSecret: string;
  /** MSAL authority of the tenant, e.g. https://login.microsoftonline.com/<tenant id>. */
  authority: string;
  /** Graph's base URL, e.g. https://graph.microsoft.com. */
  baseUrl: string;
  /** The authority is not a Microsoft cloud host (the dev tenant): skip cloud instance discovery. */
  customAuthority: boolean;
}

export function graphAppClient(app: GraphApp, transport: HttpTransport): Client {
  const msal = new ConfidentialClientApplication({
    auth: {
      clientId: app.clientId,
      clientSecret: app.clientSecret,
      authority: app.authority,
      ...(app.customAuthority ? { knownAuthorities: [new URL(app.authority).host] } : {}),
    },
    system: {
      networkClient: msalNetworkModule(transport),
      loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined },
    },
  });
  const token = async (): Promise<string> => {
    try {
      const result = await msal.acquireTokenByClientCredential({ scopes: [GRAPH_SCOPE] });
      if (result?.accessToken) return result.accessToken;
    } catch (error) {
      throw new AccessError(
        'directory_unavailable',
        `cannot get a Microsoft Graph token for app ${app.clientId}: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
        { cause: error },
      );
    }
    throw new AccessError('directory_unavailable', `the tenant gave no Microsoft Graph token to app ${app.clientId}`);
  };
  return graphClientOverTransport(transport, token, app.baseUrl);
}
