// The broker's CancelRequest at a cut: a new connection to the target carrying only the request,
// done once the server closes it; a target that cannot be reached is an error naming it.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { cancelBackend } from '../../../../broker/tunnel/postgres/cancel.js';
import { AccessError } from '../../../../shared/errors.js';

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A stand-in server that reads what a connection sends and closes it after `bytes` bytes, as PostgreSQL does. */
async function fakeServer(bytes: number): Promise<{ port: number; received: Promise<Buffer> }> {
  let deliver!: (data: Buffer) => void;
  const received = new Promise<Buffer>((resolve) => (deliver = resolve));
  const server = net.createServer((socket) => {
    let data = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      if (data.length < bytes) return;
      deliver(data);
      socket.end();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, received };
}

function policy(port: number): Parameters<typeof cancelBackend>[0] {
  return { name: 'pg', target: { host: '127.0.0.1', port }, targetTls: 'disable', targetCa: null };
}

describe('cancelBackend', () => {
  it('sends exactly one CancelRequest for the backend on a new connection and resolves once the server closes it', async () => {
    const server = await fakeServer(16);
    await cancelBackend(policy(server.port), { pid: 16040, secret: Buffer.from('5a71103d', 'hex') });
    expect((await server.received).toString('hex')).toBe('0000001004d2162e00003ea85a71103d');
  });

  it('rejects with target_unreachable naming the target when nothing listens there', async () => {
    const probe = await fakeServer(1);
    const port = probe.port;
    await new Promise((resolve) => (servers.pop() as net.Server).close(resolve));
    const error = await cancelBackend(policy(port), { pid: 1, secret: Buffer.alloc(4) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessError);
    expect((error as AccessError).code).toBe('target_unreachable');
    expect((error as AccessError).message).toContain(`127.0.0.1:${port}`);
  });
});
