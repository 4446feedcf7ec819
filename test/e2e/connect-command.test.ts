// `access connect RESOURCE -- CMD`: the CLI runs a real command (a node one-liner) with the
// connection environment, through a tunnel to a fake broker on a real socket. A real process per
// test, so it lives with the end-to-end tests; the rest of `access connect` is in
// test/cli/commands/connect.test.ts.

import { describe, expect, it, vi } from 'vitest';
import { setup } from '../cli/commands/connect-setup.js';

/** A node one-liner run as CMD: talks to the tunnel through the connection environment. */
const PING_SCRIPT = `
const net = require('node:net');
const env = process.env;
if (env.PGHOST !== env.ACCESS_HOST || env.PGPORT !== env.ACCESS_PORT || env.PGUSER !== 'demo' || env.PGDATABASE !== 'demo') process.exit(90);
const s = net.connect(Number(env.ACCESS_PORT), env.ACCESS_HOST);
s.on('data', (d) => { if (d.toString() === 'ping') { s.end(); process.exit(7); } });
s.write('ping');
`;

describe('access connect -- CMD', () => {
  it("runs CMD with the connection environment and exits with CMD's exit code", async () => {
    const s = await setup();
    expect(await s.h.run('connect', 'demo-db', '--', process.execPath, '-e', PING_SCRIPT)).toBe(7);
    expect(s.h.stderr()).toMatch(/^Tunnel to demo-db \(postgres\) on 127\.0\.0\.1:\d+ — access until .*; running /);
    expect(s.h.stdout()).toBe('');
    expect(s.broker.tunnels).toHaveLength(1);
  });

  it("cuts CMD's connection and prints the words when the grant ends first", async () => {
    const waitForCut = `
const s = require('node:net').connect(Number(process.env.ACCESS_PORT), process.env.ACCESS_HOST);
s.on('error', () => {});
s.on('close', () => process.exit(5));
s.resume();
`;
    const s = await setup();
    const exit = s.h.run('connect', 'demo-db', '--', process.execPath, '-e', waitForCut);
    await vi.waitFor(() => expect(s.broker.tunnels).toHaveLength(1), { timeout: 5000 });
    s.broker.closeAll(4111, 'revoked by bob@contoso.dev: done');
    expect(await exit).toBe(5);
    expect(s.h.stderr()).toContain('Tunnel to demo-db closed: revoked by bob@contoso.dev: done\n');
  });

  it('refuses a CMD that cannot be found (exit 2)', async () => {
    const s = await setup();
    expect(await s.h.run('connect', 'demo-db', '--', 'no-such-command-xyz')).toBe(2);
    expect(s.h.stderr()).toContain('error: cannot run "no-such-command-xyz": it is not installed or not on PATH');
  });
});
