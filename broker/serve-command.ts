// `access-broker serve --config FILE [--tls-cert FILE --tls-key FILE]`: the broker for a real
// Entra tenant, over HTTPS/WSS when given a certificate (else plain HTTP, for a TLS-terminating
// proxy in front of it).

import { mkdir } from 'node:fs/promises';
import { HttpTransport, isLoopbackHost } from '../shared/http-transport.js';
import { AccessError } from '../shared/errors.js';
import { assembleBroker } from './assemble.js';
import type { Logger } from './log.js';
import { clientCaOf, createListener, listenerOrigin, loadBrokerTls, type TlsFiles } from './http/tls.js';
import { buildIdentity } from './identity/build-identity.js';
import { checkPolicyGroups, graphGroupLookup, withGroupNames } from './identity/group-check.js';
import { identityFromTenant, signInResponse } from './identity/identity-settings.js';
import { Lifecycle } from './lifecycle.js';
import { openStore } from './store/open-store.js';
import { describeStore, storeSetting } from './store/store-setting.js';
import { BrokerMetrics } from './metrics/metrics.js';
import { serveMetrics } from './metrics/listener.js';
import { DEFAULT_DRAIN_TIMEOUT_MS, type OperationsOptions } from './operations.js';
import { loadServeConfig } from './serve-config.js';
import { listen } from './server.js';

export interface ServeOptions {
  configFile: string;
  /** Where the SQLite store (requests, grants, audit log) lives when the config and ACCESS_DATABASE_URL name no PostgreSQL store. */
  dataDir: string;
  /** Bring the store's schema up to date at start (default), or only check it is (`--no-migrate`). */
  migrate?: boolean;
  port: number;
  host: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
  /** Serve HTTPS/WSS with these files (`caFile` is not used by serve). Default: plain HTTP. */
  tls?: TlsFiles | null;
  /** Drain timeout and the metrics listener (operations.ts). Default: DEFAULT_DRAIN_TIMEOUT_MS, no metrics listener. */
  operations?: OperationsOptions;
}

export interface RunningBroker {
  url: string;
  /** Drains (refuses new work, lets open tunnels finish up to the drain timeout), then closes. */
  stop(): Promise<void>;
  /** Ends a drain in progress: the tunnels still open are cut now. */
  hurry(): void;
}

export async function startBroker(options: ServeOptions): Promise<RunningBroker> {
  const tls = options.tls ? await loadBrokerTls(options.tls) : null;
  const transport = new HttpTransport();
  const written = await loadServeConfig(
    options.configFile,
    options.env,
    (tenant) => buildIdentity(identityFromTenant(tenant), { transport, groupCacheSeconds: 0 }).graph,
  );
  if (!written.tenant)
    throw new AccessError('config_invalid', `${options.configFile}: a \`tenant\` block is required to serve a real tenant (or use \`access-broker dev\`)`);
  const identity = identityFromTenant(written.tenant);
  // Before Graph is asked anything: a store that cannot be used is the first thing reported.
  const store = storeSetting({ env: options.env, configured: written.store ? { url: written.store, source: written.source } : null, dataDir: options.dataDir });
  if (store.kind === 'sqlite') await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const db = openStore(store, { schema: options.migrate === false ? 'check' : 'migrate' });
  const operations = options.operations ?? { drainTimeoutMs: DEFAULT_DRAIN_TIMEOUT_MS, metrics: null };
  const metrics = new BrokerMetrics();
  const { verifier, directory, readiness, graph } = buildIdentity(identity, {
    transport,
    observeGraph: metrics.graphCall,
    groupCacheSeconds: written.groupCacheSeconds,
    graphRetryBudgetMs: written.graphRetryBudgetMs,
    warn: (message) => options.log.warn(message),
  });
  const checked = await checkPolicyGroups(written, graphGroupLookup(graph)).catch((error: unknown) => {
    db.close();
    throw error;
  });
  for (const warning of checked.warnings) options.log.warn(warning);
  // People see "sg-dba (0f8e…)" in messages and listings; matching stays by id.
  const config = withGroupNames(written, checked.names);
  const clientCa = clientCaOf(config, tls);
  const broker = assembleBroker({
    config,
    signIn: signInResponse(identity),
    verifier,
    directory,
    log: options.log,
    db,
    readiness,
    metrics,
  });
  const server = createListener(tls, clientCa);
  const lifecycle = new Lifecycle(options.log, { drainTimeoutMs: operations.drainTimeoutMs });
  lifecycle.attach(server);
  lifecycle.serve(broker);
  let address;
  let metricsListener;
  try {
    address = await listen(server, options.port, options.host);
    metricsListener = await serveMetrics(metrics, operations.metrics, options.log);
  } catch (error) {
    await lifecycle.close();
    throw error;
  }
  const url = listenerOrigin(address, tls ? 'https' : 'http');
  options.log.info('broker listening', {
    url,
    tenant: identity.tenantId,
    resources: config.resources.length,
    store: describeStore(store),
    ...(tls ? { certificate: tls.files.certFile } : {}),
  });
  if (!tls && !isLoopbackHost(address.address)) {
    // Bearer tokens cross this connection: plain HTTP is only sound behind a proxy that terminates TLS.
    options.log.warn('serving plain HTTP on a non-loopback address; pass --tls-cert and --tls-key unless a TLS-terminating proxy is in front', { url });
  }
  return {
    url,
    stop: async () => {
      await lifecycle.close();
      await metricsListener?.close();
    },
    hurry: () => lifecycle.hurry(),
  };
}
