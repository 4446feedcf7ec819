// The tunnel's Postgres steps (see ../protocol.ts): TLS to the database when the resource asks
// (`targetTls`), the client's SSLRequest/GSSENCRequest answered 'N' by the broker, the login with
// the broker's stored credential when the resource has one (inject-credential.ts), and the
// server's BackendKeyData read so a cut by the broker cancels the running query (cancel-on-cut.ts).

import type { TunnelProtocol } from '../protocol.js';
import { watchBackendKey } from './cancel-on-cut.js';
import { InjectCredential } from './inject-credential.js';
import { DeclineEncryption } from './ssl-decline.js';
import { secureTarget } from './target-tls.js';

export const postgresProtocol: TunnelProtocol = {
  prepareTarget: secureTarget,
  preamble: (policy, tunnel) => (tunnel.credential ? new InjectCredential(policy, tunnel.credential, tunnel) : new DeclineEncryption()),
  watchTarget: watchBackendKey,
};
