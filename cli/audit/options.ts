// What several `access audit` commands share: the --since / --after-seq / --jsonl options and
// reading a --since/--until value (cli/audit/flags.ts checks it).

import { stringOption, type OptionSpec } from '../commands/command.js';
import { timeFlag } from './flags.js';

/** The forms --since and --until take (cli/audit/flags.ts). */
export const WHEN = 'a duration back from now (7d, 12h, 30m) or a time (2025-03-04, 2025-03-04T09:30 local, …Z for UTC)';
export const sinceOption: OptionSpec = { flags: '--since <when>', description: `only entries written from then on: ${WHEN}` };
export const afterSeqOption: OptionSpec = {
  flags: '--after-seq <n>',
  description: 'only entries after this sequence number (resume where a previous read ended)',
};
export const jsonlOption: OptionSpec = { flags: '--jsonl', description: 'print one JSON entry per line (JSON Lines), as the API gives it' };

/** The --since/--until value as the API takes it, or undefined when the flag was not given. */
export function optionalTime(options: Record<string, unknown>, name: string): string | undefined {
  const text = stringOption(options, name);
  return text === undefined ? undefined : timeFlag(name, text);
}
