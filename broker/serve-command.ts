// `access-broker serve --config FILE`: the broker for a real Entra tenant.

import http from 'node:http';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { HttpTransport } from '../shared/http-transport.js';
import { AccessError } from '../shared/errors.js';
import type { BrokerApp, Logger } from './app.js';
import { loadConfigFile } from './config/load.js';
import { buildIdentity } from './identity/build-identity.js';
import { identityFromTenant, signInResponse } from './identity/identity-settings.js';
import { startRequests } from './requests/runtime.js';
import { brokerRequestHandler, listen } from './server.js';

export interface ServeOptions {
  configFile: string;
  /** Where the store (requests, grants, audit log) lives. */
  dataDir: string;
  port: number;
  host: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
}

export async function startBroker(options: ServeOptions): Promise<{ url: string; stop(): Promise<void> }> {
  const config = await loadConfigFile(options.configFile, options.env, { allowDevDirectory: false, requireTenant: true });
  if (!config.tenant) throw new AccessError('config_invalid', `${options.configFile}: a \`tenant\` block is required to serve a real tenant (or use \`access-broker dev\`)`);
  const identity = identityFromTenant(config.tenant);
  const { verifier, directory } = buildIdentity(identity, { transport: new HttpTransport(), groupCacheSeconds: config.groupCacheSeconds });
  const app: BrokerApp = { config, signIn: signInResponse(identity), verifier, directory, now: Date.now, log: options.log };
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 });
  const requests = startRequests({ app, dataFile: path.join(options.dataDir, 'access.db') });
  app.requests = requests.service;
  const server = http.createServer(brokerRequestHandler(app));
  requests.attach(server);
  let address;
  try {
    address = await listen(server, options.port, options.host);
  } catch (error) {
    await requests.close();
    throw error;
  }
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  options.log.info('broker listening', { url, tenant: identity.tenantId, resources: config.resources.length, data: options.dataDir });
  return {
    url,
    stop: async () => {
      await requests.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
