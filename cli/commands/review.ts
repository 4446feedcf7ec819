// `access review`: go through the requests waiting for you one by one — who asks, their groups,
// what for, their recent requests on that resource, approvals so far — and approve, deny (with a
// reason) or skip each. Interactive only; scripts use `approvals`, `approve` and `deny`.

import { AccessError, type ErrorCode } from '../../shared/errors.js';
import type { ApprovalView, RequestView } from '../../shared/wire.js';
import type { BrokerClient } from '../broker-client.js';
import { breakGlassToReview, sendPostReview, showBreakGlass, verdictFlag } from '../post-review.js';
import { allPages } from '../pages.js';
import type { CliContext } from '../context.js';
import { accessUntil, actorName, ago, approvers, cell, clockTime, extensionHistoryLine, pendingExtension, span, stateLabel } from '../request-format.js';
import { sendReview } from '../review-actions.js';
import { stringOption, type CommandRun } from './command.js';

/** Above this many groups the review shows a count of the rest; `access approvals --json` lists all. */
const MAX_GROUPS_SHOWN = 15;

/**
 * Refusals about one request that leave the others reviewable: someone else decided first, it
 * was withdrawn, or you may not act on it (any more). Anything else stops the review.
 */
const PER_REQUEST_REFUSALS: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'request_not_pending',
  'already_reviewed',
  'request_not_found',
  'self_review',
  'not_an_approver',
]);

type Decision = 'approve' | 'deny' | 'skip' | 'quit';

const NON_INTERACTIVE =
  '`access review` asks questions and needs a terminal (stdin and stdout) — without one use `access approvals` to list, `access approve ID [--comment TEXT]` and `access deny ID --reason TEXT`, and `access review ID --verdict acceptable|not-acceptable --comment TEXT` for a break-glass grant';

function groupsLine(a: ApprovalView): string {
  const names = a.requesterGroups.map((g) => g.displayName);
  if (names.length === 0) return '(none)';
  if (names.length <= MAX_GROUPS_SHOWN) return names.join(', ');
  return `${names.slice(0, MAX_GROUPS_SHOWN).join(', ')} and ${names.length - MAX_GROUPS_SHOWN} more`;
}

/** An extension of a live grant: what is asked, and the grant's history so far. */
function showExtension(ctx: CliContext, a: ApprovalView, index: number, total: number): boolean {
  const extension = pendingExtension(a);
  if (!extension) return false;
  const { out } = ctx;
  const now = ctx.now();
  const row = (label: string, value: string): void => out.line(`  ${out.bold(label.padEnd(10))} ${value}`);
  out.line();
  out.line(
    `${out.dim(`[${index + 1}/${total}]`)} ${out.yellow('Extension')} of grant ${out.bold(a.id)} — ${out.bold(a.resource)} +${span(extension.durationMs)}`,
  );
  row('Requester', actorName(a.requester));
  row('Groups', groupsLine(a));
  row('Reason', extension.reason ?? '(none given)');
  row('Asked', `${ago(extension.requestedAt, now)}; lapses unanswered when the grant ends`);
  row('Approvals', `${extension.approvals} of ${extension.approvalsRequired} from ${a.approvers.join(' or ') || 'the approvers'}`);
  const grantedAt = a.grantedAt ? clockTime(Date.parse(a.grantedAt), now) : '?';
  row('Grant', `${span(a.durationMs)} granted at ${grantedAt} by ${a.autoApproved ? 'policy' : approvers(a)} — first reason: ${a.reason ?? '(none)'}`);
  row('Now', `${accessUntil(a, now)}; with this extension until ${clockTime(Date.parse(a.expiresAt ?? '') + extension.durationMs, now)}`);
  const earlier = (a.extensions ?? []).filter((e) => e.seq !== extension.seq);
  if (earlier.length === 0) row('History', '(no earlier extensions)');
  earlier.forEach((e, i) => {
    out.line(`  ${out.bold((i === 0 ? 'History' : '').padEnd(10))} ${extensionHistoryLine(e, now, out)}`);
  });
  return true;
}

function show(ctx: CliContext, a: ApprovalView, index: number, total: number): void {
  if (showExtension(ctx, a, index, total)) return;
  const { out } = ctx;
  const now = ctx.now();
  const row = (label: string, value: string): void => out.line(`  ${out.bold(label.padEnd(10))} ${value}`);
  out.line();
  out.line(`${out.dim(`[${index + 1}/${total}]`)} Request ${out.bold(a.id)} — ${out.bold(a.resource)} for ${span(a.durationMs)}`);
  row('Requester', actorName(a.requester));
  row('Groups', groupsLine(a));
  row('Reason', a.reason ?? '(none given)');
  row('Ticket', a.ticket ?? '(none)');
  row('Asked', `${ago(a.createdAt, now)}; times out unanswered at ${clockTime(Date.parse(a.pendingUntil), now)}`);
  const so = a.approvals > 0 ? ` (so far: ${approvers(a)})` : '';
  row('Approvals', `${a.approvals} of ${a.approvalsRequired} from ${a.approvers.join(' or ') || 'the approvers'}${so}`);
  if (a.recent.length === 0) {
    row('Recent', `(no earlier requests for ${a.resource})`);
    return;
  }
  a.recent.forEach((r, i) => {
    const text = `${clockTime(Date.parse(r.createdAt), now)}  ${stateLabel(r.state, out)}  ${span(r.durationMs)}  ${cell(r.reason)}`;
    out.line(`  ${out.bold((i === 0 ? 'Recent' : '').padEnd(10))} ${text}`);
  });
}

