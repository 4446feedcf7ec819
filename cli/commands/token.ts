// `access token`: prints the signed-in person's (or workload's) current access token for the broker's
// API, refreshed when needed, for a script or curl in front of a proxy that asks the broker
// (README, "Forward-auth"): curl -H "Authorization: Bearer $(access token)" https://grafana.internal/

import { stringOption, type CommandRun } from './command.js';

export const run: CommandRun = async (ctx, options) => {
  const { session } = await ctx.connect(stringOption(options, 'broker'));
  ctx.out.line(await session.accessToken());
};
