// The hot path on real sockets: bytes through the broker to a TCP target and back, unchanged, with
// backpressure both ways and the byte counts recorded in the session row.

import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FRAME_BYTES } from '../../../broker/tunnel/endpoint.js';
import { HIGH_WATER_MARK_BYTES } from '../../../broker/tunnel/relay.js';
import { resource } from '../requests/harness.js';
import { echo, plateau, sha256, startTarget, startTunnelBroker, TunnelClient, until, type Target, type TunnelBroker } from './harness.js';

const MB = 1024 * 1024;
/** One client write: what a local socket read typically is. */
const FRAME = 64 * 1024;
/** The most one socket read hands Node at once. */
const SOCKET_READ = 64 * 1024;
/** bufferedAmount counts the WebSocket frame headers too (at most 10 bytes each from the server). */
const FRAME_HEADERS = 1024;
/** Echoed through the tunnel. */
const ECHOED = 8 * MB;
/**
 * Pushed against a side that does not read. The loopback kernel buffers and the broker hold about
 * 4 MB of it when the flow stops (measured on the test machines), so half of this is four times that.
 */
const PUSHED = 32 * MB;

let broker: TunnelBroker;
let echoTarget: Target;
/** Reads nothing until told to (socket.pause() at accept). */
let stalledReader: Target;
/** Writes what the test tells it to. */
let writer: Target;

beforeAll(async () => {
  echoTarget = await startTarget(echo);
  stalledReader = await startTarget((socket) => socket.pause());
  writer = await startTarget(() => undefined);
  // Plain bytes (kind tcp): random bytes are not Postgres, and a postgres tunnel would end at them.
  broker = await startTunnelBroker([
    resource('echo', { kind: 'tcp', target: { host: '127.0.0.1', port: echoTarget.port } }),
    resource('stalled', { kind: 'tcp', target: { host: '127.0.0.1', port: stalledReader.port } }),
    resource('firehose', { kind: 'tcp', target: { host: '127.0.0.1', port: writer.port } }),
  ]);
  await broker.grant('echo');
  await broker.grant('stalled');
  await broker.grant('firehose');
});

afterAll(async () => {
  await broker.close();
  await Promise.all([echoTarget.close(), stalledReader.close(), writer.close()]);
});

function frames(data: Buffer): Buffer[] {
  const list: Buffer[] = [];
  for (let at = 0; at < data.length; at += FRAME) list.push(data.subarray(at, at + FRAME));
  return list;
}

describe('relay', () => {
  it('echoes 8 MB of random bytes through the tunnel unchanged, and records the bytes each way', async () => {
    // Many frames, many times the broker's high-water mark and frame limit.
    const data = randomBytes(ECHOED);
    const client = await TunnelClient.open(broker.wsBase, 'echo');
    for (const frame of frames(data)) client.ws.send(frame);
    const back = await client.receive(data.length);
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
    client.ws.close();
    await client.closed;
    await until(() => broker.runtime.tunnels.connections === 0);
    const [session] = broker.sessions({ resource: 'echo' });
    expect(session).toMatchObject({
      bytesUp: data.length,
      bytesDown: data.length,
      reason: 'clientClosed',
      user: { oid: 'alice' },
      target: `127.0.0.1:${echoTarget.port}`,
    });
    expect(session?.endedAt).not.toBeNull();
  });

  it('ends the target connection when the client closes the WebSocket', async () => {
    const client = await TunnelClient.open(broker.wsBase, 'echo');
    const socket = echoTarget.sockets.at(-1) as net.Socket;
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    client.ws.close(1000, 'done');
    await ended;
    await client.closed;
  });

  it('stops reading the client while the target does not read, and delivers everything once it does', async () => {
    const data = randomBytes(PUSHED);
    const client = await TunnelClient.open(broker.wsBase, 'stalled');
    await until(() => stalledReader.sockets.length === 1);
    const target = stalledReader.sockets[0] as net.Socket;
    for (const frame of frames(data)) client.ws.send(frame);
    // What has left the client: everything it sent minus what ws still holds for the socket.
    const leftClient = await plateau(() => data.length - client.ws.bufferedAmount);
    // The broker (with the kernel's socket buffers on loopback) holds a bounded amount; the rest waits at the client.
    expect(leftClient).toBeLessThan(data.length / 2);
    expect(client.ws.bufferedAmount).toBeGreaterThan(data.length / 2);
    // The broker's own queue towards the target: what was in flight when it paused, no more.
    const [status] = broker.runtime.tunnels.status();
    expect(status?.queuedToTarget).toBeLessThanOrEqual(MAX_FRAME_BYTES + SOCKET_READ);

    const received: Buffer[] = [];
    let receivedBytes = 0;
    target.on('data', (chunk: Buffer) => {
      received.push(chunk);
      receivedBytes += chunk.length;
    });
    target.resume();
    await until(() => receivedBytes === data.length);
    expect(sha256(...received)).toBe(sha256(data));
    client.ws.close();
    await client.closed;
  });

  it('stops reading the target while the client does not read, and delivers everything once it does', async () => {
    const data = randomBytes(PUSHED);
    const client = await TunnelClient.open(broker.wsBase, 'firehose');
    await until(() => writer.sockets.length === 1);
    const target = writer.sockets[0] as net.Socket;
    // The client stops reading its socket: the broker's frames pile up in front of it.
    client.ws.pause();
    for (const frame of frames(data)) target.write(frame);
    // What the broker has taken from the target: written minus what still waits in the target's socket.
    const taken = await plateau(() => data.length - target.writableLength);
    expect(taken).toBeLessThan(data.length / 2);
    expect(target.writableLength).toBeGreaterThan(data.length / 2);
    // The broker's own queue towards the client: the high-water mark plus the read that crossed it.
    const [status] = broker.runtime.tunnels.status();
    expect(status?.queuedToClient).toBeLessThanOrEqual(HIGH_WATER_MARK_BYTES + SOCKET_READ + FRAME_HEADERS);

    client.ws.resume();
    const back = await client.receive(data.length);
    expect(sha256(back)).toBe(sha256(data));
    client.ws.close();
    await client.closed;
  });
});
