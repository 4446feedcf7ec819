// One person cannot take every tunnel slot of a resource: beside the resource's maxConnections
// (all users together), each person holds at most limits.maxTunnelsPerUserPerResource tunnels to
// it; above that the upgrade is refused with 429, and other people still get in.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resource } from '../requests/harness.js';
import { echo, refusedTunnel, startTarget, startTunnelBroker, TunnelClient, type Target, type TunnelBroker } from './harness.js';

let broker: TunnelBroker;
let target: Target;

beforeAll(async () => {
  target = await startTarget(echo);
  broker = await startTunnelBroker([resource('prod-db', { target: { host: '127.0.0.1', port: target.port }, maxConnections: 4 })], {
    limits: { maxTunnelsPerUserPerResource: 2 },
  });
});

afterAll(async () => {
  await broker.close();
  await target.close();
});

describe('tunnels per person and resource', () => {
  it('refuses a person above their share with 429 too_many_connections naming it, while another person still gets a slot', async () => {
    await broker.grant('prod-db', { requester: 'alice' });
    await broker.grant('prod-db', { requester: 'oscar' });
    const mine = [await TunnelClient.open(broker.wsBase, 'prod-db'), await TunnelClient.open(broker.wsBase, 'prod-db')];
    const refused = await refusedTunnel(broker.wsBase, 'prod-db', 'good-alice');
    expect(refused).toMatchObject({
      status: 429,
      body: { code: 'too_many_connections', message: expect.stringContaining('the most one person may hold (2)') },
      opened: false,
    });
    const theirs = await TunnelClient.open(broker.wsBase, 'prod-db', 'good-oscar');
    // Closing one of mine gives me a slot again.
    mine[0]?.ws.close();
    await mine[0]?.closed;
    const again = await TunnelClient.open(broker.wsBase, 'prod-db');
    for (const client of [mine[1], theirs, again]) {
      client?.ws.close();
      await client?.closed;
    }
  });
});
