// The shape of a CLI command: a small declarative definition (what it is, its options) and a
// `load()` for its handler. cli/commands/index.ts lists them all; cli/main.ts turns them into
// commander commands. The handler lives in its own module (cli/commands/NAME.ts, exporting `run`)
// so `access --help` and every other command never import what one command needs (MSAL, the
// tunnel, the prompts): the CLI starts about as fast as bare node.

import type { CliContext } from '../context.js';

export interface OptionSpec {
  /** commander flags, e.g. `--broker <url>` or `--json`. */
  flags: string;
  description: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  /** Positional arguments in commander syntax, e.g. `<id>`. */
  args?: string;
  options?: readonly OptionSpec[];
  /** Imports the command's handler module; called only when the command runs. */
  load(): Promise<{ run: CommandRun }>;
}

/**
 * A command's handler. Resolves with the exit code: an ExitCode, or for a command that runs
 * another program (`access connect NAME -- CMD`) that program's exit status.
 */
// biome-ignore lint/suspicious/noConfusingVoidType: a handler with nothing to report just ends (exit 0); `undefined` would make every such handler `return undefined`.
export type CommandRun = (ctx: CliContext, options: Record<string, unknown>, args: string[]) => Promise<number | void>;

/** A command that only groups others (`access audit sessions|show|…`): it has no handler of its own. */
export interface CommandGroupSpec {
  name: string;
  summary: string;
  subcommands: readonly CommandSpec[];
}

/** `access connect`'s listener address unless --bind says otherwise: loopback, so only this machine can use the grant. */
export const DEFAULT_BIND = '127.0.0.1';

/** How many sessions `access audit sessions` shows without --limit. */
export const SESSIONS_SHOWN = 100;

/** Entries of a story `access audit show` shows unless --limit says otherwise (the broker's own default). */
export const SHOW_ENTRIES_DEFAULT = 5000;

export const brokerOption: OptionSpec = {
  flags: '--broker <url>',
  description: 'broker URL (default: $ACCESS_BROKER, else the one remembered at login)',
};

export const jsonOption: OptionSpec = { flags: '--json', description: 'print JSON instead of a table' };

export function stringOption(options: Record<string, unknown>, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
}
