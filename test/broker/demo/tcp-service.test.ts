import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { GREETING, MAX_LINE_BYTES, startDemoTcpService } from '../../../broker/demo/tcp-service.js';

/** A line-oriented client: `next()` resolves with the next line the service sends. */
async function connect(port: number): Promise<{ socket: net.Socket; next(): Promise<string>; ended: Promise<string> }> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.setEncoding('utf8');
  const lines: string[] = [];
  const waiting: Array<(line: string) => void> = [];
  let buffered = '';
  let all = '';
  socket.on('data', (chunk: string) => {
    all += chunk;
    buffered += chunk;
    const parts = buffered.split('\n');
    buffered = parts.pop() ?? '';
    for (const line of parts) {
      const waiter = waiting.shift();
      if (waiter) waiter(line);
      else lines.push(line);
    }
  });
  const ended = new Promise<string>((resolve) => socket.once('end', () => resolve(all)));
  return {
    socket,
    ended,
    next: () =>
      new Promise((resolve) => {
        const line = lines.shift();
        if (line !== undefined) resolve(line);
        else waiting.push(resolve);
      }),
  };
}

describe('demo TCP service', () => {
  it('greets a connection and answers each line on loopback', async () => {
    const service = await startDemoTcpService();
    try {
      expect(service.host).toBe('127.0.0.1');
      const client = await connect(service.port);
      expect(await client.next()).toBe(GREETING);
      client.socket.write('hello through the tunnel\n');
      expect(await client.next()).toBe('echo: hello through the tunnel');
      client.socket.write('two\r\nlines\n');
      expect(await client.next()).toBe('echo: two');
      expect(await client.next()).toBe('echo: lines');
      client.socket.write('status\n');
      expect(await client.next()).toMatch(/^ok \d{4}-\d\d-\d\dT/);
      client.socket.write('quit\n');
      expect(await client.ended).toMatch(/bye\n$/);
    } finally {
      await service.stop();
    }
  });

  it('closes a connection that sends an endless line instead of buffering it', async () => {
    const service = await startDemoTcpService();
    try {
      const client = await connect(service.port);
      await client.next();
      client.socket.write('x'.repeat(MAX_LINE_BYTES + 1));
      expect(await client.ended).toMatch(/longer than 4096 bytes, closing\n$/);
    } finally {
      await service.stop();
    }
  });

  it('listens on the port it is given, and stop() closes open connections and the port', async () => {
    const probe = net.createServer();
    const port = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as net.AddressInfo).port)));
    await new Promise<void>((resolve) => probe.close(() => resolve()));

    const service = await startDemoTcpService({ port });
    expect(service.port).toBe(port);
    const client = await connect(port);
    const closed = new Promise<void>((resolve) => client.socket.once('close', () => resolve()));
    await service.stop();
    await closed;
    await expect(connect(port)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await service.stop(); // a second stop is harmless
  });
});
