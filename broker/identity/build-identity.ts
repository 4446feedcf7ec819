// Builds the broker's identity edge from its settings: the jose token verifier against the
// tenant's JWKS, the Graph directory read with an app-only token from MSAL client credentials, and
// the readiness checks of both (`GET /readyz`).

import type { Client } from '@microsoft/microsoft-graph-client';
import type { HttpTransport } from '../../shared/http-transport.js';
import { TokenVerifier } from '../auth/token-verifier.js';
import type { Verifier } from '../app.js';
import { GraphAppNames, withAppNames } from './app-names.js';
import { CachedDirectory } from './cached-directory.js';
import { DeadlineDirectory } from './deadline-directory.js';
import { GraphDirectory } from './graph-directory.js';
import { graphAppClient } from './graph-app-client.js';
import { graphScopeOf } from './clouds.js';
import type { IdentitySettings } from './identity-settings.js';
import type { GraphCallObserver } from '../../shared/graph-middleware.js';
import { cachedCheck, READINESS_CHECK_TIMEOUT_MS, type ReadinessCheck } from '../readiness.js';

/**
 * The user `/readyz` asks Graph about: an object id no directory has, so the answer is an empty
 * membership (Graph's 404), and only a Graph or token failure makes the check fail.
 */
const READINESS_PROBE_OID = '00000000-0000-0000-0000-000000000000';

export interface Identity {
  /** The jose verifier, naming workloads from Graph (app-names.ts). */
  verifier: Verifier;
  directory: CachedDirectory;
  /** Whether the signing keys (JWKS) and Microsoft Graph answer now. */
  readiness: ReadinessCheck[];
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
    /** Told about every exchange with Graph (the broker's metrics, metrics/metrics.ts). */
    observeGraph?: GraphCallObserver | null;
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
      // Neither the dev tenant nor a cloud written out host by host is known to Microsoft's instance discovery.
      customAuthority: settings.devTenantOrigin !== null || settings.cloud.name === 'custom',
      scope: graphScopeOf(settings.cloud.graphHost),
      retry: { retryBudgetMs: options.graphRetryBudgetMs },
      observe: options.observeGraph ?? null,
    },
    options.transport,
  );
  // Every membership read has a deadline (deadline-directory.ts): a Graph that hangs is an outage, not a wait.
  const graph = new DeadlineDirectory(new GraphDirectory(client, { groupNamesMatter: options.groupNamesMatter ?? false, warn: options.warn }));
  const directory = new CachedDirectory(graph, options.groupCacheSeconds * 1000, now);
  // Both go over the network: a probe every second reuses an answer for READINESS_CACHE_MS.
  const readiness: ReadinessCheck[] = [
    cachedCheck({ name: 'signing keys', check: () => checkJwks(settings.jwksUri, options.transport) }, undefined, now),
    // Through the uncached directory: a token from the authority and an answer from Graph itself.
    cachedCheck({ name: 'graph', check: async () => void (await graph.memberGroups(READINESS_PROBE_OID)) }, undefined, now),
  ];
  return { verifier: withAppNames(verifier, new GraphAppNames(client, now)), directory, readiness, graph: client };
}

/** The tenant publishes at least one signing key at `jwksUri`. */
async function checkJwks(jwksUri: string, transport: HttpTransport): Promise<void> {
  const response = await transport.fetch(jwksUri, { signal: AbortSignal.timeout(READINESS_CHECK_TIMEOUT_MS) });
  if (response.status !== 200) throw new Error(`${jwksUri} answered HTTP ${response.status}, not 200`);
  const body = (await response.json()) as { keys?: unknown };
  if (!Array.isArray(body.keys) || body.keys.length === 0) throw new Error(`${jwksUri} publishes no signing keys`);
}
