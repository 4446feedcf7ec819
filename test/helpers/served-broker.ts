// An assembled broker served the way `dev` and `serve` serve one — behind a Lifecycle on a
// loopback HTTP server — for the in-process test harnesses, plus the sign-in answer they all give.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Servable } from '../../broker/lifecycle.js';
import { Lifecycle } from '../../broker/lifecycle.js';
import type { Logger } from '../../broker/log.js';
import type { BrokerConfigResponse } from '../../shared/wire.js';

/** What `GET /v1/config` answers in the in-process tests: a tenant no test signs in to. */
export const TEST_SIGN_IN: BrokerConfigResponse = {
  tenantId: 't1',
  authority: 'https://login.microsoftonline.com/t1',
  clientId: 'cli',
  scopes: ['api://x/user_impersonation'],
  brokerVersion: 'test',
};

/** Serves `broker` on 127.0.0.1 at a free port; `lifecycle.close()` stops it. */
export async function serveOnLoopback(broker: Servable, log: Logger): Promise<{ port: number; lifecycle: Lifecycle }> {
  const server = http.createServer();
  const lifecycle = new Lifecycle(log);
  lifecycle.attach(server);
  lifecycle.serve(broker);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, lifecycle };
}
