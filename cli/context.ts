// Everything a command handler reaches outside itself, passed in one object so tests hand it
// fakes (streams, environment, clock, broker connection) instead of mocking modules. Building it
// imports nothing heavy: the broker connection (TLS, MSAL, ws) is imported on first `connect`.

import type { Readable, Writable } from 'node:stream';
import type { BrokerConnection } from './broker-connection.js';
import { Output, type OutputStreams } from './output.js';
import { terminalPrompts, type Prompts } from './prompts.js';
import { accessHome } from './state-dir.js';
import { onceSignal } from '../shared/relay-launch.js';

export interface CliContext {
  env: NodeJS.ProcessEnv;
  /** The CLI's state dir ($ACCESS_HOME): one per signed-in person. */
  home: string;
  out: Output;
  /**
   * The process's raw byte streams, for commands that carry bytes rather than text
   * (`access connect --stdio`: stdout holds tunnel bytes and nothing else).
   */
  stdio: { stdin: Readable; stdout: Writable };
  stdinIsTTY: boolean;
  now: () => number;
  /** Opens a signed-in connection to the broker (`--broker` flag value, if given). */
  connect: (brokerFlag: string | undefined) => Promise<BrokerConnection>;
  /** Questions for a person at a terminal; refuses (usage error) when there is none. */
  prompts: Prompts;
  /**
   * Calls `listener` on Ctrl-C (SIGINT) instead of the default kill, so a command can stop waiting
   * cleanly (e.g. leave a request pending and say so). Returns the function that stops listening.
   */
  onInterrupt: (listener: () => void) => () => void;
}

/** Where ACCESS_DEBUG=1 sends the sign-in and stream narration: stderr, beside the other notices. */
export function debugLogger(ctx: Pick<CliContext, 'env' | 'out'>): ((line: string) => void) | undefined {
  return ctx.env.ACCESS_DEBUG === '1' ? (line) => ctx.out.notice(line) : undefined;
}

function onProcessInterrupt(listener: () => void): () => void {
  return onceSignal('SIGINT', listener);
}

export function processContext(streams: OutputStreams = process, env: NodeJS.ProcessEnv = process.env): CliContext {
  const ctx: CliContext = {
    env,
    home: accessHome(env),
    out: new Output(streams, env),
    stdio: { stdin: process.stdin, stdout: streams.stdout },
    stdinIsTTY: Boolean(process.stdin.isTTY),
    now: Date.now,
    connect: async (brokerFlag) => {
      const { connectBroker } = await import('./broker-connection.js');
      return connectBroker({ home: ctx.home, env: ctx.env, debug: debugLogger(ctx), notice: (line) => ctx.out.notice(line) }, brokerFlag);
    },
    prompts: terminalPrompts({ input: process.stdin, output: streams.stderr }),
    onInterrupt: onProcessInterrupt,
  };
  return ctx;
}
