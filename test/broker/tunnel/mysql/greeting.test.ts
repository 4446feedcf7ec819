// The greeting step after the dial: the client gets the server's greeting without TLS (and the
// other declined capabilities), byte for byte otherwise, and a server that refuses or is not MySQL
// is a clear error before any tunnel exists.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessError } from '../../../../shared/errors.js';
import { Capability, DECLINED_CAPABILITIES } from '../../../../broker/tunnel/mysql/codes.js';
import { declineTlsInGreeting } from '../../../../broker/tunnel/mysql/greeting.js';
import { decodeGreeting } from '../../../../broker/tunnel/mysql/messages.js';
import { packet } from '../../../../broker/tunnel/mysql/packets.js';
import { startTarget, type Target } from '../harness.js';
import { greeting, SERVER_CAPABILITIES } from './wire.js';

let target: Target | null = null;
afterEach(async () => {
  await target?.close();
  target = null;
});

async function through(onConnection: (socket: net.Socket) => void): Promise<net.Socket> {
  target = await startTarget(onConnection);
  const socket = net.connect({ host: '127.0.0.1', port: target.port });
  await new Promise((resolve) => socket.once('connect', resolve));
  const policy = { name: 'prod-mysql', target: { host: '127.0.0.1', port: target.port } };
  return declineTlsInGreeting(socket, policy, { timeoutMs: 10_000, signal: new AbortController().signal });
}

/** The first `bytes` the relay would read from the prepared socket. */
function read(socket: net.Socket, bytes: number): Promise<Buffer> {
  return new Promise((resolve) => {
    const held: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => {
      held.push(chunk);
      const all = Buffer.concat(held);
      if (all.length >= bytes) resolve(all);
    });
  });
}

describe('declineTlsInGreeting', () => {
  it('passes the greeting on with TLS, compression and query attributes cleared, and the bytes after it', async () => {
    const sent = greeting(77, SERVER_CAPABILITIES | Capability.compress | Capability.queryAttributes);
    // Split in two writes: the step waits for the whole packet.
    const socket = await through((server) => {
      server.write(sent.subarray(0, 10));
      setTimeout(() => server.write(Buffer.concat([sent.subarray(10), Buffer.from('after')])), 20);
    });
    const seen = await read(socket, sent.length + 5);
    socket.destroy();
    const passed = decodeGreeting(seen.subarray(4, sent.length));
    const original = decodeGreeting(sent.subarray(4));
    expect(original.capabilities & Capability.ssl).toBe(Capability.ssl);
    expect(passed.capabilities).toBe((original.capabilities & ~DECLINED_CAPABILITIES) >>> 0);
    expect(passed).toMatchObject({ connectionId: 77, serverVersion: original.serverVersion, authPlugin: 'mysql_native_password', scramble: original.scramble });
    expect(seen.subarray(sent.length).toString()).toBe('after');
  });

  it("refuses with the server's own words when it refuses the connection in its greeting", async () => {
    const refusal = packet(0, Buffer.concat([Buffer.from([0xff, 0x10, 0x04]), Buffer.from('#08004Too many connections')]));
    const error = await through((server) => server.end(refusal)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessError);
    expect((error as AccessError).message).toMatch(/refused the connection: Too many connections \(MySQL error 1040\)/);
  });

  it('refuses a target that is not a MySQL server', async () => {
    const error = await through((server) => server.end('SSH-2.0-OpenSSH_9.2\r\n')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessError);
    expect((error as AccessError).message).toMatch(/cannot open a MySQL session there/);
  });
});
