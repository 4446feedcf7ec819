// End to end with real processes over TLS: `access-broker dev` serving HTTPS/WSS from a certificate
// of a throwaway CA (test/helpers/tls-broker.ts), alice's CLI trusting it through `access login
// --ca`, and the tunnel running over wss: psql through `access connect pg -- psql`, and 32 MiB each
// way through a plain TCP resource with SHA-256 equal at both ends.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grant, startListener, stopListener, type Person } from '../helpers/tunnel-broker.js';
import { exchangeBlob } from '../helpers/tunnel-targets.js';
import { startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

const BYTES_EACH_WAY = 32 * 1024 * 1024;

let world: TunnelWorld;
let alice: Person;

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['alice'], tls: true, blobBytes: BYTES_EACH_WAY });
  alice = world.people.alice;
});

afterAll(async () => {
  await world?.stop();
});

describe('the tunnel over wss', () => {
  it('runs psql through `access connect pg -- psql` against an https broker whose CA the CLI was given at login', async () => {
    expect(world.broker.url).toMatch(/^https:/);
    await grant(alice, 'pg', '30m');
    const result = await alice.run(['connect', 'pg', '--', 'psql', '-X', '-At', '-c', "select 'over wss', count(*) from generate_series(1, 100000)"]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.trim()).toBe('over wss|100000');
  });

  it('carries 32 MiB each way at once over wss, unchanged', async () => {
    await grant(alice, 'blob', '30m');
    const listening = await startListener(alice, 'blob');
    const { client, server } = await exchangeBlob(listening.host, listening.port, world.blob, BYTES_EACH_WAY, 'access tunnel e2e over wss');
    expect(server.received).toEqual({ sha256: client.sentSha256, bytes: BYTES_EACH_WAY });
    expect(client.received).toEqual({ sha256: server.sentSha256, bytes: BYTES_EACH_WAY });

    expect((await stopListener(listening)).code).toBe(0);
  });
});
