// The post-review of break-glass grants (`access review`): what an approver reads about each
// unreviewed break-glass grant, and sending their verdict (acceptable / not acceptable, with a
// comment). Interactive inside `access review`; `access review ID --verdict V --comment TEXT` is
// the same without questions.

import { AccessError } from '../shared/errors.js';
import type { PostReviewBody, PostReviewVerdict, RequestsResponse, RequestView } from '../shared/wire.js';
import type { BrokerClient } from './broker-client.js';
import type { CliContext } from './context.js';
import { accessUntil, actorName, ago, clockTime, postReviewState, requestPath, span, stateLabel } from './request-format.js';

/** --verdict as typed → the wire's verdict. */
const VERDICT_WORDS: Readonly<Record<string, PostReviewVerdict>> = { acceptable: 'acceptable', 'not-acceptable': 'not_acceptable' };

/** Reads --verdict; a usage error names the two words. */
export function verdictFlag(value: string | undefined): PostReviewVerdict {
  const verdict = value === undefined ? undefined : VERDICT_WORDS[value.trim().toLowerCase()];
  if (verdict) return verdict;
  throw new AccessError(
    'usage',
    `--verdict ${value === undefined ? 'is required with an ID' : `"${value}" is not a verdict`} — use --verdict acceptable or --verdict not-acceptable`,
  );
}

/** Unreviewed break-glass grants the caller may post-review, oldest first. */
export async function breakGlassToReview(client: BrokerClient): Promise<RequestView[]> {
  return (await client.get<RequestsResponse>('/v1/break-glass')).requests;
}

/** One break-glass grant as an approver weighs it (already made safe for the terminal). */
export function showBreakGlass(ctx: CliContext, grant: RequestView, index: number, total: number): void {
  const { out } = ctx;
  const now = ctx.now();
  const row = (label: string, value: string): void => out.line(`  ${out.bold(label.padEnd(10))} ${value}`);
  out.line();
  out.line(
    `${out.dim(`[${index + 1}/${total}]`)} ${out.red('Break-glass')} grant ${out.bold(grant.id)} — ${out.bold(grant.resource)} for ${span(grant.durationMs)}`,
  );
  row('Used by', actorName(grant.requester));
  row('Reason', grant.reason ?? '(none given)');
  row('Ticket', grant.ticket ?? '(none)');
  row('Taken', `${ago(grant.createdAt, now)} (${clockTime(Date.parse(grant.createdAt), now)})`);
  row('State', `${stateLabel(grant.state, out)} — ${accessUntil(grant, now)}`);
  row('Sessions', `auditors see every session and query: \`access audit show ${grant.id}\``);
}

/** Sends a verdict and says where the grant stands. */
export async function sendPostReview(ctx: CliContext, client: BrokerClient, id: string, body: PostReviewBody): Promise<RequestView> {
  const view = await client.post<RequestView>(
    `${requestPath(id)}/post-review`,
    body,
    `your post-review of ${id} may or may not have been recorded — \`access review\` still offers the grant if it was not`,
  );
  const shown = ctx.out.forPeople(view);
  ctx.out.line(`${ctx.out.green('✔')} Post-reviewed break-glass grant ${shown.id}: ${postReviewState(shown)}`);
  return view;
}
