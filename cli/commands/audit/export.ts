// `access audit export --jsonl [--since …] [--after-seq N]`: the audit log for a SIEM (auditors
// only), resumable from a seq: the last one exported is printed on stderr.

import { ExitCode } from '../../../shared/errors.js';
import { entries } from '../../audit/entry-words.js';
import { wholeNumberFlag } from '../../audit/flags.js';
import { drained, readLog } from '../../audit/log-reader.js';
import { optionalTime } from '../../audit/options.js';
import { stringOption, type CommandRun } from '../command.js';

export const run: CommandRun = async (ctx, options) => {
  const since = optionalTime(options, 'since');
  const afterSeq = wholeNumberFlag('after-seq', stringOption(options, 'afterSeq'), 0, Number.MAX_SAFE_INTEGER) ?? 0;
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  const stop = new AbortController();
  const stopListening = ctx.onInterrupt(() => stop.abort());
  let count = 0;
  let first: number | null = null;
  let last = afterSeq;
  try {
    last = await readLog(client, { afterSeq, ...(since === undefined ? {} : { since }), signal: stop.signal }, async (page) => {
      first ??= page[0]?.seq ?? null;
      for (const entry of page) ctx.out.jsonLine(entry);
      count += page.length;
      await drained(ctx.stdio.stdout);
    });
  } finally {
    stopListening();
  }
  // On stderr, so stdout stays the export; the seq is what the next export resumes after.
  if (stop.signal.aborted) {
    ctx.out.notice(`Stopped after ${entries(count)} — resume with --after-seq ${last}`);
    return ExitCode.interrupted;
  }
  if (count === 0) ctx.out.notice(`Nothing to export after #${afterSeq}.`);
  else ctx.out.notice(`Exported ${entries(count)} (#${first ?? afterSeq + 1} to #${last}) — the next export resumes with --after-seq ${last}`);
  return ExitCode.ok;
};
