// Parent-death watchdog for a process this one started. PostgreSQL has no "exit when my parent
// dies" switch, and a Node process killed with SIGKILL runs no exit handler, so an orphaned
// postmaster would keep its port and lock its data directory. The watchdog is a tiny `sh` whose
// stdin is a pipe from this process: nothing is ever written to it, so `read` returns only when
// the pipe closes — which the kernel does when this process dies, however it dies — and the
// watchdog then sends the guarded process SIGINT (PostgreSQL's fast shutdown). It lives in its own
// process group so Ctrl-C on the terminal does not take it down first.

import { spawn, type ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import { spawnIdentity, type RunAs } from './run-as.js';

const SCRIPT = 'trap "" HUP INT; read -r _ignored; kill -INT "$1" 2>/dev/null';

export interface Watchdog {
  /** The watchdog itself; its stdin closing (as at this process's death) fires it. */
  readonly process: ChildProcess;
  /** Stops watching (the guarded process is being stopped on purpose, or is gone). */
  disarm(): void;
}

/**
 * Watches over `pid`. As root, `runAs` should be the guarded process's account, so the watchdog
 * can signal nothing but that account's processes.
 */
export function watchParentDeath(pid: number, runAs: RunAs | null): Watchdog {
  const child: ChildProcess = spawn('/bin/sh', ['-c', SCRIPT, 'access-watchdog', String(pid)], {
    ...spawnIdentity(runAs),
    cwd: '/',
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
    env: { PATH: '/usr/bin:/bin' },
  });
  // A watchdog that failed to start leaves only the explicit stop() path; nothing to crash for.
  child.on('error', () => undefined);
  // Neither the child nor its pipe may keep this process alive: the watchdog exists for when it is not.
  child.unref();
  (child.stdin as Socket | null)?.unref();
  return {
    process: child,
    disarm: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}
