// `access connect NAME [--port N] [--bind ADDR] [--stdio] [--request [--for D --reason T --ticket ID]] [-- CMD ARGS…]`:
// the audited tunnel. Finds the caller's live grant on NAME (or, with --request, asks for one and
// waits for the decision), then either listens on a local port (every connection its own tunnel),
// runs CMD with the connection environment, or relays stdin/stdout for ssh's ProxyCommand.
//
// Exit codes: 0 on Ctrl-C or when the grant expires; 3 without a live grant, or when it is revoked
// or the membership is lost; with `-- CMD`, CMD's exit status.

import { AccessError, ExitCode } from '../../shared/errors.js';
import { parseWholeNumber } from '../../shared/whole-number.js';
import type { CreateRequestBody, RequestView } from '../../shared/wire.js';
import type { BrokerConnection } from '../broker-connection.js';
import type { CliContext } from '../context.js';
import { requestAccess } from '../request-access.js';
import { REQUEST_FLAGS, requestBody } from '../request-options.js';
import { runExec } from '../tunnel/exec.js';
import { lookUp, noLiveGrant, type ConnectResource } from '../tunnel/grant.js';
import { runListener } from '../tunnel/listen.js';
import type { TunnelPlan } from '../tunnel/plan.js';
import { runStdio } from '../tunnel/stdio.js';
import { DEFAULT_BIND, stringOption, type CommandRun } from './command.js';

const MAX_PORT = 65_535;

type Mode = { kind: 'listen' } | { kind: 'stdio' } | { kind: 'exec'; argv: string[] };

interface ConnectArgs {
  name: string;
  mode: Mode;
  bind: string;
  port: number;
  /** With --request: what to ask for when there is no live grant (checked before anything is sent). */
  request: CreateRequestBody | null;
}

function parsePort(text: string | undefined): number {
  if (text === undefined) return 0;
  const port = parseWholeNumber(text, 1, MAX_PORT);
  if (port === undefined) {
    throw new AccessError('usage', `--port "${text}" is not a port — use a number from 1 to ${MAX_PORT}, or leave --port out for a free one`);
  }
  return port;
}

/** Checks the flags fit together; every refusal is a usage error that says what to do instead. */
function parseArgs(options: Record<string, unknown>, args: string[]): ConnectArgs {
  const [name = '', ...argv] = args;
  const stdio = options.stdio === true;
  const request = options.request === true;
  const portText = stringOption(options, 'port');
  const bindText = stringOption(options, 'bind');
  if (stdio && argv.length > 0) throw new AccessError('usage', `--stdio relays stdin/stdout and cannot run "${argv.join(' ')}" — use one or the other`);
  if (stdio && (portText !== undefined || bindText !== undefined))
    throw new AccessError('usage', '--stdio does not listen, so --port and --bind do not apply — leave them out');
  for (const flag of REQUEST_FLAGS) {
    if (!request && options[flag] !== undefined)
      throw new AccessError('usage', `--${flag} only applies with --request (ask for access when you have no live grant)`);
  }
  const mode: Mode = stdio ? { kind: 'stdio' } : argv.length > 0 ? { kind: 'exec', argv } : { kind: 'listen' };
  return { name, mode, bind: bindText ?? DEFAULT_BIND, port: parsePort(portText), request: request ? requestBody(name, options) : null };
}

/**
 * The live grant and the resource, asking for a grant first with --request. Returns an exit code
 * instead when the request did not end approved (denied, timed out, Ctrl-C).
 */
async function findGrant(
  ctx: CliContext,
  connection: BrokerConnection,
  parsed: ConnectArgs,
  say: (line: string) => void,
): Promise<{ grant: RequestView; resource: ConnectResource | null } | ExitCode> {
  const found = await lookUp(connection.client, parsed.name, ctx.now());
  if (found.grant) return { grant: found.grant, resource: found.resource };
  if (!parsed.request) throw noLiveGrant(parsed.name, found.resource);
  const { view, exit } = await requestAccess(ctx, connection, parsed.request, say);
  if (exit !== ExitCode.ok || view.state !== 'approved') return exit === ExitCode.ok ? ExitCode.error : exit;
  return { grant: view, resource: found.resource };
}

function planFor(connection: BrokerConnection, name: string, grant: RequestView, resource: ConnectResource | null): TunnelPlan {
  return {
    // Without the resource in /v1/resources (an older broker, a changed policy) it is plain TCP.
    subject: { name, kind: resource?.kind ?? 'tcp', expiresAt: grant.expiresAt },
    grant,
    defaults: { user: resource?.user, database: resource?.database },
    open: () => connection.openTunnel(name),
  };
}

export const run: CommandRun = async (ctx, options, args) => {
  const parsed = parseArgs(options, args);
  // Only the listener prints its result on stdout: CMD owns it in exec mode, tunnel bytes in --stdio.
  const say = (line: string): void => (parsed.mode.kind === 'listen' ? ctx.out.line(line) : ctx.out.notice(line));
  const connection = await ctx.connect(stringOption(options, 'broker'));
  const found = await findGrant(ctx, connection, parsed, say);
  if (typeof found === 'number') return found;
  const plan = planFor(connection, parsed.name, found.grant, found.resource);
  const where = { bind: parsed.bind, port: parsed.port };
  switch (parsed.mode.kind) {
    case 'stdio':
      return runStdio({
        ...ctx.stdio,
        open: plan.open,
        subject: plan.subject,
        notice: (line) => ctx.out.notice(line),
        onInterrupt: ctx.onInterrupt,
        now: ctx.now,
      });
    case 'exec':
      return runExec(ctx, plan, where, parsed.mode.argv);
    case 'listen':
      return runListener(ctx, plan, where);
  }
};
