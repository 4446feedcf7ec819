// The two relays — `access connect` and the broker (`access-broker serve|dev`) — run with V8's
// garbage collector on the main thread, a small young generation and no pretenuring
// (RELAY_NODE_FLAGS). Bulk bytes reach both processes in a
// fresh 64 KiB Buffer per socket read (Node reads every socket it did not connect itself that way,
// and ws copies a frame split across two reads), and each such allocation counts as external
// memory. With V8's default concurrent marking, that pressure starts a major GC every few tens of
// MiB, finished quickly by helper threads, so the next starts soon after: on a 2-core machine
// those threads took ~45 % of the CLI's CPU during a download and the broker's upload CPU per GB
// was ~2.5 times what it is with the collector on the main thread (where a marking cycle stays
// open longer and the scavenges between free the buffers). Measured with `npm run bench` and
// per-process CPU per GB; the numbers are in README's Performance section.
//
// Node takes V8's GC flags only at startup: NODE_OPTIONS refuses this one, setting it later with
// v8.setFlagsFromString crashes V8 at the next GC, and `#!/usr/bin/env -S node …` fails where env
// has no -S (BusyBox: Alpine images). So a bin started without the flags starts the relay command
// again in a child process with them (`relaunch`), and the first process only passes signals on
// and exits as the child did. Signals reach the child once: a terminal's Ctrl-C goes to both
// processes and a service manager's SIGTERM to the whole group, so the child ignores those it
// receives itself and acts on the ones the launcher forwards over the IPC channel (the relays
// listen through `onSignal`, which takes them from the right place). A launcher that dies without
// forwarding (SIGKILL) closes the channel, which the child takes as SIGTERM: no relay outlives it.

import { EventEmitter } from 'node:events';

/**
 * Node flags the relays run with: the collector on the main thread (above); a young generation of
 * at most 4 MiB per semi-space instead of V8's 16 (a burst of openings grew it once and it stayed
 * resident for many seconds, most of what 1,000 idle tunnels measured as resident memory: idle RSS
 * per tunnel, `npm run bench -- --only idle`, broker 29-33 → 15-20 KiB, CLI 32-38 → 17-18 KiB; bulk
 * CPU per GB unchanged within noise); and no allocation-site pretenuring: after 1,000 tunnels had
 * been open (their objects long-lived), V8 allocated objects of the upload path directly in the old
 * generation, where the short-lived ones of a bulk transfer then started a major GC every ~110 ms,
 * each freeing under 1 MiB (60-78 in 12 s of transfer): twice the broker's CPU per GB after such a
 * burst (1.5-2.1 s/GB; with this flag 0.8, and 4 major GCs).
 */
export const RELAY_NODE_FLAGS: readonly string[] = ['--single-threaded-gc', '--max-semi-space-size=4', '--no-allocation-site-pretenuring'];
/** Set by the launcher in the child's environment (with an IPC channel); removed by the child at once. */
export const RELAUNCHED_ENV = 'ACCESS_RELAUNCHED';
/** The signals a launcher forwards (a terminal's Ctrl-C and hang-up, a service manager's stop). */
export const FORWARDED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Whether a process started with `execArgv` for `args` (the words after the bin) must start again with RELAY_NODE_FLAGS. */
export function needsRelaunch(args: readonly string[], execArgv: readonly string[], relayCommands: readonly string[]): boolean {
  const command = args[0];
  if (command === undefined || !relayCommands.includes(command)) return false;
  return !RELAY_NODE_FLAGS.every((flag) => execArgv.includes(flag));
}

/** The signal a launcher's message forwards, or null for any other message. */
export function forwardedSignal(message: unknown): NodeJS.Signals | null {
  if (typeof message !== 'object' || message === null) return null;
  const signal = (message as { signal?: unknown }).signal;
  return FORWARDED_SIGNALS.find((known) => known === signal) ?? null;
}

/**
 * Runs `main` here when this process needs no relaunch; otherwise starts `script` again with
 * RELAY_NODE_FLAGS (and this process's own flags) and resolves with its exit code, or ends this
 * process by the signal that ended the child.
 */
export async function launch(script: string, relayCommands: readonly string[], main: () => Promise<number | undefined>): Promise<number | undefined> {
  const args = process.argv.slice(2);
  const relaunched = process.env[RELAUNCHED_ENV] === '1';
  // Not passed on: a relay started from this one (`access connect … -- CMD`) is not the launcher's child.
  delete process.env[RELAUNCHED_ENV];
  // Only with the launcher's channel: a stray variable must not make this process ignore its signals.
  if (relaunched && process.channel) followLauncher();
  else if (needsRelaunch(args, process.execArgv, relayCommands)) return relaunch(script, args);
  return main();
}

async function relaunch(script: string, args: readonly string[]): Promise<number> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [...RELAY_NODE_FLAGS, ...process.execArgv, script, ...args], {
    stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, [RELAUNCHED_ENV]: '1' },
  });
  const forward = (signal: NodeJS.Signals): void => {
    if (child.connected) child.send({ signal });
    else child.kill(signal);
  };
  for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
  return new Promise((resolve) => {
    child.once('error', (error) => {
      process.stderr.write(`error: could not start ${script}: ${error.message}\n`);
      resolve(1);
    });
    child.once('exit', (code, signal) => {
      for (const forwarded of FORWARDED_SIGNALS) process.off(forwarded, forward);
      // Ended by a signal: so is this process, as if it had been the one running.
      if (signal) process.kill(process.pid, signal);
      else resolve(code ?? 1);
    });
  });
}

/** Listeners of the signals the launcher forwards, in a relaunched child; null in every other process. */
let fromLauncher: EventEmitter | null = null;

/** The child ignores the signals it receives itself: the launcher received them too and forwards them. */
const receivedDirectly = (): void => undefined;

/**
 * Calls `listener` on `signal` (one of FORWARDED_SIGNALS), instead of its default action, until the
 * returned function is called. In a relaunched child the signal comes from the launcher, once,
 * however it reached the two processes; elsewhere, from the process itself.
 */
export function onSignal(signal: NodeJS.Signals, listener: () => void): () => void {
  const source = fromLauncher ?? process;
  source.on(signal, listener);
  return () => {
    source.off(signal, listener);
  };
}

/** onSignal for the next `signal` only. */
export function onceSignal(signal: NodeJS.Signals, listener: () => void): () => void {
  const stop = onSignal(signal, () => {
    stop();
    listener();
  });
  return stop;
}

/** In a relaunched child: takes the signals from the launcher, once each, and stops when the launcher is gone. */
function followLauncher(): void {
  const launcher = new EventEmitter();
  fromLauncher = launcher;
  for (const signal of FORWARDED_SIGNALS) process.on(signal, receivedDirectly);
  const deliver = (signal: NodeJS.Signals): void => {
    if (launcher.listenerCount(signal) > 0) {
      launcher.emit(signal);
      return;
    }
    // Nobody here handles it: its default action, as if it had come from the system.
    process.off(signal, receivedDirectly);
    process.kill(process.pid, signal);
  };
  process.on('message', (message: unknown) => {
    const signal = forwardedSignal(message);
    if (signal) deliver(signal);
  });
  process.once('disconnect', () => deliver('SIGTERM'));
  // The channel carries signals only: it must not keep the relay running once its work is done.
  process.channel?.unref();
}
