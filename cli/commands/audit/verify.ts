// `access audit verify [--json]`: recomputes the hash chain of the audit log (auditors only):
// exit 0 with the count and head hash, 1 naming the first bad entry.

import { ExitCode } from '../../../shared/errors.js';
import type { AuditVerifyResponse } from '../../../shared/wire.js';
import { entries } from '../../audit/entry-words.js';
import { stringOption, type CommandRun } from '../command.js';

export const run: CommandRun = async (ctx, options) => {
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const exact = await client.get<AuditVerifyResponse>('/v1/audit/verify');
  if (options.json) ctx.out.json(exact);
  const result = ctx.out.forPeople(exact);
  if (result.ok) {
    if (!options.json) {
      ctx.out.line(`${ctx.out.green('✔')} The audit log is intact: ${entries(result.count)}, head #${result.headSeq} ${result.headHash}`);
      ctx.out.notice('Keep the head hash where the broker cannot write (a ticket, your SIEM): a later verify must still pass through it.');
    }
    return ExitCode.ok;
  }
  if (!options.json) {
    ctx.out.line(`${ctx.out.red('✖')} The audit log does not verify: entry #${result.firstBadSeq} is ${result.problem} — ${result.reason}`);
    const before = result.count === 0 ? 'No entry before it verifies' : `The ${entries(result.count)} before it verify`;
    ctx.out.line(`  ${before}; everything from #${result.firstBadSeq} on is suspect.`);
  }
  return ExitCode.error;
};
