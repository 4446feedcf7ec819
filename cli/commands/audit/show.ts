// `access audit show ID [--limit N] [--json]`: the whole story of a request or a session (auditors only).

import type { AuditShowResponse } from '../../../shared/wire.js';
import { wholeNumberFlag } from '../../audit/flags.js';
import { printStory } from '../../audit/story.js';
import { stringOption, type CommandRun } from '../command.js';

export const run: CommandRun = async (ctx, options, [id]) => {
  const limit = wholeNumberFlag('limit', stringOption(options, 'limit'), 1, Number.MAX_SAFE_INTEGER);
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const query = limit === undefined ? '' : `?limit=${limit}`;
  const story = await client.get<AuditShowResponse>(`/v1/audit/show/${encodeURIComponent(id ?? '')}${query}`);
  if (options.json) ctx.out.json(story);
  else printStory(story, ctx.now(), ctx.out);
};
