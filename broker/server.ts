// The broker's HTTP request handler: the API under /v1 and, under `access-broker dev`, the embedded
// dev tenant on every other path it knows. One place turns errors into `{ code, message }`.

import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auditRoutes } from './api/audit-routes.js';
import { identityRoutes } from './api/identity-routes.js';
import { requestRoutes } from './api/request-routes.js';
import { resourceRoutes } from './api/resource-routes.js';
import type { Authenticate, BrokerApp } from './app.js';
import type { HostAllowList } from './http/host-allow-list.js';
import { requireClientCertificate } from './http/client-certificate.js';
import { findRoute, type Route } from './http/router.js';
import { authorizeEndpoint, sendError, sendJson, toAccessError } from './http/respond.js';
import { AccessError } from '../shared/errors.js';

/** Anything that answers some paths itself and declines the rest (the dev tenant). */
export interface SideHandler {
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

/** Every API route of a broker (also what the fuzz test walks). */
export function brokerRoutes(app: BrokerApp): Route[] {
  return [...identityRoutes(app), ...resourceRoutes(app), ...requestRoutes(app.requests, app.requestCreations), ...auditRoutes(app.audit, app.now)];
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * `side`: the dev tenant under `access-broker dev`, else null. `hosts`: the Host names the broker
 * answers to (http/host-allow-list.ts), any other gets 421 on every path, the side's included;
 * null answers any Host. `extraRoutes`: routes served by parts assembleBroker builds beside the app
 * (the forward-auth endpoint).
 */
export function brokerRequestHandler(
  app: BrokerApp,
  authenticate: Authenticate,
  edge: { side: SideHandler | null; hosts: HostAllowList | null; extraRoutes?: readonly Route[]; clientCertificates?: boolean },
): RequestHandler {
  const routes = [...brokerRoutes(app), ...(edge.extraRoutes ?? [])];
  const { side, hosts } = edge;

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://broker.invalid');
    try {
      hosts?.check(req);
      if (!url.pathname.startsWith('/v1/') && side && (await side.handle(req, res))) return;
      // Mutual TLS (config tls.clientCa): every API route, before any token is read.
      if (edge.clientCertificates && url.pathname.startsWith('/v1/')) requireClientCertificate(req);
      const { route, params } = findRoute(routes, req.method ?? 'GET', url.pathname);
      const ctx = { req, res, url, params };
      const body = route.auth === 'none' ? await route.handle(ctx) : await route.handle(ctx, await authenticate(req));
      if (!res.headersSent) sendJson(res, route.status ?? 200, body);
    } catch (error) {
      const accessError = toAccessError(error);
      // A full or failing disk is the operator's to fix: logged as loudly as a bug.
      if (accessError.code === 'internal' || accessError.code === 'store_full' || accessError.code === 'store_unavailable') {
        app.log.error('request failed', { method: req.method, path: url.pathname, error: error instanceof Error ? error.stack : String(error) });
      }
      sendError(res, accessError, authorizeEndpoint(app.signIn.authority));
    }
  };

  return (req, res) => {
    void onRequest(req, res);
  };
}

export async function listen(server: http.Server, port: number, host: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    const onError = (error: NodeJS.ErrnoException): void => {
      reject(
        error.code === 'EADDRINUSE'
          ? new AccessError('config_invalid', `port ${port} on ${host} is already in use — pick another with --port, or --port 0 for any free port`)
          : error,
      );
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** Closes `server`: drops the connections left and waits until it is closed. */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
