// The tunnel's MySQL/MariaDB steps (see ../protocol.ts): the server's greeting read after the dial
// and passed on without TLS, compression or query attributes (greeting.ts), and the login with the
// broker's stored credential when the resource has one (inject-credential.ts). The query log
// (session-capture.ts) reads both directions and kills the running statement when the broker cuts
// the session (kill.ts), so the kind needs no target watch of its own.

import type { TunnelProtocol } from '../protocol.js';
import { declineTlsInGreeting } from './greeting.js';
import { InjectMysqlCredential } from './inject-credential.js';

export const mysqlProtocol: TunnelProtocol = {
  prepareTarget: declineTlsInGreeting,
  preamble: (policy, tunnel) => (tunnel.credential ? new InjectMysqlCredential(policy, tunnel.credential, tunnel) : null),
};
