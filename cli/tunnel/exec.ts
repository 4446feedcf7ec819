// `access connect NAME -- CMD ARGS…`: listens on a local port, runs CMD with the terminal (stdio
// inherited) and the connection environment for the resource's kind, and ends with CMD's exit
// status once CMD exits, closing the tunnels. When the grant ends first, the tunnels are cut (CMD
// sees the disconnect) and the words are printed; CMD still decides when the command ends.

import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { constants, tmpdir } from 'node:os';
import path from 'node:path';
import { AccessError } from '../../shared/errors.js';
import type { CliContext } from '../context.js';
import { connectionEnv, mysqlOptionFile } from './environment.js';
import { listenerOutcome, tunnelLine } from './listen.js';
import { listenForGrant, type TunnelPlan } from './plan.js';

/** The shell's convention for a process killed by a signal: 128 + the signal's number. */
const SIGNAL_EXIT_BASE = 128;

/** Runs `argv` with the terminal; resolves with its exit status, rejects (usage) when it cannot start. */
export function runCommand(argv: readonly string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [file, ...args] = argv;
  if (!file) return Promise.reject(new AccessError('usage', 'nothing to run after `--` — e.g. `access connect NAME -- psql`'));
  return new Promise<number>((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit', env });
    child.once('error', (error: NodeJS.ErrnoException) => {
      // Only a failure to start arrives before 'exit' without a pid; later errors (a kill that failed) do not matter.
      if (child.pid !== undefined) return;
      const why = error.code === 'ENOENT' ? 'it is not installed or not on PATH' : error.code === 'EACCES' ? 'it is not executable' : error.message;
      reject(new AccessError('usage', `cannot run "${file}": ${why}`, { cause: error }));
    });
    child.once('exit', (code, signal) => {
      if (code !== null) resolve(code);
      else resolve(SIGNAL_EXIT_BASE + (signal ? constants.signals[signal] : 0));
    });
  });
}

/**
 * Keeps Ctrl-C from ending `access connect` while CMD runs: the terminal sends it to CMD too, and
 * CMD decides (psql cancels the query and carries on). Returns the function that stops ignoring.
 */
function ignoreInterrupts(ctx: CliContext): () => void {
  let stop: () => void = () => undefined;
  const again = (): void => {
    stop = ctx.onInterrupt(again);
  };
  again();
  return () => stop();
}

export async function runExec(ctx: CliContext, plan: TunnelPlan, where: { bind: string; port: number }, argv: readonly string[]): Promise<number> {
  // CMD owns the terminal: only refusals and failures are logged, not every connection.
  const { listener, localTls, stopTimer } = await listenForGrant(ctx, plan, where, ctx.env.ACCESS_DEBUG === '1');
  const stopIgnoring = ignoreInterrupts(ctx);
  try {
    ctx.out.notice(`${tunnelLine(plan, listener.address, ctx.now())}; running ${argv[0] ?? ''}`);
    void listener.ended.then((end) => {
      const { words } = listenerOutcome(end, plan, ctx.now());
      if (words) ctx.out.notice(words);
    });
    const env = connectionEnv(plan.subject.kind, listener.address, plan.defaults, ctx.env, localTls);
    const optionFile = mysqlOptionFile(plan.subject.kind, plan.defaults, ctx.env, localTls);
    if (optionFile === null) return await runCommand(argv, env);
    return await withOptionDirectory(optionFile, (home) => runCommand(argv, { ...env, MYSQL_HOME: home }));
  } finally {
    stopTimer();
    stopIgnoring();
    await listener.shutdown();
  }
}

/** Runs `use` with a private directory holding `my.cnf` (mode 0600: mysql ignores a world-writable one), removed after. */
async function withOptionDirectory<T>(content: string, use: (home: string) => Promise<T>): Promise<T> {
  const home = await mkdtemp(path.join(tmpdir(), 'access-mysql-'));
  try {
    await writeFile(path.join(home, 'my.cnf'), content, { mode: 0o600 });
    return await use(home);
  } finally {
    await rm(home, { recursive: true, force: true });
  }
}
