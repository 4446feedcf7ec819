// A Microsoft Graph client acting as an application: an app-only token from MSAL (app-token.ts,
// with any of the credential kinds), and the real Graph client over our transport. The broker reads
// membership with one; doctor, tests and scripts use the same function for other apps.

import type { Client } from '@microsoft/microsoft-graph-client';
import { graphClientOverTransport, type GraphCallObserver, type GraphRetryOptions } from '../../shared/graph-middleware.js';
import type { HttpTransport } from '../../shared/http-transport.js';
import { CLOUDS, graphScopeOf } from './clouds.js';
import { appTokenSource, type AppIdentity } from '../../shared/app-token.js';

/** The public cloud's Graph scope, for callers that name no cloud (clouds.ts has the others). */
export const GRAPH_SCOPE = graphScopeOf(CLOUDS.public.graphHost);

export interface GraphApp extends AppIdentity {
  /** Graph's base URL, e.g. https://graph.microsoft.com. */
  baseUrl: string;
  /** The app-only scope of the cloud's Graph (clouds.ts graphScopeOf). Default GRAPH_SCOPE (the public cloud). */
  scope?: string;
  /** How throttled calls are retried (shared/graph-middleware.ts): the budget, and in tests the sleep. */
  retry?: GraphRetryOptions;
  /** Told about every exchange with Graph (the broker's metrics). Default: none. */
  observe?: GraphCallObserver | null;
}

export function graphAppClient(app: GraphApp, transport: HttpTransport): Client {
  const token = appTokenSource(app, transport);
  return graphClientOverTransport(transport, () => token(app.scope ?? GRAPH_SCOPE), app.baseUrl, app.retry, app.observe ?? null);
}
