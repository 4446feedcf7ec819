// Sending a review and saying where the request stands after it: the one way `approve`, `deny`
// and `review` act on a request.

import type { RequestView, ReviewBody } from '../shared/wire.js';
import type { BrokerClient } from './broker-client.js';
import type { CliContext } from './context.js';
import { requestPath, reviewResult } from './request-format.js';

/** Sends one review and prints where the request stands after it (the view as JSON with `json`). */
export async function sendReview(ctx: CliContext, client: BrokerClient, id: string, body: ReviewBody, json: boolean): Promise<RequestView> {
  const view = await client.post<RequestView>(
    requestPath(id, 'review'),
    body,
    `your review of ${id} may or may not have been recorded — \`access approvals\` still lists the request if it was not`,
  );
  if (json) ctx.out.json(view);
  else ctx.out.line(reviewResult(ctx.out.forPeople(view), ctx.now(), ctx.out));
  return view;
}
