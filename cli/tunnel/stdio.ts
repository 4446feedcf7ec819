// `access connect NAME --stdio`: exactly one tunnel between stdin/stdout and the broker, for
// `ssh -o ProxyCommand='access connect %h --stdio'`. stdout carries tunnel bytes and nothing else
// (every message goes to stderr); the command ends when either side ends.

import type { Readable, Writable } from 'node:stream';
import type WebSocket from 'ws';
import type { ExitCode } from '../../shared/errors.js';
import { closeWords, grantEndingExit, tunnelExit, type TunnelSubject } from './close-words.js';
import { startRelay, type LocalEnd } from './relay.js';
import { safeText } from '../../shared/safe-text.js';

export interface StdioOptions {
  stdin: Readable;
  stdout: Writable;
  /** Opens the tunnel (paused); rejects with the broker's AccessError. */
  open: () => Promise<WebSocket>;
  subject: TunnelSubject;
  /** Messages (stderr). */
  notice: (line: string) => void;
  /** Registers the Ctrl-C handler; returns the function that removes it. */
  onInterrupt: (listener: () => void) => () => void;
  now: () => number;
}

/** stdin/stdout as a LocalEnd. stdout is the process's: it is never ended, only no longer written. */
export function stdioEnd(stdin: Readable, stdout: Writable): LocalEnd {
  return {
    readable: stdin,
    writable: stdout,
    // Stop reading stdin so nothing keeps the process alive once the tunnel is gone.
    finish: () => {
      stdin.pause();
      stdin.destroy();
    },
  };
}

export async function runStdio(options: StdioOptions): Promise<ExitCode> {
  const ws = await options.open();
  const relay = startRelay(ws, stdioEnd(options.stdin, options.stdout));
  const stopListening = options.onInterrupt(() => relay.close());
  const result = await relay.done.finally(stopListening);
  // A normal end (ssh logged out, stdin closed) says nothing; a cut says why.
  const exit = tunnelExit(result);
  if (grantEndingExit(result) !== null || exit !== 0 || result.error) {
    options.notice(
      `Tunnel to ${options.subject.name} closed: ${closeWords(result, options.subject, options.now())}${result.error ? ` (${safeText(result.error)})` : ''}`,
    );
  }
  return exit;
}
