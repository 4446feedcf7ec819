// `access revoke ID [--reason TEXT] [--json]`: end a live grant before its time (your own, or one
// you may approve). The broker cuts the grant's open sessions within a second.

import type { ReasonBody, RequestView } from '../../shared/wire.js';
import { actorName, requestPath } from '../request-format.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options, args) => {
  const id = args[0] ?? '';
  const reason = stringOption(options, 'reason');
  const body: ReasonBody = reason ? { reason } : {};
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const view = await client.post<RequestView>(
    requestPath(id, 'revoke'),
    body,
    `${id} may or may not have been revoked — \`access revoke ${id}\` again is safe: it says so when the grant has already ended`,
  );
  if (options.json) {
    ctx.out.json(view);
    return;
  }
  const shown = ctx.out.forPeople(view);
  ctx.out.line(`Revoked ${shown.id}: ${actorName(shown.requester)} no longer has ${shown.resource}; open sessions are cut within a second.`);
};
