import net from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { clockTime } from '../../../cli/request-format.js';
import { echoThrough, randomData, sha256 } from '../tunnel/fake-broker.js';
import { grant, setup, type Setup } from './connect-setup.js';
import { approvedView, makeView, NOW, type Harness } from './fakes.js';

/** Waits for the listener line and returns the port it names. */
async function listeningPort(h: Harness): Promise<number> {
  let port = 0;
  await vi.waitFor(
    () => {
      const match = / on 127\.0\.0\.1:(\d+) — /.exec(h.stdout() + h.stderr());
      expect(match).not.toBeNull();
      port = Number(match?.[1]);
    },
    { timeout: 5000 },
  );
  return port;
}

/** Opens a local connection and waits until the broker has its tunnel. */
async function connectedClient(port: number, s: Setup): Promise<net.Socket> {
  const before = s.broker.tunnels.length;
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.resume();
  await vi.waitFor(() => expect(s.broker.tunnels.length).toBe(before + 1));
  return socket;
}

describe('access connect (listener)', () => {
  it('prints where to connect and how, and echoes random bytes unchanged', async () => {
    const s = await setup();
    const exit = s.h.run('connect', 'demo-db');
    const port = await listeningPort(s.h);
    const lines = s.h.stdout().split('\n');
    expect(lines[0]).toMatch(
      new RegExp(`^Tunnel to demo-db \\(postgres\\) on 127\\.0\\.0\\.1:${port} — access until (?:tomorrow )?\\d\\d:\\d\\d \\(59m\\)\\. Ctrl-C to close\\.$`),
    );
    expect(lines[1]).toBe(`Connect with: psql -h 127.0.0.1 -p ${port} -U demo demo`);
    const data = randomData(4 * 1024 * 1024);
    expect(sha256(await echoThrough(port, data))).toBe(sha256(data));
    s.h.interrupt();
    expect(await exit).toBe(0);
    expect(s.broker.attempts.map((a) => a.resource)).toEqual(['demo-db']);
  });

  it('logs each connection to stderr in one line when it opens and closes', async () => {
    const s = await setup();
    const exit = s.h.run('connect', 'demo-db');
    const port = await listeningPort(s.h);
    await echoThrough(port, Buffer.from('hello'));
    await vi.waitFor(() => expect(s.h.stderr()).toMatch(/#1 closed: /));
    expect(s.h.stderr()).toMatch(
      /^\d\d:\d\d:\d\d #1 127\.0\.0\.1:\d+ open\n\d\d:\d\d:\d\d #1 closed: the client closed the connection — 5 B up, 5 B down in \S+\n$/,
    );
    s.h.interrupt();
    expect(await exit).toBe(0);
  });

  it('prints "revoked by …: reason" and exits 3 when the broker closes with 4111', async () => {
    const s = await setup();
    const exit = s.h.run('connect', 'demo-db');
    const socket = await connectedClient(await listeningPort(s.h), s);
    s.broker.closeAll(4111, 'revoked by bob@contoso.dev: INC-4211 is done');
    expect(await exit).toBe(3);
    expect(s.h.stdout()).toContain('Tunnel to demo-db closed: revoked by bob@contoso.dev: INC-4211 is done\n');
    socket.destroy();
  });

  it('prints "access expired at HH:MM" and exits 0 when the broker closes with 4110', async () => {
    const s = await setup();
    const exit = s.h.run('connect', 'demo-db');
    const socket = await connectedClient(await listeningPort(s.h), s);
    const at = grant.expiresAt ?? '';
    s.broker.closeAll(4110, `access expired at ${at}`);
    expect(await exit).toBe(0);
    expect(s.h.stdout()).toContain(`Tunnel to demo-db closed: access expired at ${clockTime(Date.parse(at), NOW)}\n`);
    socket.destroy();
  });

  it('exits 3 when the broker closes with 4112 (membership lost)', async () => {
    const s = await setup();
    const exit = s.h.run('connect', 'demo-db');
    const socket = await connectedClient(await listeningPort(s.h), s);
    s.broker.closeAll(4112, 'membership lost');
    expect(await exit).toBe(3);
    expect(s.h.stdout()).toContain('Tunnel to demo-db closed: you are no longer in a group allowed to use demo-db\n');
    socket.destroy();
  });

  it('stops listening at the grant end and exits 0 with the expiry time', async () => {
    const ending = approvedView({ resource: 'demo-db', expiresAt: new Date(NOW + 300).toISOString() });
    const s = await setup({ grants: [ending] });
    const exit = s.h.run('connect', 'demo-db');
    const port = await listeningPort(s.h);
    expect(await exit).toBe(0);
    expect(s.h.stdout()).toContain(`Tunnel to demo-db closed: access expired at ${clockTime(NOW + 300, NOW)}\n`);
    const refused = await new Promise<string>((resolve) => net.connect(port, '127.0.0.1').once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')));
    expect(refused).toBe('ECONNREFUSED');
  });

  it("ends with the broker's message and exit 3 when a connection finds the grant gone", async () => {
    const message = 'you have no live grant for demo-db — run `access request demo-db --for 1h --reason …`';
    const s = await setup({ broker: { refuse: () => ({ status: 403, code: 'no_live_grant', message }) } });
    const exit = s.h.run('connect', 'demo-db');
    const socket = net.connect(await listeningPort(s.h), '127.0.0.1');
    socket.on('error', () => undefined);
    expect(await exit).toBe(3);
    expect(s.h.stderr()).toContain(`refused: ${message}`);
    expect(s.h.stdout()).toContain(`Tunnel to demo-db closed: ${message}`);
  });

  it('keeps listening when one connection finds the target unreachable', async () => {
    let down = true;
    const message = 'cannot reach demo-db at 127.0.0.1:5999 (ECONNREFUSED)';
    const s = await setup({ broker: { refuse: () => (down ? { status: 502, code: 'target_unreachable', message } : null) } });
    const exit = s.h.run('connect', 'demo-db');
    const port = await listeningPort(s.h);
    const first = net.connect(port, '127.0.0.1');
    first.on('error', () => undefined);
    await vi.waitFor(() => expect(s.h.stderr()).toMatch(/#1 127\.0\.0\.1:\d+ refused: cannot reach demo-db at 127\.0\.0\.1:5999 \(ECONNREFUSED\)\n/));
    down = false;
    expect((await echoThrough(port, Buffer.from('back up'))).toString()).toBe('back up');
    s.h.interrupt();
    expect(await exit).toBe(0);
  });
});

describe('access connect without a live grant', () => {
  it('prints the request command to run and exits 3 without opening a tunnel', async () => {
    const expired = approvedView({ resource: 'demo-db', expiresAt: new Date(NOW - 1).toISOString() });
    const other = approvedView({ resource: 'other-db' });
    const s = await setup({ grants: [expired, other] });
    expect(await s.h.run('connect', 'demo-db')).toBe(3);
    expect(s.h.stderr()).toContain('You have no live grant for demo-db.');
    expect(s.h.stderr()).toContain('  access request demo-db --for 1h --reason "…"\n');
    expect(s.broker.attempts).toEqual([]);
  });

  it('with --request asks for access, waits for the approval, then connects', async () => {
    let s!: Setup;
    const pending = makeView({ resource: 'demo-db' });
    s = await setup({
      grants: [],
      routes: {
        'POST /v1/requests': () => {
          s.events.push({ type: 'request', change: 'approved', request: grant });
          return pending;
        },
      },
    });
    const exit = s.h.run('connect', 'demo-db', '--request', '--for', '1h', '--reason', 'INC-4211');
    const port = await listeningPort(s.h);
    expect(s.client.calls.find((c) => c.method === 'POST')?.body).toEqual({ resource: 'demo-db', duration: '1h', reason: 'INC-4211' });
    expect(s.log.indexOf('events')).toBeLessThan(s.log.indexOf('POST /v1/requests'));
    expect(s.h.stdout()).toMatch(/PENDING — waiting for 1 approval from sg-dba[\s\S]*✔ Approved by bob@contoso\.com[\s\S]*Tunnel to demo-db/);
    expect((await echoThrough(port, Buffer.from('approved'))).toString()).toBe('approved');
    s.h.interrupt();
    expect(await exit).toBe(0);
  });

  it('with --request ends with the decision when the request is denied', async () => {
    let s!: Setup;
    const denied = makeView({ resource: 'demo-db', state: 'denied', closedAt: new Date(NOW).toISOString() });
    s = await setup({
      grants: [],
      routes: {
        'POST /v1/requests': () => {
          s.events.push({ type: 'request', change: 'denied', request: denied });
          return makeView({ resource: 'demo-db' });
        },
      },
    });
    expect(await s.h.run('connect', 'demo-db', '--request', '--reason', 'INC-4211')).toBe(3);
    expect(s.h.stdout()).toContain('✖ Denied');
    expect(s.broker.attempts).toEqual([]);
  });
});

describe('access connect --stdio', () => {
  it('relays stdin to the tunnel and the tunnel to stdout, with nothing else on stdout', async () => {
    const s = await setup();
    const out: Buffer[] = [];
    s.h.ctx.stdio.stdout.on('data', (c: Buffer) => out.push(c));
    const exit = s.h.run('connect', 'demo-db', '--stdio');
    const data = randomData(2 * 1024 * 1024);
    s.h.stdin.write(data);
    await vi.waitFor(() => expect(Buffer.concat(out).length).toBe(data.length), { timeout: 5000 });
    s.h.stdin.end();
    expect(await exit).toBe(0);
    expect(sha256(Buffer.concat(out))).toBe(sha256(data));
  });

  it("surfaces a 403 refusal as the broker's error and exits 3", async () => {
    const message = 'you have no live grant for demo-db — run `access request demo-db --for 1h --reason …`';
    const s = await setup({ broker: { refuse: () => ({ status: 403, code: 'no_live_grant', message }) } });
    expect(await s.h.run('connect', 'demo-db', '--stdio')).toBe(3);
    expect(s.h.stderr()).toBe(`error: ${message}\n`);
    expect(s.h.stdout()).toBe('');
  });

  it("surfaces a 502 refusal as the broker's error and exits 1", async () => {
    const message = 'cannot reach demo-db at 127.0.0.1:5999 (ECONNREFUSED)';
    const s = await setup({ broker: { refuse: () => ({ status: 502, code: 'target_unreachable', message }) } });
    expect(await s.h.run('connect', 'demo-db', '--stdio')).toBe(1);
    expect(s.h.stderr()).toBe(`error: ${message}\n`);
  });

  it('says why on stderr and exits 3 when the grant is revoked mid-session', async () => {
    const s = await setup();
    const exit = s.h.run('connect', 'demo-db', '--stdio');
    await vi.waitFor(() => expect(s.broker.tunnels).toHaveLength(1));
    s.broker.closeAll(4111, 'revoked by bob@contoso.dev: done');
    expect(await exit).toBe(3);
    expect(s.h.stderr()).toBe('Tunnel to demo-db closed: revoked by bob@contoso.dev: done\n');
    expect(s.h.stdout()).toBe('');
  });
});

describe('access connect usage', () => {
  it.each([
    [['--stdio', '--', 'psql'], '--stdio relays stdin/stdout and cannot run "psql"'],
    [['--stdio', '--port', '5432'], '--stdio does not listen'],
    [['--port', 'abc'], '--port "abc" is not a port'],
    [['--port', '70000'], '--port "70000" is not a port'],
    [['--reason', 'x'], '--reason only applies with --request'],
    [['--request', '--for', 'soon'], '--for "soon" is not a duration'],
  ])('refuses %j with a usage error (exit 2)', async (flags, words) => {
    const s = await setup({ grants: [] });
    expect(await s.h.run('connect', 'demo-db', ...flags)).toBe(2);
    expect(s.h.stderr()).toContain(words);
    expect(s.broker.attempts).toEqual([]);
  });
});
