// `access connect RESOURCE -- CMD`: the CLI runs a real command (a node one-liner) with the
// connection environment, through a tunnel to a fake broker on a real socket. A real process per
// test, so it lives with the end-to-end tests; the rest of `access connect` is in
// test/cli/commands/connect.test.ts.

import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createWebSocketStream, type WebSocket } from 'ws';
import { demoDb, setup, type Setup } from '../cli/commands/connect-setup.js';
import { approvedView } from '../cli/commands/fakes.js';
import { tempDir } from '../helpers/processes.js';

/** A node one-liner run as CMD: talks to the tunnel through the connection environment. */
const PING_SCRIPT = `
const net = require('node:net');
const env = process.env;
if (env.PGHOST !== env.ACCESS_HOST || env.PGPORT !== env.ACCESS_PORT || env.PGUSER !== 'demo' || env.PGDATABASE !== 'demo') process.exit(90);
const s = net.connect(Number(env.ACCESS_PORT), env.ACCESS_HOST);
s.on('data', (d) => { if (d.toString() === 'ping') { s.end(); process.exit(7); } });
s.write('ping');
`;

/** A fake broker's tunnel relayed to the machine's MariaDB (root, no password). */
function relayToMariadb(ws: WebSocket): void {
  const stream = createWebSocketStream(ws);
  const target = net.connect(3306, '127.0.0.1');
  stream.on('error', () => target.destroy());
  target.on('error', () => stream.destroy());
  stream.pipe(target).pipe(stream);
}

/**
 * `access connect` to a mysql resource whose tunnels reach the machine's MariaDB, on the real
 * clock and a state dir of its own: the mariadb client checks the listener's local certificate
 * (the option file names its CA) against the real time, so it is made for the real time.
 */
async function mysqlSetup(): Promise<Setup> {
  const now = Date.now();
  const live = approvedView({ resource: 'demo-my', grantedAt: new Date(now - 1000).toISOString(), expiresAt: new Date(now + 3_600_000).toISOString() });
  const s = await setup({
    resources: [{ ...demoDb, name: 'demo-my', kind: 'mysql', user: 'root', database: 'mysql' }],
    grants: [live],
    broker: { onTunnel: relayToMariadb },
  });
  Object.assign(s.h.ctx, { now: Date.now, home: await tempDir('connect-mysql-home') });
  return s;
}

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

  it("gives `-- mariadb` the mysql resource's user and database (an option file in MYSQL_HOME, gone after)", async () => {
    const s = await mysqlSetup();
    const out = path.join(await tempDir('connect-mysql'), 'out.txt');
    const script = `mariadb -N -B -e 'select current_user(), database(); select @@hostname' > '${out}'; echo "$MYSQL_HOME" >> '${out}'`;
    expect(await s.h.run('connect', 'demo-my', '--', 'sh', '-c', script), s.h.stderr()).toBe(0);
    const [who, , home] = (await readFile(out, 'utf8')).trim().split('\n');
    expect(who).toMatch(/^root@\S+\tmysql$/);
    await expect(readFile(path.join(home ?? '', 'my.cnf'))).rejects.toThrow();
  });

  it('makes `-- mariadb --ssl-verify-server-cert` work: TLS from the listener, verified with the ssl-ca of the option file', async () => {
    const s = await mysqlSetup();
    const out = path.join(await tempDir('connect-mysql-tls'), 'out.txt');
    const script = `printf 'select current_user();\\nstatus\\n' | mariadb --ssl-verify-server-cert -N -B > '${out}' 2>&1`;
    expect(await s.h.run('connect', 'demo-my', '--', 'sh', '-c', script), `${s.h.stderr()}\n${await readFile(out, 'utf8').catch(() => '')}`).toBe(0);
    const said = await readFile(out, 'utf8');
    expect(said).toMatch(/^root@\S+\n/);
    expect(said).toMatch(/SSL:\s+Cipher in use is \S+/);
  });
});
