// The CLI's entry point: builds the commands from their definitions and holds the only top-level
// catch, which maps errors to exit codes (0 ok, 1 error, 2 usage, 3 denied, 4 not signed in,
// 5 timed out) and prints them without a stack trace unless ACCESS_DEBUG=1.

import { Command, CommanderError } from 'commander';
import { AccessError, ExitCode } from '../shared/errors.js';
import { VERSION } from '../shared/version.js';
import type { CommandSpec } from './commands/command.js';
import { commands } from './commands/index.js';
import { processContext, type CliContext } from './context.js';
import { safeText } from '../shared/safe-text.js';

export function buildProgram(ctx: CliContext, setExit: (code: number) => void): Command {
  const program = new Command('access')
    .description('Just-in-time access to databases and hosts, approved through Microsoft Entra ID groups.')
    .version(VERSION)
    .showHelpAfterError('(run `access --help` for usage)')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
    });
  for (const spec of commands) {
    if ('subcommands' in spec) {
      const group = program.command(spec.name).description(spec.summary);
      for (const sub of spec.subcommands) addCommand(group, sub, ctx, setExit);
    } else {
      addCommand(program, spec, ctx, setExit);
    }
  }
  return program;
}

function addCommand(parent: Command, spec: CommandSpec, ctx: CliContext, setExit: (code: number) => void): void {
  const command = parent.command(spec.args ? `${spec.name} ${spec.args}` : spec.name).description(spec.summary);
  for (const option of spec.options ?? []) command.option(option.flags, option.description);
  command.action(async (...received: unknown[]) => {
    // commander passes the positional args (a variadic one as an array), then the options object,
    // then the command.
    const args = received
      .slice(0, -2)
      .flatMap((a) => (Array.isArray(a) ? (a as unknown[]) : [a]))
      .filter((a): a is string => typeof a === 'string');
    const options = (received.at(-2) ?? {}) as Record<string, unknown>;
    const { run } = await spec.load();
    const code = await run(ctx, options, args);
    setExit(code ?? ExitCode.ok);
  });
}

/** The message printed for an error that reached the top; it often quotes the broker or the bad value, so it is shown safely. */
export function describeFailure(error: unknown, debug: boolean): { message: string; exit: number } {
  const safe = (text: string): string => safeText(text, { multiline: true });
  if (error instanceof AccessError) {
    return { message: safe(debug && error.stack ? error.stack : `error: ${error.message}`), exit: error.exitCode };
  }
  const text = error instanceof Error ? (debug ? (error.stack ?? error.message) : error.message) : String(error);
  return {
    message: `unexpected error: ${safe(text)}${debug ? '' : '\n(set ACCESS_DEBUG=1 to see details)'}`,
    exit: ExitCode.error,
  };
}

export async function main(argv: string[] = process.argv): Promise<number> {
  const ctx = processContext();
  let exit: number = ExitCode.ok;
  const program = buildProgram(ctx, (code) => {
    exit = code;
  });
  try {
    await program.parseAsync(argv);
    return exit;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version are not failures; everything else commander refuses is a usage error.
      if (error.code === 'commander.helpDisplayed' || error.code === 'commander.version' || error.code === 'commander.help') return ExitCode.ok;
      return ExitCode.usage;
    }
    const { message, exit: code } = describeFailure(error, ctx.env.ACCESS_DEBUG === '1');
    ctx.out.notice(ctx.out.color ? ctx.out.red(message) : message);
    return code;
  }
}
