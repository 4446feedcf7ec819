// The tunnel's Postgres steps (see ../protocol.ts): TLS to the database when the resource asks
// (`targetTls`), and the client's SSLRequest/GSSENCRequest answered 'N' by the broker.

import type { TunnelProtocol } from '../protocol.js';
import { DeclineEncryption } from './ssl-decline.js';
import { secureTarget } from './target-tls.js';

export const postgresProtocol: TunnelProtocol = {
  prepareTarget: secureTarget,
  preamble: () => new DeclineEncryption(),
};
