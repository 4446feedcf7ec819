import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { pipePair } from '../../../../broker/tunnel/http/pipe.js';

describe('pipePair', () => {
  it('carries bytes both ways, in order, with backpressure (a slow reader holds the writer back)', async () => {
    const [a, b] = pipePair();
    const sent = Buffer.alloc(1024 * 1024, 7);
    let written = 0;
    while (a.write(sent.subarray(written, written + 64 * 1024))) written += 64 * 1024;
    // b has not read: a's buffer filled up instead of growing without bound.
    expect(written).toBeLessThan(sent.length);
    const received: Buffer[] = [];
    b.on('data', (chunk: Buffer) => received.push(chunk));
    await once(a, 'drain');
    a.end(sent.subarray(written + 64 * 1024));
    await once(b, 'end');
    expect(Buffer.concat(received).length).toBe(sent.length);
    b.end('back');
    const [back] = (await once(a, 'data')) as [Buffer];
    expect(back.toString()).toBe('back');
  });

  it("destroying the relay's end aborts the server's at once", async () => {
    const [relay, server] = pipePair();
    const closed = once(server, 'close');
    relay.destroy();
    await closed;
    expect(server.destroyed).toBe(true);
  });

  it("destroying the server's end still delivers what it wrote last (a 431 before the drop), then ends the relay's", async () => {
    const [relay, server] = pipePair();
    const received: Buffer[] = [];
    relay.on('data', (chunk: Buffer) => received.push(chunk));
    server.write('HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n');
    server.destroy();
    await once(relay, 'end');
    expect(Buffer.concat(received).toString()).toContain('431');
  });

  it("emits 'timeout' after the idle time with no byte either way, as a socket does", async () => {
    const [relay, server] = pipePair();
    server.resume();
    relay.setTimeout(30);
    relay.write('x');
    await once(relay, 'timeout');
    relay.destroy();
  });
});
