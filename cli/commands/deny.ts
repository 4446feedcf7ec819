// `access deny ID --reason TEXT [--json]`: deny a pending request. The reason is required (the
// requester reads it); on a terminal it is asked for, without one a missing --reason is a usage error.

import { sendReview } from '../review-actions.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options, args) => {
  const id = args[0] ?? '';
  // Settle the reason before any network call: without a terminal a missing one is a usage error.
  const reason =
    stringOption(options, 'reason')?.trim() ||
    (await ctx.prompts.text({ message: `Reason for denying ${id}:`, instead: 'pass --reason TEXT', required: true }));
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  await sendReview(ctx, client, id, { decision: 'deny', comment: reason }, Boolean(options.json));
};
