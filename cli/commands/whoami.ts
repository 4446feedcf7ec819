// `access whoami [--json]`: who the broker sees behind this machine user's token.

import type { WhoAmIResponse } from '../../shared/wire.js';
import { clockTime, span } from '../request-format.js';
import { stringOption, type CommandRun } from './command.js';

/** Above this many groups the table shows a count; `--json` always lists them all. */
const MAX_GROUPS_LISTED = 15;

export const run: CommandRun = async (ctx, options) => {
  const { brokerUrl, client, session } = await ctx.connect(stringOption(options, 'broker'));
  const exact = await client.get<WhoAmIResponse>('/v1/whoami');
  if (options.json) {
    ctx.out.json({ ...exact, broker: brokerUrl, tokenStore: session.store.kind });
    return;
  }
  const me = ctx.out.forPeople(exact);
  const expiresIn = Date.parse(me.tokenExpiresAt) - ctx.now();
  const names = me.groups.map((g) => g.displayName);
  const groups =
    names.length === 0
      ? '(none)'
      : names.length > MAX_GROUPS_LISTED
        ? `${names.length} groups (${names.slice(0, 5).join(', ')}, …) — --json lists all`
        : names.join(', ');
  const roles = [me.isAdmin ? 'admin' : '', me.isAuditor ? 'auditor' : ''].filter(Boolean).join(', ') || '(none)';
  const rows: [string, string][] = [
    me.kind === 'app' ? ['Workload', me.name ?? me.oid] : ['User', me.name ? `${me.name} <${me.upn ?? '?'}>` : (me.upn ?? me.oid)],
    ['Object id', me.oid],
    ['Tenant', me.tenantId],
    ['Groups', groups + (me.groupOverage ? ' (token had too many groups to list; read from Microsoft Graph)' : '')],
    ['Roles', roles],
    ['Token', `expires ${clockTime(Date.parse(me.tokenExpiresAt), ctx.now())} (in ${span(expiresIn)}; refreshed automatically)`],
    ['Broker', brokerUrl],
    ['Token store', session.store.description],
  ];
  for (const [label, value] of rows) ctx.out.line(`${ctx.out.bold(label.padEnd(12))}${value}`);
};
