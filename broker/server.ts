// The broker's HTTP server: the API under /v1 and, under `access-broker dev`, the embedded dev
// tenant on every other path it knows. One place turns errors into `{ code, message }`.

import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { auditRoutes } from './api/audit-routes.js';
import { identityRoutes } from './api/identity-routes.js';
import { requestRoutes } from './api/request-routes.js';
import { resourceRoutes } from './api/resource-routes.js';
import { authenticate, type BrokerApp } from './app.js';
import { answerClientError } from './http/client-error.js';
import { findRoute, type Route } from './http/router.js';
import { sendError, sendJson, toAccessError } from './http/respond.js';
import { AccessError } from '../shared/errors.js';
import type { RequestsRuntime } from './requests/runtime.js';

/** Anything that answers some paths itself and declines the rest (the dev tenant). */
export interface SideHandler {
  handle(req: IncomingMessage, res: ServerResponse): Promise<boolean>;
}

export function brokerRoutes(app: BrokerApp): Route[] {
  return [
    ...identityRoutes(app),
    ...resourceRoutes(app),
    ...(app.requests ? requestRoutes(app.requests) : []),
    ...(app.audit ? auditRoutes(app.audit, app.now) : []),
  ];
}

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function brokerRequestHandler(app: BrokerApp, options: { routes?: Route[]; side?: SideHandler | null } = {}): RequestHandler {
  const routes = options.routes ?? brokerRoutes(app);
  const side = options.side ?? null;

  const onRequest = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://broker.invalid');
    try {
      app.hosts?.check(req);
      if (app.stopping) {
        res.setHeader('connection', 'close');
        throw new AccessError('shutting_down', 'the broker is shutting down — try again in a moment');
      }
      if (!url.pathname.startsWith('/v1/') && side && (await side.handle(req, res))) return;
      const { route, params } = findRoute(routes, req.method ?? 'GET', url.pathname);
      const ctx = { req, res, url, params };
      const body = route.auth === 'none' ? await route.handle(ctx) : await route.handle(ctx, await authenticate(app, req));
      if (!res.headersSent) sendJson(res, route.status ?? 200, body);
    } catch (error) {
      const accessError = toAccessError(error);
      // A full or failing disk is the operator's to fix: logged as loudly as a bug.
      if (accessError.code === 'internal' || accessError.code === 'store_full' || accessError.code === 'store_unavailable') {
        app.log.error('request failed', { method: req.method, path: url.pathname, error: error instanceof Error ? error.stack : String(error) });
      }
      sendError(res, accessError);
    }
  };

  return (req, res) => {
    void onRequest(req, res);
  };
}

export function createBrokerServer(app: BrokerApp, options: { routes?: Route[]; side?: SideHandler | null } = {}): http.Server {
  return http.createServer(brokerRequestHandler(app, options));
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

/**
 * Puts a requests runtime behind a server, in the one order that works: the app learns its
 * request service and audit log first (the route table is built from them once, with the
 * handler), then the server gets the handler and the WebSocket upgrades.
 */
export function mountRuntime(app: BrokerApp, runtime: RequestsRuntime, server: http.Server, side: SideHandler | null = null): void {
  app.requests = runtime.service;
  app.audit = runtime.audit;
  server.on('request', brokerRequestHandler(app, { side }));
  server.on('clientError', answerClientError);
  runtime.attach(server);
}

/**
 * The first step of stopping a broker: answer new requests with 503 and stop accepting
 * connections, so nothing reaches the store while the runtime (event streams, tunnels, database)
 * closes. The server itself is closed last, once every connection is gone.
 */
export function stopAccepting(app: BrokerApp, server: http.Server): void {
  app.stopping = true;
  server.close();
  server.closeIdleConnections();
}

/** The last step: drop what is left and wait for the server to close. */
export function closeServer(server: http.Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
