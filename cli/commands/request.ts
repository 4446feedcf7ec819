// `access request NAME [--for D] [--reason T] [--ticket ID] [--no-wait] [--json]`: ask for access
// and wait for the decision (cli/request-access.ts). Exit codes: approved 0, denied 3, timed out 5,
// cancelled elsewhere 1, Ctrl-C 130 (the request stays pending).

import { ExitCode } from '../../shared/errors.js';
import { outcome, stillNeeded } from '../request-format.js';
import { createRequest, requestAccess } from '../request-access.js';
import { requestBody } from '../request-options.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options, args) => {
  const body = requestBody(args[0] ?? '', options);
  const json = Boolean(options.json);
  // With --json, stdout holds only the JSON; the words go to stderr.
  const say = (line: string): void => (json ? ctx.out.notice(line) : ctx.out.line(line));

  const connection = await ctx.connect(stringOption(options, 'broker'));
  if (options.wait === false) {
    const created = await createRequest(ctx, connection.client, body);
    const shown = ctx.out.forPeople(created);
    say(
      shown.state === 'pending'
        ? `Request ${shown.id} PENDING — needs ${stillNeeded(shown)}; \`access requests\` shows it`
        : outcome(shown, ctx.now(), ctx.out).line,
    );
    if (json) ctx.out.json(created);
    return ExitCode.ok;
  }
  const { view, exit } = await requestAccess(ctx, connection, body, say);
  if (json) ctx.out.json(view);
  return exit;
};
