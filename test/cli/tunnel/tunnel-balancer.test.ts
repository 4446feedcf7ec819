// Tunnels through a load balancer when the broker holding one dies: fake brokers (real loopback
// sockets) behind a real round-robin TCP forwarder that keeps sending connections to the dead one.
// The local connection is closed with words that say so, the listener keeps serving, and the next
// connection's tunnel is opened through a live broker even when its first attempt meets the dead one.

import http, { type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TunnelListener } from '../../../cli/tunnel/listener.js';
import { openTunnel, tunnelUrl } from '../../../cli/tunnel/tunnel-client.js';
import { AccessError } from '../../../shared/errors.js';
import { type RoundRobin, startRoundRobin } from '../../helpers/round-robin.js';
import { echoThrough, GOOD_TOKEN, startFakeBroker, type FakeBroker } from './fake-broker.js';

const closers: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function broker(options: Parameters<typeof startFakeBroker>[0] = {}): Promise<FakeBroker & { port: number }> {
  const started = await startFakeBroker(options);
  let stopped = false;
  closers.push(async () => {
    if (!stopped) await started.stop();
  });
  const stop = async (): Promise<void> => {
    stopped = true;
    await started.stop();
  };
  return { ...started, stop, port: Number(new URL(started.url).port) };
}

async function balance(ports: number[]): Promise<RoundRobin> {
  const lb = await startRoundRobin(ports);
  closers.push(() => lb.close());
  return lb;
}

/** An edge that answers every upgrade with its own 503 page, as a balancer with no usable backend does. */
async function unavailableEdge(): Promise<number> {
  const server: Server = http.createServer();
  server.on('upgrade', (_req, socket) => {
    const page = '<h1>503 Service Unavailable</h1>No server is available to handle this request.';
    socket.end(`HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/html\r\ncontent-length: ${page.length}\r\nconnection: close\r\n\r\n${page}`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  closers.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

const open = (lb: RoundRobin): Promise<import('ws').WebSocket> => openTunnel({ url: tunnelUrl(lb.url, 'demo-db'), token: async () => GOOD_TOKEN });

function closedBy(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
    socket.resume();
  });
}

describe('opening a tunnel through a balancer with a dead broker', () => {
  it('opens through the live broker when the first attempt meets the dead one', async () => {
    const dead = await broker();
    await dead.stop();
    const live = await broker();
    const lb = await balance([dead.port, live.port]);
    const ws = await open(lb);
    ws.terminate();
    expect(lb.routed).toEqual([dead.port, live.port]);
    expect(live.attempts).toHaveLength(1);
  });

  it("opens through the live broker after the balancer's 503", async () => {
    const edge = await unavailableEdge();
    const live = await broker();
    const lb = await balance([edge, live.port]);
    const ws = await open(lb);
    ws.terminate();
    expect(lb.routed).toEqual([edge, live.port]);
  });

  it("never repeats the broker's own refusal", async () => {
    const refusing = await broker({ refuse: () => ({ status: 403, code: 'no_live_grant', message: 'you have no live grant for demo-db' }) });
    const live = await broker();
    const lb = await balance([refusing.port, live.port]);
    const error = await open(lb).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessError);
    expect((error as AccessError).code).toBe('no_live_grant');
    expect(live.attempts).toHaveLength(0);
  });

  it('gives up after three attempts, naming the broker', async () => {
    const dead = await broker();
    await dead.stop();
    const lb = await balance([dead.port]);
    const error = (await open(lb).catch((e: unknown) => e)) as AccessError;
    expect(error.code).toBe('broker_unreachable');
    expect(error.message).toContain(`cannot open a tunnel through the broker at ${tunnelUrl(lb.url, 'demo-db')} (ECONNRESET)`);
    expect(lb.routed).toHaveLength(3);
  });
});

describe('a tunnel whose broker dies', () => {
  it('is closed with words that say so, and the listener opens the next connection through another broker', async () => {
    const first = await broker();
    const second = await broker();
    // The balancer has not noticed: the next connection after the death goes to the dead broker first.
    const lb = await balance([first.port, first.port, second.port]);
    const log: string[] = [];
    const listener = await TunnelListener.listen({
      bind: '127.0.0.1',
      port: 0,
      open: () => open(lb),
      subject: { name: 'demo-db', kind: 'postgres', expiresAt: null },
      log: (line) => log.push(line),
      logEveryConnection: false,
      now: Date.now,
    });
    closers.push(() => listener.shutdown());
    const held = net.connect(listener.address.port, '127.0.0.1');
    await expect.poll(() => first.tunnels.length).toBe(1);
    await first.stop();
    await closedBy(held);
    await expect.poll(() => log.length).toBe(1);
    expect(log[0]).toMatch(
      /#1 closed: the broker holding the tunnel went away \(the connection to it was lost\), so the connection was closed; still listening: the next connection opens a new tunnel/,
    );
    expect((await echoThrough(listener.address.port, Buffer.from('through another broker'))).toString()).toBe('through another broker');
    expect(lb.routed).toEqual([first.port, first.port, second.port]);
    expect(second.tunnels).toHaveLength(1);
  });
});
