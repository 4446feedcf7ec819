// The HTTP `upgrade` router for the broker's WebSocket endpoints (`/v1/events`, `/v1/tunnel`).
// Authentication happens here, on the plain HTTP request, before any WebSocket exists: a refused
// upgrade is a real HTTP response (`HTTP/1.1 401 …` with the usual `{ code, message }` body)
// followed by closing the socket, so a client sees the same errors as on the REST API and never
// gets an open WebSocket it was not entitled to.

import { requireClientCertificate } from './client-certificate.js';
import http, { type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { AccessError } from '../../shared/errors.js';
import type { Principal } from '../auth/principal.js';
import type { Authenticate } from '../app.js';
import type { Logger } from '../log.js';
import type { HostAllowList } from './host-allow-list.js';
import { errorHeaders, toAccessError } from './respond.js';

export interface UpgradeContext {
  req: IncomingMessage;
  socket: Duplex;
  head: Buffer;
  url: URL;
}

export interface UpgradeRoute {
  path: string;
  /**
   * Completes the upgrade for an authenticated caller (typically `WebSocketServer.handleUpgrade`).
   * It may refuse by throwing an AccessError, but only before it hands the socket to a WebSocket
   * server: the refusal is written to the socket as an HTTP response.
   */
  handle(ctx: UpgradeContext, principal: Principal): Promise<void>;
}

export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

/** Writes `error` as an HTTP response on a socket that has not become a WebSocket, then closes it. */
export function refuseUpgrade(socket: Duplex, error: AccessError, authorizationUri = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = JSON.stringify(error.toBody());
  const headers = [
    `HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status] ?? 'Error'}`,
    'Connection: close',
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Cache-Control: no-store',
  ];
  for (const [name, value] of Object.entries(errorHeaders(error, authorizationUri))) headers.push(`${name}: ${value}`);
  // Destroy only once the response has been flushed, or the client may see a reset instead of it.
  socket.once('finish', () => socket.destroy());
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/**
 * Routes upgrades by path: a Host not in `hosts` 421 (host-allow-list.ts; null: any Host), unknown
 * path 404, wrong method 405, not a WebSocket 400, bad token 401. `authorizationUri` (the tenant's
 * authorize endpoint) goes into claims challenges.
 */
export function upgradeRouter(
  authenticate: Authenticate,
  log: Logger,
  routes: readonly UpgradeRoute[],
  hosts: HostAllowList | null = null,
  authorizationUri = '',
  clientCertificates = false,
): UpgradeListener {
  const onUpgrade = async (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://broker.invalid');
    // A client that resets mid-authentication must not become an unhandled 'error' event.
    const ignoreError = (): void => undefined;
    socket.on('error', ignoreError);
    try {
      hosts?.check(req);
      const route = routes.find((r) => r.path === url.pathname);
      if (!route) throw new AccessError('not_found', `no WebSocket endpoint at ${url.pathname}`);
      if (req.method !== 'GET')
        throw new AccessError('method_not_allowed', `${req.method ?? '?'} is not allowed on ${url.pathname}; a WebSocket upgrade is a GET`);
      if (!isWebSocketUpgrade(req)) {
        throw new AccessError('bad_request', `${url.pathname} only upgrades to "websocket", not "${req.headers.upgrade ?? ''}"`);
      }
      if (clientCertificates) requireClientCertificate(req);
      const principal = await authenticate(req);
      if (socket.destroyed) return;
      await route.handle({ req, socket, head, url }, principal);
      // The socket now belongs to a WebSocket, which handles its errors itself.
      socket.off('error', ignoreError);
    } catch (error) {
      const accessError = toAccessError(error);
      if (accessError.code === 'internal') {
        log.error('upgrade failed', { path: url.pathname, error: error instanceof Error ? error.stack : String(error) });
      }
      // The error guard stays: a client may reset while the refusal is being written.
      refuseUpgrade(socket, accessError, authorizationUri);
    }
  };
  return (req, socket, head) => {
    void onUpgrade(req, socket, head);
  };
}
