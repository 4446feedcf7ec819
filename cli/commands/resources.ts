// `access resources [--json]`: what you may request or approve, with each policy in brief.

import { formatDuration } from '../../shared/duration.js';
import type { ResourcesResponse, ResourceSummary } from '../../shared/wire.js';
import { stringOption, type CommandRun } from './command.js';

function access(r: ResourceSummary): string {
  const can = [
    r.canRequest ? (r.autoApproved ? 'request (auto-approved)' : 'request') : '',
    r.canApprove ? 'approve' : '',
    r.canBreakGlass ? 'break-glass' : '',
  ].filter(Boolean);
  return can.join(', ') || 'admin';
}

function policy(r: ResourceSummary): string {
  const parts = [`${r.approvals} of ${r.approvers.join('/')}`, `default ${formatDuration(r.defaultDurationMs)}`];
  if (r.reason === 'required') parts.push('reason required');
  if (r.ticketPattern) parts.push(`ticket ${r.ticketPattern}`);
  // An older broker sends no conditions.
  if (r.conditions?.length) parts.push(`conditions: ${r.conditions.join('; ')}`);
  if (r.extendMaxTotalMs) parts.push(`extend to ${formatDuration(r.extendMaxTotalMs)}`);
  if (r.breakGlassMaxDurationMs) parts.push(`break-glass ${formatDuration(r.breakGlassMaxDurationMs)}`);
  return parts.join(', ');
}

export const run: CommandRun = async (ctx, options) => {
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const { resources: exact } = await client.get<ResourcesResponse>('/v1/resources');
  if (options.json) {
    ctx.out.json(exact);
    return;
  }
  const resources = ctx.out.forPeople(exact);
  if (resources.length === 0) {
    ctx.out.line('No resources you can request or approve. Ask your platform team which Entra group grants access.');
    return;
  }
  ctx.out.table(
    ['NAME', 'KIND', 'YOU CAN', 'MAX', 'APPROVAL'],
    resources.map((r) => [r.name, r.kind, access(r), formatDuration(r.maxDurationMs), policy(r)]),
  );
};
