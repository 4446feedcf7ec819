// `access cancel ID [--json]`: withdraw one of your pending requests.

import type { RequestView } from '../../shared/wire.js';
import { requestPath } from '../request-format.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options, args) => {
  const id = args[0] ?? '';
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const view = await client.post<RequestView>(
    requestPath(id, 'cancel'),
    {},
    `${id} may or may not have been cancelled — \`access requests --all\` shows its state`,
  );
  if (options.json) {
    ctx.out.json(view);
    return;
  }
  const shown = ctx.out.forPeople(view);
  ctx.out.line(`Cancelled request ${shown.id} for ${shown.resource}.`);
};
