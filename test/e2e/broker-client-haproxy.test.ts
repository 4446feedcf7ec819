// The CLI's REST client behind a real HAProxy (Debian's /usr/sbin/haproxy) balancing two brokers
// round-robin, one of them dead, before any health check has noticed: HAProxy answers 503 for the
// dead one. A read goes through on the next attempt (HAProxy sends it to the live broker); an action
// is not sent twice and says how to find out whether it was done.

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BrokerClient } from '../../cli/broker-client.js';
import { AccessError } from '../../shared/errors.js';
import { HttpTransport } from '../../shared/http-transport.js';
import { freePort } from '../helpers/processes.js';
import { haproxyMissing, type RunningProxy, startHaproxyWithConfig } from '../helpers/proxies.js';

let live: Server;
const seen: string[] = [];
let haproxy: RunningProxy;
const MISSING = haproxyMissing();
if (MISSING) console.warn(`skipping the BrokerClient-behind-HAProxy tests: ${MISSING}`);

beforeAll(async () => {
  if (MISSING) return;
  live = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ served: `${req.method} ${req.url}` }));
  });
  live.listen(0, '127.0.0.1');
  await once(live, 'listening');
  const livePort = (live.address() as AddressInfo).port;
  const deadPort = await freePort();
  haproxy = await startHaproxyWithConfig((port) =>
    [
      'defaults',
      '  mode http',
      '  timeout connect 2s',
      '  timeout client 10s',
      '  timeout server 10s',
      // No retries of its own and no health checks: the dead broker's turn is HAProxy's 503.
      '  retries 0',
      'frontend access',
      `  bind 127.0.0.1:${port}`,
      '  default_backend brokers',
      'backend brokers',
      '  balance roundrobin',
      `  server dead 127.0.0.1:${deadPort}`,
      `  server live 127.0.0.1:${livePort}`,
      '',
    ].join('\n'),
  );
});

afterAll(async () => {
  await haproxy?.stop();
  live?.closeAllConnections();
  live?.close();
});

const client = (): BrokerClient => new BrokerClient(haproxy.url, new HttpTransport(), async () => 'token');

describe.skipIf(MISSING !== null)('BrokerClient behind HAProxy with one of two brokers dead', () => {
  it('reads through the live broker on the attempt after HAProxy answers 503 for the dead one', async () => {
    // Two reads: whichever broker HAProxy's turn starts at, one of them meets the dead broker first.
    for (const path of ['/v1/whoami', '/v1/requests']) {
      expect(await client().get(path)).toEqual({ served: `GET ${path}` });
    }
    expect(seen).toEqual(['GET /v1/whoami', 'GET /v1/requests']);
  });

  it("does not send an action again after HAProxy's 503, and says how to check", async () => {
    seen.length = 0;
    const messages: string[] = [];
    // Within two calls, one is HAProxy's turn for the dead broker.
    for (let i = 0; i < 2; i++) {
      const outcome = await client()
        .post('/v1/requests', { resource: 'prod-db' }, 'the request for prod-db may or may not have been made — `access requests` lists it if it was')
        .catch((error: unknown) => error);
      if (outcome instanceof AccessError) messages.push(outcome.message);
    }
    expect(messages).toEqual([
      `the broker at ${haproxy.url} did not answer POST /v1/requests (HTTP 503 from the load balancer): the request for prod-db may or may not have been made — \`access requests\` lists it if it was. Check before you try again.`,
    ]);
    expect(seen).toEqual(['POST /v1/requests']);
  });
});
