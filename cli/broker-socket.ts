// The one way the CLI opens a WebSocket to the broker (events stream, tunnels): the bearer token
// in the upgrade request, the broker's trust (a private CA) and no compression — the events are
// small and tunnel bytes are often already compressed or encrypted, so deflate only costs CPU.

import WebSocket from 'ws';
import type { BrokerTrust } from './broker-trust.js';

export interface SocketLimits {
  /** Largest message accepted from the broker. */
  maxPayload: number;
  /** How long the upgrade may take. */
  handshakeTimeout: number;
}

export function openBrokerSocket(url: string, bearer: string, trust: BrokerTrust | undefined, limits: SocketLimits): WebSocket {
  return new WebSocket(url, {
    ...trust?.tlsOptions(),
    headers: { authorization: `Bearer ${bearer}` },
    perMessageDeflate: false,
    ...limits,
  });
}
