// `access approve ID [--comment TEXT] [--json]`: approve a pending request you may approve. Also the
// one place a review is sent and its result printed (`deny` and `review` use it too).

import type { RequestView, ReviewBody } from '../../shared/wire.js';
import type { BrokerClient } from '../broker-client.js';
import type { CliContext } from '../context.js';
import { requestPath, reviewResult } from '../request-format.js';
import { brokerOption, jsonOption, stringOption, type CommandSpec } from './command.js';

/** Sends one review and prints where the request stands after it (the view as JSON with `json`). */
export async function sendReview(ctx: CliContext, client: BrokerClient, id: string, body: ReviewBody, json: boolean): Promise<RequestView> {
  const view = await client.post<RequestView>(requestPath(id, 'review'), body);
  if (json) ctx.out.json(view);
  else ctx.out.line(reviewResult(ctx.out.forPeople(view), ctx.now(), ctx.out));
  return view;
}

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
