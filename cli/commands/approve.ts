// `access approve ID [--comment TEXT] [--json]`: approve a pending request you may approve.

import { sendReview } from '../review-actions.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options, args) => {
  const comment = stringOption(options, 'comment');
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  await sendReview(ctx, client, args[0] ?? '', { decision: 'approve', ...(comment ? { comment } : {}) }, Boolean(options.json));
};
