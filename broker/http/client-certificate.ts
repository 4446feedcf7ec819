// Mutual TLS at the broker (config `tls.clientCa`): the TLS listener asks every client for a
// certificate and checks it against the CA (http/tls.ts createListener), but does not end the
// handshake over it, so the refusal is an answer the CLI can print — `{code, message}` naming what to
// do — rather than a bare TLS alert. Every /v1 route and WebSocket upgrade is refused here, before
// any token is read; the certificate never replaces the Entra token, it is asked in addition to it.
// /healthz and /readyz (load balancer probes) and the dev tenant's own pages stay open.

import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { AccessError } from '../../shared/errors.js';

/** Throws unless the request came over TLS with a client certificate the listener verified. */
export function requireClientCertificate(req: IncomingMessage): void {
  const socket = req.socket as Partial<TLSSocket>;
  if (socket.authorized === true) return;
  const presented = typeof socket.getPeerCertificate === 'function' && Object.keys(socket.getPeerCertificate() ?? {}).length > 0;
  if (!presented) {
    throw new AccessError(
      'client_certificate_required',
      'This broker requires a client certificate (mutual TLS) besides your sign-in: `access login --cert FILE --key FILE` (or ACCESS_CLIENT_CERT and ACCESS_CLIENT_KEY) with the certificate your platform team issued you.',
    );
  }
  const why = socket.authorizationError ? ` (${String(socket.authorizationError)})` : '';
  throw new AccessError(
    'client_certificate_refused',
    `This broker refused your client certificate${why}: it accepts only certificates issued by its client CA, in date. Ask your platform team for one, then \`access login --cert FILE --key FILE\`.`,
  );
}
