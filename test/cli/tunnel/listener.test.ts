import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { TunnelListener } from '../../../cli/tunnel/listener.js';
import { echoThrough, randomData, sha256, startFakeBroker, type FakeBroker, type FakeBrokerOptions } from './fake-broker.js';

let broker: FakeBroker | null = null;
let listener: TunnelListener | null = null;
afterEach(async () => {
  await listener?.shutdown();
  listener = null;
  await broker?.stop();
  broker = null;
});

const subject = { name: 'demo-db', kind: 'postgres', expiresAt: '2025-03-04T13:00:00.000Z' };

async function setup(options: FakeBrokerOptions = {}): Promise<{ listener: TunnelListener; log: string[] }> {
  const b = await startFakeBroker(options);
  broker = b;
  const log: string[] = [];
  listener = await TunnelListener.listen({
    bind: '127.0.0.1',
    port: 0,
    open: () => b.open('demo-db'),
    subject,
    log: (line) => log.push(line),
    logEveryConnection: true,
    now: Date.now,
  });
  return { listener, log };
}

/** Resolves when the local connection is closed by the other side. */
function closedBy(socket: net.Socket): Promise<void> {
  return new Promise((resolve) => {
    socket.on('error', () => undefined);
    socket.once('close', () => resolve());
    socket.resume();
  });
}

describe('TunnelListener', () => {
  it('echoes several MB of random bytes unchanged through one connection', async () => {
    const { listener } = await setup();
    const data = randomData(4 * 1024 * 1024);
    const back = await echoThrough(listener.address.port, data);
    expect(back.length).toBe(data.length);
    expect(sha256(back)).toBe(sha256(data));
  });

  it('gives each connection its own tunnel, independent of the others', async () => {
    const { listener, log } = await setup();
    const payloads = [randomData(700_000), randomData(300_000), randomData(1_100_000)];
    const backs = await Promise.all(payloads.map((p) => echoThrough(listener.address.port, p)));
    for (const [i, back] of backs.entries()) expect(sha256(back)).toBe(sha256(payloads[i] ?? Buffer.alloc(0)));
    expect(broker?.tunnels).toHaveLength(3);
    await expect.poll(() => log.filter((l) => / closed: /.test(l)).length).toBe(3);
    expect(log.filter((l) => / open$/.test(l))).toHaveLength(3);
  });

  it('keeps the other tunnels when the target closes one of them', async () => {
    const { listener } = await setup();
    const first = net.connect(listener.address.port, '127.0.0.1');
    await expect.poll(() => broker?.tunnels.length).toBe(1);
    const second = net.connect(listener.address.port, '127.0.0.1');
    await expect.poll(() => broker?.tunnels.length).toBe(2);
    broker?.tunnels[0]?.ws.close(4100, 'target closed');
    await closedBy(first);
    const back = await echoThrough(listener.address.port, Buffer.from('still here'));
    expect(back.toString()).toBe('still here');
    expect(second.destroyed).toBe(false);
    second.destroy();
  });

  it('logs one line per connection opened and closed, saying why it closed', async () => {
    const { listener, log } = await setup();
    const socket = net.connect(listener.address.port, '127.0.0.1');
    await expect.poll(() => broker?.tunnels.length).toBe(1);
    broker?.closeAll(4100, 'target closed');
    await closedBy(socket);
    await expect.poll(() => log.length).toBe(2);
    expect(log[0]).toMatch(/^\d\d:\d\d:\d\d #1 127\.0\.0\.1:\d+ open$/);
    expect(log[1]).toMatch(/^\d\d:\d\d:\d\d #1 closed: the database closed the connection — 0 B up, 0 B down in /);
  });

  it('refuses one connection and keeps listening when the target is unreachable', async () => {
    let refuse = true;
    const { listener, log } = await setup({
      refuse: () => (refuse ? { status: 502, code: 'target_unreachable', message: 'cannot reach demo-db at 127.0.0.1:5999 (ECONNREFUSED)' } : null),
    });
    await closedBy(net.connect(listener.address.port, '127.0.0.1'));
    expect(log.at(-1)).toMatch(/#1 127\.0\.0\.1:\d+ refused: cannot reach demo-db at 127\.0\.0\.1:5999 \(ECONNREFUSED\)$/);
    refuse = false;
    expect((await echoThrough(listener.address.port, Buffer.from('ok'))).toString()).toBe('ok');
  });

  it('ends when a tunnel is refused because the grant is gone', async () => {
    const { listener } = await setup({ refuse: () => ({ status: 403, code: 'no_live_grant', message: 'you have no live grant for demo-db' }) });
    await closedBy(net.connect(listener.address.port, '127.0.0.1'));
    const end = await listener.ended;
    expect(end.kind).toBe('refused');
    expect(end.kind === 'refused' && end.error.code).toBe('no_live_grant');
  });

  it('ends with the close when the broker ends the grant, and stops accepting', async () => {
    const { listener } = await setup();
    const socket = net.connect(listener.address.port, '127.0.0.1');
    await expect.poll(() => broker?.tunnels.length).toBe(1);
    broker?.closeAll(4111, 'revoked by bob@contoso.dev: done');
    expect(await listener.ended).toEqual({ kind: 'grant', close: expect.objectContaining({ code: 4111, reason: 'revoked by bob@contoso.dev: done' }) });
    await closedBy(socket);
    const refused = await new Promise<string>((resolve) =>
      net.connect(listener.address.port, '127.0.0.1').once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')),
    );
    expect(refused).toBe('ECONNREFUSED');
  });

  it('at the grant end on its clock stops accepting and ends once the open tunnels are cut', async () => {
    const { listener } = await setup();
    const socket = net.connect(listener.address.port, '127.0.0.1');
    await expect.poll(() => broker?.tunnels.length).toBe(1);
    listener.expire();
    const refused = await new Promise<string>((resolve) =>
      net.connect(listener.address.port, '127.0.0.1').once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')),
    );
    expect(refused).toBe('ECONNREFUSED');
    let ended = false;
    void listener.ended.then(() => (ended = true));
    expect(ended).toBe(false);
    broker?.closeAll(4110, 'access expired at 2025-03-04T13:00:00.000Z');
    expect(await listener.ended).toMatchObject({ kind: 'grant', close: { code: 4110 } });
    await closedBy(socket);
  });

  it.each([
    ['localhost', /^(127\.0\.0\.1|::1)$/],
    ['0.0.0.0', /^127\.0\.0\.1$/],
  ])('bound to %s, tells clients to dial a loopback address', async (bind, host) => {
    const bound = await TunnelListener.listen({
      bind,
      port: 0,
      open: () => Promise.reject(new Error('unused')),
      subject,
      log: () => undefined,
      logEveryConnection: true,
      now: Date.now,
    });
    try {
      expect(bound.address.host).toMatch(host);
    } finally {
      await bound.shutdown();
    }
  });

  it('refuses to listen on a port in use, naming it and what to do', async () => {
    const { listener: first } = await setup();
    const b = broker;
    await expect(
      TunnelListener.listen({
        bind: '127.0.0.1',
        port: first.address.port,
        open: () => (b as FakeBroker).open('x'),
        subject,
        log: () => undefined,
        logEveryConnection: true,
        now: Date.now,
      }),
    ).rejects.toMatchObject({ code: 'listen_failed', message: expect.stringContaining(`127.0.0.1:${first.address.port} (EADDRINUSE) — pick another --port`) });
  });
});
