import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { WebSocket } from 'ws';
import { socketEnd, startRelay, WS_HIGH_WATER_BYTES, type Relay } from '../../../cli/tunnel/relay.js';
import { randomData, sha256, startFakeBroker, type FakeBroker } from './fake-broker.js';

/**
 * Pushed against a side that does not read. Two loopback hops hold about 11 MB of it when the flow
 * stops (measured on the test machines), so half of this is over four times that.
 */
const PUSHED = 96 * 1024 * 1024;

/** A connected pair of local sockets: `inner` is what the CLI accepted, `outer` the local client. */
async function socketPair(): Promise<{ inner: net.Socket; outer: net.Socket; close: () => void }> {
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
  const outer = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  const inner = await accepted;
  server.close();
  const close = (): void => {
    inner.destroy();
    outer.destroy();
  };
  return { inner, outer, close };
}

/** Resolves once `read()` has returned the same value on three polls in a row (the flow has stopped). */
async function plateau(read: () => number): Promise<number> {
  let last = -1;
  let same = 0;
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
    if (same >= 3) return now;
  }
}

let broker: FakeBroker | null = null;
const cleanups: (() => void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) cleanup();
  await broker?.stop();
  broker = null;
});

async function relayed(options: Parameters<typeof startFakeBroker>[0] = {}): Promise<{ relay: Relay; ws: WebSocket; inner: net.Socket; outer: net.Socket }> {
  broker = await startFakeBroker(options);
  const pair = await socketPair();
  cleanups.push(pair.close);
  const ws = await broker.open('demo-db');
  return { relay: startRelay(ws, socketEnd(pair.inner)), ws, inner: pair.inner, outer: pair.outer };
}

describe('relay', () => {
  it('echoes random bytes unchanged both ways and counts them', async () => {
    const { relay, outer } = await relayed();
    const data = randomData(3 * 1024 * 1024 + 17);
    const back: Buffer[] = [];
    let got = 0;
    await new Promise<void>((resolve) => {
      outer.on('data', (chunk: Buffer) => {
        back.push(chunk);
        got += chunk.length;
        if (got === data.length) resolve();
      });
      outer.write(data);
    });
    expect(sha256(back)).toBe(sha256(data));
    outer.end();
    const result = await relay.done;
    expect(result).toMatchObject({ endedBy: 'local', bytesUp: data.length, bytesDown: data.length });
  });

  it('delivers bytes the target sends before the client speaks (an SSH banner)', async () => {
    const banner = Buffer.from('SSH-2.0-OpenSSH_9.6\r\n');
    const { outer } = await relayed({ greeting: banner });
    const first = await new Promise<Buffer>((resolve) => outer.once('data', resolve));
    expect(first.toString()).toBe(banner.toString());
  });

  it('closes the tunnel with 1000 when the local client ends', async () => {
    const { relay, outer } = await relayed();
    const closed = new Promise<number>((resolve) => broker?.tunnels[0]?.ws.once('close', resolve));
    outer.end();
    expect(await closed).toBe(1000);
    expect((await relay.done).endedBy).toBe('local');
  });

  it('ends the local connection with the close code and reason when the broker closes', async () => {
    const { relay, outer } = await relayed();
    const ended = new Promise<void>((resolve) => outer.once('end', resolve));
    outer.resume();
    broker?.closeAll(4111, 'revoked by bob@contoso.dev: done');
    await ended;
    expect(await relay.done).toMatchObject({ code: 4111, reason: 'revoked by bob@contoso.dev: done', endedBy: 'broker' });
  });

  it('does not buffer without bound for a local client that stops reading', async () => {
    // The broker pushes as fast as its own socket drains; only backpressure through the CLI stops it.
    const total = PUSHED;
    const chunk = randomData(64 * 1024);
    let sent = 0;
    const { inner, outer, relay } = await relayed({
      onTunnel: (ws) => {
        const pump = (): void => {
          while (sent < total && ws.readyState === ws.OPEN) {
            sent += chunk.length;
            if (ws.bufferedAmount > 1024 * 1024) {
              ws.send(chunk, pump);
              return;
            }
            ws.send(chunk);
          }
        };
        pump();
      },
    });
    outer.pause();
    const stuck = await plateau(() => sent);
    // Kernel buffers on two loopback hops hold some tens of MB; the CLI itself holds next to nothing.
    expect(stuck).toBeLessThan(total / 2);
    expect(inner.writableLength).toBeLessThan(1024 * 1024);
    // Once the client reads again, everything arrives.
    let got = 0;
    await new Promise<void>((resolve) => {
      outer.on('data', (c: Buffer) => {
        got += c.length;
        if (got === total) resolve();
      });
      outer.resume();
    });
    expect(got).toBe(total);
    outer.end();
    await relay.done;
  });

  it('stops reading the local client while the broker does not take the bytes', async () => {
    const { ws, outer } = await relayed({ onTunnel: (serverSide) => serverSide.pause() });
    const total = PUSHED;
    const chunk = randomData(64 * 1024);
    let written = 0;
    const write = (): void => {
      while (written < total) {
        written += chunk.length;
        if (!outer.write(chunk)) {
          outer.once('drain', write);
          return;
        }
      }
    };
    write();
    // What the client got rid of (handed to the kernel) stops growing…
    const accepted = await plateau(() => written - outer.writableLength);
    expect(accepted).toBeLessThan(total / 2);
    // …and the CLI holds at most its high-water mark (plus the one read that crossed it).
    expect(ws.bufferedAmount).toBeLessThan(WS_HIGH_WATER_BYTES + 1024 * 1024);
  });
});
