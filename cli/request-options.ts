// What to ask for: the --for / --reason / --ticket flags of `access request` and
// `access connect --request`, and the `POST /v1/requests` body they make.

import { parseDuration } from '../shared/duration.js';
import { AccessError } from '../shared/errors.js';
import type { CreateRequestBody } from '../shared/wire.js';
import { stringOption, type OptionSpec } from './commands/command.js';

/** The flags that describe a request, by their option names. */
export const REQUEST_FLAGS = ['for', 'reason', 'ticket'] as const;

export const requestOptions: readonly OptionSpec[] = [
  { flags: '--for <duration>', description: "how long access lasts once approved, e.g. 30m, 1h, 1h30m (default: the resource's default)" },
  { flags: '--reason <text>', description: 'why you need access (asked on a terminal when the policy requires one)' },
  { flags: '--ticket <id>', description: 'incident or change ticket, e.g. INC-4211 (asked on a terminal when the policy requires one)' },
];

/** The body of `POST /v1/requests` from the command's flags; refuses a malformed --for (usage). */
export function requestBody(resource: string, options: Record<string, unknown>): CreateRequestBody {
  const duration = stringOption(options, 'for');
  if (duration !== undefined && parseDuration(duration) === undefined) {
    throw new AccessError('usage', `--for "${duration}" is not a duration — use e.g. 30m, 1h, 1h30m`);
  }
  const reason = stringOption(options, 'reason');
  const ticket = stringOption(options, 'ticket');
  const breakGlass = options['breakGlass'] === true;
  if (breakGlass && reason === undefined) {
    throw new AccessError('usage', `--break-glass needs --reason: say what the emergency is, e.g. --reason "INC-4211: orders are failing"`);
  }
  return { resource, ...(duration ? { duration } : {}), ...(reason ? { reason } : {}), ...(ticket ? { ticket } : {}), ...(breakGlass ? { breakGlass } : {}) };
}
