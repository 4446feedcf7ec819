// The CLI's WebSocket to the broker masks frames only where a cleartext intermediary could read
// them: to a loopback broker (and over TLS) the key is all zero, so ws sends each chunk as is.

import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { openBrokerSocket, unmaskedFramesAllowed } from '../../cli/broker-socket.js';

const LIMITS = { maxPayload: 1024, handshakeTimeout: 5_000 };
const servers: WebSocketServer[] = [];

afterEach(async () => {
  for (const server of servers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

describe('unmaskedFramesAllowed', () => {
  it.each([
    ['wss://broker.contoso.com/v1/tunnel', true],
    ['ws://127.0.0.1:8080/v1/tunnel', true],
    ['ws://localhost:8080/v1/tunnel', true],
    ['ws://[::1]:8080/v1/tunnel', true],
    ['ws://broker.contoso.com/v1/tunnel', false],
    ['ws://10.0.0.5:8080/v1/tunnel', false],
  ])('%s → %s', (url, allowed) => {
    expect(unmaskedFramesAllowed(new URL(url))).toBe(allowed);
  });
});

describe('openBrokerSocket', () => {
  it('sends frames to a loopback broker with an all-zero masking key, the payload as is', async () => {
    const server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    servers.push(server);
    await new Promise((resolve) => server.once('listening', resolve));
    const raw = new Promise<Buffer>((resolve) => {
      server.once('connection', (_ws, req) => req.socket.once('data', (bytes: Buffer) => resolve(bytes)));
    });
    const ws = openBrokerSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, 'token', undefined, LIMITS);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send(Buffer.from('hello'));
    const frame = await raw;
    ws.terminate();
    // FIN + binary, MASK bit + length 5, a zero key, then the payload unchanged.
    expect([...frame.subarray(0, 6)]).toEqual([0x82, 0x85, 0, 0, 0, 0]);
    expect(frame.subarray(6).toString()).toBe('hello');
  });
});
