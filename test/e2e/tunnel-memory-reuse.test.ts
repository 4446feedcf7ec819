// End to end with real processes: bulk bytes through `access connect` and the broker reuse the
// memory they read into instead of faulting fresh pages in for every read (shared/heap-retention.ts).
// Before, both processes handed the read buffers a garbage collection freed back to the kernel,
// and every later read faulted its pages in again: tens of page faults per MiB moved, over a third
// of the CLI's CPU on an upload. Counted, not timed: the minor page faults each process takes
// (Linux's /proc/PID/stat) while 512 MiB go each way, after a first exchange that lets the first
// collections run.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { procStatFields } from '../helpers/processes.js';
import { grant, startListener, stopListener, type Listening } from '../helpers/tunnel-broker.js';
import { exchangeBlob } from '../helpers/tunnel-targets.js';
import { BLOB_SEED, startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

const MIB = 1024 * 1024;
const BYTES_EACH_WAY = 512 * MIB;
/**
 * Faults per MiB moved (both ways) a process may take. Reusing its memory, each took under 1 per MiB
 * on a quiet machine and up to about 3 with the whole suite running beside it (what a growing heap
 * faults in regardless); handing it back, the CLI took about 25 per MiB and the broker 11–31.
 * Large transfers, so that what the heap faults in anyway stays small per MiB.
 */
const MAX_FAULTS_PER_MIB = 8;

/** Minor page faults process `pid` has taken so far (field 10 of /proc/PID/stat). */
async function minorFaults(pid: number): Promise<number> {
  return Number((await procStatFields(pid))[7]);
}

let world: TunnelWorld;
let tunnel: Listening;

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['alice'], blobBytes: BYTES_EACH_WAY });
  await grant(world.people.alice, 'blob', '30m');
  tunnel = await startListener(world.people.alice, 'blob');
});

afterAll(async () => {
  if (tunnel) await stopListener(tunnel);
  await world?.stop();
});

describe.runIf(process.platform === 'linux')('bulk bytes through the tunnel', () => {
  it('take almost no page faults in the CLI or the broker once they run: freed read buffers are reused', async () => {
    const exchange = async (): Promise<void> => {
      const result = await exchangeBlob('127.0.0.1', tunnel.port, world.blob, BYTES_EACH_WAY, BLOB_SEED);
      expect(result.client.received.sha256).toBe(result.server.sentSha256);
      expect(result.server.received.sha256).toBe(result.client.sentSha256);
    };
    await exchange();
    const pids = { cli: tunnel.run.child.pid as number, broker: world.broker.child.pid as number };
    const before = { cli: await minorFaults(pids.cli), broker: await minorFaults(pids.broker) };
    await exchange();
    const moved = (2 * BYTES_EACH_WAY) / MIB;
    const faults = { cli: (await minorFaults(pids.cli)) - before.cli, broker: (await minorFaults(pids.broker)) - before.broker };
    expect(faults.cli / moved, `the CLI took ${faults.cli} page faults moving ${moved} MiB`).toBeLessThan(MAX_FAULTS_PER_MIB);
    expect(faults.broker / moved, `the broker took ${faults.broker} page faults moving ${moved} MiB`).toBeLessThan(MAX_FAULTS_PER_MIB);
  }, 120_000);
});
