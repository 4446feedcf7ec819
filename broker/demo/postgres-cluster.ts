// The demo PostgreSQL's data directory: created once (initdb, then the demo role, database and
// `orders` table), reused on every later start. The cluster is built in a staging directory next
// to the target and renamed into place only when complete, so an interrupted first start never
// leaves a half-seeded directory that a later start would mistake for a finished one.

import { spawn } from 'node:child_process';
import { chown, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { AccessError } from '../../shared/errors.js';
import type { PostgresBinaries } from './postgres-binaries.js';
import { canEnter, spawnIdentity, type RunAs } from './run-as.js';

export const DEMO_SUPERUSER = 'postgres';
export const DEMO_USER = 'demo';
export const DEMO_DATABASE = 'demo';
/**
 * The password-protected demo role (credential injection): SCRAM-only, a member of the demo role
 * (so it reads and changes the orders), its password fresh at every start and held by the broker.
 */
export const DEMO_APP_USER = 'demo_app';
/** Members of this role log in with their password (pg_hba `md5`: SCRAM for a SCRAM password); everyone else is trusted on loopback. */
export const PASSWORD_LOGIN_ROLE = 'password_login';
/** The demo's pg_hba file, in the data directory, written at every start (so clusters made before it get it too). */
export const DEMO_HBA_FILE = 'access_demo_hba.conf';
const DEMO_HBA = [
  '# Written by access-broker dev at every start.',
  `# Members of ${PASSWORD_LOGIN_ROLE} must give their password: md5 here means SCRAM-SHA-256 for a password stored as SCRAM.`,
  `host all +${PASSWORD_LOGIN_ROLE} 127.0.0.1/32 md5`,
  `host all +${PASSWORD_LOGIN_ROLE} ::1/128 md5`,
  '# Everyone else is trusted on loopback: a demo whose data is public sample rows.',
  'host all all 127.0.0.1/32 trust',
  'host all all ::1/128 trust',
  '',
].join('\n');
/** Lines of a failed tool's output quoted in the error: the cause is at the end. */
const OUTPUT_LINES_QUOTED = 8;

// Single-user mode runs one statement per line.
const CLUSTER_SQL = [`CREATE ROLE ${DEMO_USER} LOGIN;`, `CREATE DATABASE ${DEMO_DATABASE} OWNER ${DEMO_USER};`];
const DEMO_DATABASE_SQL = [
  // Owned by the demo role, so `psql -U demo` may read and change it.
  `SET ROLE ${DEMO_USER};`,
  'CREATE TABLE orders (id integer PRIMARY KEY, customer text NOT NULL, item text NOT NULL, amount numeric(10,2) NOT NULL, status text NOT NULL, created_at timestamptz NOT NULL);',
  "INSERT INTO orders VALUES (1001, 'Northwind Traders', 'Espresso machine', 1299.00, 'shipped', '2025-01-06 09:12:00+00'), (1002, 'Contoso Ltd', 'Standing desk', 749.50, 'shipped', '2025-01-07 14:30:00+00'), (1003, 'Fabrikam Inc', 'Noise-cancelling headphones', 329.99, 'processing', '2025-01-08 08:05:00+00'), (1004, 'Adventure Works', 'Mechanical keyboard', 189.00, 'pending', '2025-01-08 16:47:00+00'), (1005, 'Tailspin Toys', 'Ergonomic chair', 899.00, 'cancelled', '2025-01-09 11:20:00+00');",
];

/** Makes sure `dataDir` holds a seeded demo cluster (creating it on first use). */
export async function ensureCluster(binaries: PostgresBinaries, dataDir: string, account: RunAs | null, log: (line: string) => void): Promise<void> {
  if (await exists(path.join(dataDir, 'PG_VERSION'))) return;
  if ((await exists(dataDir)) && (await readdir(dataDir)).length > 0) {
    throw new AccessError(
      'demo_target_failed',
      `${dataDir} exists but is not a PostgreSQL data directory — empty or remove it, or choose another data directory`,
    );
  }

  const parent = path.dirname(dataDir);
  await mkdir(parent, { recursive: true });
  if (account && !(await canEnter(account, parent))) {
    throw new AccessError(
      'demo_target_failed',
      `PostgreSQL cannot run as root, so the demo database runs as the user ${account.name} (uid ${account.uid}), who cannot enter ${parent}. ` +
        'Give it search permission on that directory and those above it (e.g. chmod o+x), or choose a data directory outside root-only directories such as /root.',
    );
  }

  log(`demo postgres: creating the cluster in ${dataDir}`);
  const staging = await mkdtemp(path.join(parent, `.${path.basename(dataDir)}.initdb-`));
  try {
    if (account) await chown(staging, account.uid, account.gid);
    await runTool(binaries.initdb, ['-D', staging, '-U', DEMO_SUPERUSER, '--auth=trust', '--no-locale', '--encoding=UTF8', '--no-instructions'], account, null);
    await runSingleUser(binaries, staging, 'postgres', CLUSTER_SQL, account);
    await runSingleUser(binaries, staging, DEMO_DATABASE, DEMO_DATABASE_SQL, account);
    // rename() replaces an empty directory, so a caller that created dataDir beforehand is fine.
    await rename(staging, dataDir);
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Gives the demo's password-protected role (creating it in a cluster made before it) a fresh
 * SCRAM password and writes the pg_hba file that makes it ask for one. `password` must be plain
 * base64url (it is written into a SQL literal); it reaches the server on stdin, never argv.
 */
export async function prepareDemoLogins(binaries: PostgresBinaries, dataDir: string, account: RunAs | null, password: string): Promise<void> {
  if (!/^[A-Za-z0-9_-]+$/.test(password)) throw new Error('the demo password must be base64url');
  const sql = [
    `DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${PASSWORD_LOGIN_ROLE}') THEN CREATE ROLE ${PASSWORD_LOGIN_ROLE} NOLOGIN; END IF; IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${DEMO_APP_USER}') THEN CREATE ROLE ${DEMO_APP_USER} LOGIN IN ROLE ${DEMO_USER}, ${PASSWORD_LOGIN_ROLE}; END IF; END$$;`,
    "SET password_encryption = 'scram-sha-256';",
    `ALTER ROLE ${DEMO_APP_USER} PASSWORD '${password}';`,
  ];
  await runSingleUser(binaries, dataDir, 'postgres', sql, account);
  const hba = path.join(dataDir, DEMO_HBA_FILE);
  await writeFile(hba, DEMO_HBA, { mode: 0o600 });
  if (account) await chown(hba, account.uid, account.gid);
}

/** Runs SQL in single-user mode: no server, no port, no client library needed. */
function runSingleUser(binaries: PostgresBinaries, dataDir: string, database: string, sql: string[], account: RunAs | null): Promise<void> {
  // exit_on_error makes a failed statement fail the process, which otherwise exits 0 regardless.
  return runTool(binaries.postgres, ['--single', '-D', dataDir, '-c', 'exit_on_error=on', database], account, `${sql.join('\n')}\n`);
}

function runTool(file: string, args: string[], account: RunAs | null, stdin: string | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, {
      ...spawnIdentity(account),
      cwd: '/',
      env: postgresEnv(),
      stdio: [stdin === null ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // A tool that dies before reading its input closes the pipe; its exit status tells why.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
    child.on('error', (error) => reject(toolError(file, account, error.message, error)));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(toolError(file, account, `exited with ${code ?? signal}:\n${lastLines(output)}`));
    });
  });
}

function toolError(file: string, account: RunAs | null, detail: string, cause?: unknown): AccessError {
  const who = account ? ` (run as ${account.name}, since PostgreSQL refuses root; it must be able to read ${path.dirname(path.dirname(file))})` : '';
  return new AccessError('demo_target_failed', `demo PostgreSQL: ${path.basename(file)}${who} ${detail}`, { cause });
}

/**
 * The environment of every PostgreSQL process: deliberately minimal, so the broker's own secrets
 * (e.g. the Graph client secret) never reach processes of another account, PG* variables cannot
 * redirect initdb, and messages are in English for the readiness check.
 */
export function postgresEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', LANG: 'C' };
}

export function lastLines(text: string): string {
  return text.trimEnd().split('\n').slice(-OUTPUT_LINES_QUOTED).join('\n');
}

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
