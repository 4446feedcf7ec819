// `access approvals [--json]`: the pending requests waiting for your decision.

import type { ApprovalsResponse } from '../../shared/wire.js';
import { actorName, ago, cell, span } from '../request-format.js';
import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options) => {
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const { approvals } = await client.get<ApprovalsResponse>('/v1/approvals');
  if (options.json) {
    ctx.out.json(approvals);
    return;
  }
  if (approvals.length === 0) {
    ctx.out.line('Nothing waits for your approval.');
    return;
  }
  const now = ctx.now();
  ctx.out.table(
    ['ID', 'REQUESTER', 'RESOURCE', 'FOR', 'REASON', 'TICKET', 'AGE', 'APPROVALS'],
    approvals.map((a) => [
      a.id,
      actorName(a.requester),
      a.resource,
      span(a.durationMs),
      cell(a.reason),
      a.ticket ?? '-',
      ago(a.createdAt, now),
      `${a.approvals}/${a.approvalsRequired}`,
    ]),
  );
  ctx.out.notice(ctx.out.dim('`access approve ID`, `access deny ID --reason TEXT`, or `access review` to go through them one by one'));
};
