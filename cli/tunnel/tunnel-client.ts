// Opening one tunnel: `GET /v1/tunnel?resource=NAME` upgraded to a WebSocket with a fresh bearer
// token. The broker checks the token, the live grant and the group membership, and dials the target
// BEFORE it completes the upgrade, so an open socket means bytes can flow; a refusal is a plain
// HTTP answer carrying the broker's `{code, message}`, rethrown here as that AccessError.

import type { ClientRequest, IncomingMessage } from 'node:http';
import type WebSocket from 'ws';
import { AccessError } from '../../shared/errors.js';
import type { BrokerTrust } from '../broker-trust.js';
import { answerFailure, backoffMs, type CallFailure, connectionFailure, pause, shouldRetry } from '../broker-retry.js';
import { openBrokerSocket } from '../broker-socket.js';
import { readRefusal } from '../upgrade-refusal.js';

/**
 * How long the upgrade may take. The broker dials the target before it answers (with its own
 * connect timeout of about 10 s), so this must be longer than that or a slow target would read as
 * an unreachable broker.
 */
export const TUNNEL_HANDSHAKE_TIMEOUT_MS = 30_000;
/**
 * Largest frame accepted from the broker. It sends what one read from the target returned (64 KiB
 * in Node); a frame far larger than that is not tunnel traffic and is refused (close 1009) rather
 * than buffered.
 */
export const MAX_TUNNEL_FRAME_BYTES = 16 * 1024 * 1024;

export interface TunnelClientOptions {
  /** `ws://` or `wss://` URL of the tunnel for one resource (see `tunnelUrl`). */
  url: string;
  /** A valid access token; called once per tunnel so a long session never presents a stale one. */
  token: () => Promise<string>;
  /** The certificates accepted from a `wss://` broker (a private CA). Default: Node's bundled public roots. */
  trust?: BrokerTrust;
}

/** The tunnel endpoint of a broker for `resource`: `http` → `ws`, `https` → `wss`. */
export function tunnelUrl(brokerUrl: string, resource: string): string {
  const url = new URL(`${brokerUrl.replace(/\/+$/, '')}/v1/tunnel`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  url.searchParams.set('resource', resource);
  return url.toString();
}

/**
 * Opens one tunnel. Resolves with an OPEN socket that is PAUSED: a target that speaks first (an SSH
 * banner) may have its bytes in the same packet as the upgrade answer, and they must not be emitted
 * before the caller listens. Attach 'message', then call `resume()`.
 *
 * Opening is tried again, each time on a new connection, when the broker (or the load balancer in
 * front) fails it before answering (broker-retry.ts): a broker dies with the grant intact, and the
 * next attempt reaches another. Opening does nothing that lasts when the socket never reaches us
 * (the broker closes the target connection with the lost socket), so it is always repeatable.
 */
export async function openTunnel(options: TunnelClientOptions): Promise<WebSocket> {
  for (let attempt = 1; ; attempt += 1) {
    const result = await openOnce(options);
    if ('socket' in result) return result.socket;
    if (!result.failure || !shouldRetry('GET', result.failure, attempt)) throw result.error;
    await pause(backoffMs(attempt));
  }
}

type Attempt = { socket: WebSocket } | { error: AccessError; failure: CallFailure | null };

/**
 * An open tunnel's error listener until the relay attaches its own: ws emits errors on a live socket
 * too (an unhandled one would crash the CLI), and the relay learns what happened from 'close'. One
 * function for every tunnel, so an open tunnel keeps nothing of its opening (the options, the token
 * source, the refusal handling): with a thousand idle tunnels, that is memory per tunnel.
 */
function afterOpenError(): void {}

async function openOnce(options: TunnelClientOptions): Promise<Attempt> {
  const bearer = await options.token();
  return new Promise((resolve) => {
    const socket = openBrokerSocket(options.url, bearer, options.trust, {
      maxPayload: MAX_TUNNEL_FRAME_BYTES,
      handshakeTimeout: TUNNEL_HANDSHAKE_TIMEOUT_MS,
    });
    // Messages are raw bytes; 'nodebuffer' makes every message a single Buffer (the relay relies on it).
    socket.binaryType = 'nodebuffer';
    let settled = false;
    const fail = (error: AccessError, failure: CallFailure | null): void => {
      if (settled) return;
      settled = true;
      socket.terminate();
      resolve({ error, failure });
    };
    const onError = (error: NodeJS.ErrnoException): void => {
      const tlsFailure = options.trust?.explain(error, options.url);
      if (tlsFailure) {
        fail(tlsFailure, null);
        return;
      }
      fail(
        new AccessError('broker_unreachable', `cannot open a tunnel through the broker at ${options.url} (${error.code ?? error.message}) — is it running?`, {
          cause: error,
        }),
        connectionFailure(error.code),
      );
    };
    socket.on('error', onError);
    const onRefusal = (req: ClientRequest, res: IncomingMessage): void => {
      void readRefusal('tunnel', options.url, res).then(({ error, fromBroker }) => {
        req.destroy();
        fail(error, answerFailure(res.statusCode ?? 0, fromBroker ? error.code : null));
      });
    };
    socket.once('unexpected-response', onRefusal);
    socket.once('open', () => {
      settled = true;
      // The opening's listeners go: a tunnel that stays open for hours must not keep them (afterOpenError).
      socket.off('error', onError);
      socket.on('error', afterOpenError);
      socket.off('unexpected-response', onRefusal);
      socket.pause();
      resolve({ socket });
    });
  });
}
