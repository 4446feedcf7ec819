// `access approvals [--json]`: the pending requests waiting for your decision.

import type { ApprovalView } from '../../shared/wire.js';
import { allPages } from '../pages.js';
import { actorName, ago, cell, pendingExtension, span } from '../request-format.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options) => {
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const exact = await allPages<'approvals', ApprovalView>(client, '/v1/approvals', 'approvals');
  if (options.json) {
    ctx.out.json(exact);
    return;
  }
  const approvals = ctx.out.forPeople(exact);
  if (approvals.length === 0) {
    ctx.out.line('Nothing waits for your approval.');
    return;
  }
  const now = ctx.now();
  ctx.out.table(
    ['ID', 'REQUESTER', 'RESOURCE', 'FOR', 'REASON', 'TICKET', 'AGE', 'APPROVALS'],
    approvals.map((a) => {
      // A live grant in the queue waits for a decision on its extension: shown as such.
      const extension = pendingExtension(a);
      if (extension) {
        return [
          a.id,
          actorName(a.requester),
          a.resource,
          `+${span(extension.durationMs)} (extension)`,
          cell(extension.reason),
          a.ticket ?? '-',
          ago(extension.requestedAt, now),
          `${extension.approvals}/${extension.approvalsRequired}`,
        ];
      }
      return [
        a.id,
        actorName(a.requester),
        a.resource,
        span(a.durationMs),
        cell(a.reason),
        a.ticket ?? '-',
        ago(a.createdAt, now),
        `${a.approvals}/${a.approvalsRequired}`,
      ];
    }),
  );
  ctx.out.notice(ctx.out.dim('`access approve ID`, `access deny ID --reason TEXT`, or `access review` to go through them one by one'));
};