type Verdict = 'acceptable' | 'not_acceptable' | 'skip' | 'quit';

/** `access review ID --verdict V --comment TEXT`: one post-review, no questions (asked for the comment on a terminal). */
async function postReviewOne(ctx: CliContext, options: Record<string, unknown>, id: string): Promise<void> {
  const verdict = verdictFlag(stringOption(options, 'verdict'));
  const comment =
    stringOption(options, 'comment') ??
    (ctx.prompts.interactive
      ? await ctx.prompts.text({ message: `What you found about ${ctx.out.forPeople(id)}:`, instead: 'pass --comment TEXT', required: true })
      : undefined);
  if (comment === undefined) throw new AccessError('usage', 'a post-review needs --comment TEXT: say what you found');
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  await sendPostReview(ctx, client, id, { verdict, comment });
}

/** Goes through the unreviewed break-glass grants: how many were post-reviewed and skipped, and whether the approver quit. */
async function postReviewAll(
  ctx: CliContext,
  client: BrokerClient,
  grants: readonly RequestView[],
): Promise<{ reviewed: number; skipped: number; quit: boolean }> {
  const tally = { reviewed: 0, skipped: 0, quit: false };
  for (const [index, grant] of grants.entries()) {
    showBreakGlass(ctx, ctx.out.forPeople(grant), index, grants.length);
    const verdict = await ctx.prompts.select<Verdict>({
      message: `Verdict on break-glass grant ${ctx.out.forPeople(grant.id)}`,
      instead: 'use `access review ID --verdict acceptable|not-acceptable --comment TEXT`',
      choices: [
        { value: 'acceptable', name: 'Acceptable', description: 'the emergency justified it' },
        { value: 'not_acceptable', name: 'Not acceptable', description: 'recorded for follow-up' },
        { value: 'skip', name: 'Skip', description: 'leave it for now (it stays in this list)' },
        { value: 'quit', name: 'Quit' },
      ],
    });
    if (verdict === 'quit') return { ...tally, quit: true };
    if (verdict === 'skip') {
      tally.skipped += 1;
      continue;
    }
    const comment = await ctx.prompts.text({ message: `What you found about ${ctx.out.forPeople(grant.id)}:`, instead: 'pass --comment TEXT', required: true });
    try {
      await sendPostReview(ctx, client, grant.id, { verdict, comment });
      tally.reviewed += 1;
    } catch (error) {
      if (!(error instanceof AccessError) || !PER_REQUEST_REFUSALS.has(error.code)) throw error;
      ctx.out.notice(`${ctx.out.yellow('!')} ${ctx.out.forPeople(error.message)}`);
      tally.skipped += 1;
    }
  }
  return tally;
}

export const run: CommandRun = async (ctx, options, args) => {
  const id = args[0];
  if (id !== undefined) return postReviewOne(ctx, options, id);
  if (!ctx.stdinIsTTY || !ctx.out.interactive || !ctx.prompts.interactive) throw new AccessError('usage', NON_INTERACTIVE);
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const breakGlass = await breakGlassToReview(client);
  const exact = await allPages<'approvals', ApprovalView>(client, '/v1/approvals', 'approvals');
  if (exact.length === 0 && breakGlass.length === 0) {
    ctx.out.line('Nothing waits for your review.');
    return;
  }
  // Break-glass grants first: access was already used, and the post-review is mandatory.
  if (breakGlass.length > 0) {
    const done = await postReviewAll(ctx, client, breakGlass);
    ctx.out.line();
    ctx.out.line(`Post-reviewed: ${done.reviewed} break-glass grant${done.reviewed === 1 ? '' : 's'}, ${done.skipped} skipped.`);
    if (done.quit || exact.length === 0) return;
  }
  const tally = { approved: 0, denied: 0, skipped: 0 };
  for (const [index, a] of exact.entries()) {
    // Shown safely; the id sent back is the broker's own, exactly.
    show(ctx, ctx.out.forPeople(a), index, exact.length);
    const decision = await ctx.prompts.select<Decision>({
      message: `Decision on ${ctx.out.forPeople(a.id)}`,
      instead: 'use `access approve ID` or `access deny ID --reason TEXT`',
      choices: [
        { value: 'approve', name: 'Approve' },
        { value: 'deny', name: 'Deny', description: 'asks for the reason the requester will read' },
        { value: 'skip', name: 'Skip', description: 'leave it for now (or for another approver)' },
        { value: 'quit', name: 'Quit' },
      ],
    });
    if (decision === 'quit') break;
    if (decision === 'skip') {
      tally.skipped += 1;
      continue;
    }
    const comment =
      decision === 'deny'
        ? await ctx.prompts.text({ message: `Reason for denying ${ctx.out.forPeople(a.id)}:`, instead: 'pass --reason TEXT to `access deny`', required: true })
        : undefined;
    try {
      await sendReview(ctx, client, a.id, { decision, ...(comment ? { comment } : {}) }, false);
      if (decision === 'approve') tally.approved += 1;
      else tally.denied += 1;
    } catch (error) {
      if (!(error instanceof AccessError) || !PER_REQUEST_REFUSALS.has(error.code)) throw error;
      ctx.out.notice(`${ctx.out.yellow('!')} ${ctx.out.forPeople(error.message)}`);
      tally.skipped += 1;
    }
  }
  ctx.out.line();
  ctx.out.line(`Reviewed: ${tally.approved} approved, ${tally.denied} denied, ${tally.skipped} skipped.`);
};
