// End to end with real processes: 256 MiB each way, at the same time, through one `access connect`
// listener, the dev broker and a plain TCP resource (test/fixtures/tunnel.yaml's blob), with a
// SHA-256 at both ends of each direction. The bytes are a keystream, never repeating, so a chunk
// lost, doubled or reordered anywhere in the two relays changes the hash.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accessToken, grant, startListener, stopListener } from '../helpers/tunnel-broker.js';
import { exchangeBlob } from '../helpers/tunnel-targets.js';
import { startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

/** Each way. Large enough that every backpressure path (both relays, both directions) engages many times. */
const BYTES_EACH_WAY = 256 * 1024 * 1024;
const CLIENT_SEED = 'access tunnel e2e: client to broker';

let world: TunnelWorld;

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['alice', 'dave'], blobBytes: BYTES_EACH_WAY });
});

afterAll(async () => {
  await world?.stop();
});

describe('integrity through the tunnel', () => {
  it('carries 256 MiB each way at once, unchanged: SHA-256 equal at both ends, and the broker counts every byte', async () => {
    const alice = world.people.alice;
    await grant(alice, 'blob', '30m');
    const listening = await startListener(alice, 'blob');
    const { client, server } = await exchangeBlob(listening.host, listening.port, world.blob, BYTES_EACH_WAY, CLIENT_SEED);
    expect(server.received).toEqual({ sha256: client.sentSha256, bytes: BYTES_EACH_WAY });
    expect(client.received).toEqual({ sha256: server.sentSha256, bytes: BYTES_EACH_WAY });

    const session = await world.api.closedSession(await accessToken(world.people.dave), 'blob');
    expect(session).toMatchObject({ bytesUp: BYTES_EACH_WAY, bytesDown: BYTES_EACH_WAY, endReason: 'clientClosed' });

    expect((await stopListener(listening)).code).toBe(0);
    expect(listening.run.stderr()).toMatch(/#1 closed: the client closed the connection — 268 MB up, 268 MB down/);
  });
});
