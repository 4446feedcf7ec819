// `access approve ID [--comment TEXT] [--json]`: approve a pending request you may approve.

import { sendReview } from '../review-actions.js';
import { brokerOption, jsonOption, stringOption, type CommandSpec } from './command.js';

export const approveCommand: CommandSpec = {
  name: 'approve',
  summary: 'approve a pending request',
  args: '<id>',
  options: [{ flags: '--comment <text>', description: 'a note for the requester and the audit log' }, brokerOption, jsonOption],
  async run(ctx, options, args) {
    const comment = stringOption(options, 'comment');
    const { client } = await ctx.connect(stringOption(options, 'broker'));
    await sendReview(ctx, client, args[0] ?? '', { decision: 'approve', ...(comment ? { comment } : {}) }, Boolean(options.json));
  },
};
