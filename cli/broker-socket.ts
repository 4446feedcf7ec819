// The one way the CLI opens a WebSocket to the broker (events stream, tunnels): the bearer token
// in the upgrade request, the broker's trust (a private CA) and no compression — the events are
// small and tunnel bytes are often already compressed or encrypted, so deflate only costs CPU.
//
// Frames are sent with an all-zero masking key where no intermediary can read them: over TLS
// (wss://) and to a loopback broker. Masking (RFC 6455 §10.3) exists so that script-chosen bytes
// cannot look like HTTP to a cleartext proxy that does not understand WebSocket; a TLS stream or a
// loopback socket has no such proxy. With a zero key ws neither XORs nor copies a frame (and the
// broker skips the unmask): on the upload path that was the CLI's largest JavaScript cost (10 % of
// its CPU and a 64 KiB allocation per chunk). Cleartext ws:// to another host keeps random keys.

import WebSocket from 'ws';
import { isLoopbackHost } from '../shared/http-transport.js';
import type { BrokerTrust } from './broker-trust.js';

export interface SocketLimits {
  /** Largest message accepted from the broker. */
  maxPayload: number;
  /** How long the upgrade may take. */
  handshakeTimeout: number;
}

/** An all-zero key: ws then sends the payload as is. */
const ZERO_MASK = (mask: Buffer): void => void mask.fill(0);

/** Whether frames to `url` may go unmasked: no cleartext intermediary can see them (TLS, or a loopback broker). */
export function unmaskedFramesAllowed(url: URL): boolean {
  return url.protocol === 'wss:' || isLoopbackHost(url.hostname);
}

export function openBrokerSocket(url: string, bearer: string, trust: BrokerTrust | undefined, limits: SocketLimits): WebSocket {
  return new WebSocket(url, {
    ...trust?.tlsOptions(),
    headers: { authorization: `Bearer ${bearer}` },
    perMessageDeflate: false,
    ...(unmaskedFramesAllowed(new URL(url)) ? { generateMask: ZERO_MASK } : {}),
    ...limits,
  });
}
