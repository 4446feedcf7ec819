// `access requests [--all] [--json]`: your requests — by default the open ones (pending and
// approved), with --all the closed ones too — newest first.

import type { RequestView } from '../../shared/wire.js';
import { allPages } from '../pages.js';
import { cell, span, stateLabel, untilOrAge } from '../request-format.js';
import { stringOption, type CommandRun } from './command.js';

/** What "open" means for the default listing: waiting for a decision, or access being held. */
const OPEN_STATES = 'pending,approved';

export const run: CommandRun = async (ctx, options) => {
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const path = options.all ? '/v1/requests' : `/v1/requests?state=${OPEN_STATES}`;
  const exact = await allPages<'requests', RequestView>(client, path, 'requests');
  if (options.json) {
    ctx.out.json(exact);
    return;
  }
  const requests = ctx.out.forPeople(exact);
  if (requests.length === 0) {
    ctx.out.line(
      options.all
        ? 'You have no requests. `access request NAME` asks for access.'
        : 'No open requests. `access requests --all` shows closed ones; `access request NAME` asks for access.',
    );
    return;
  }
  const now = ctx.now();
  ctx.out.table(
    ['ID', 'RESOURCE', 'STATE', 'FOR', 'UNTIL/AGE', 'REASON'],
    requests.map((r) => [r.id, r.resource, stateLabel(r.state, ctx.out), span(r.durationMs), untilOrAge(r, now), cell(r.reason)]),
  );
};
