// `access audit events [--since …] [--after-seq N] [--follow] [--jsonl]`: the raw audit log in
// sequence order (auditors only); --follow streams new entries until Ctrl-C.

import { parseDuration } from '../../../shared/duration.js';
import { ExitCode } from '../../../shared/errors.js';
import { entryLine, localZone } from '../../audit/entry-words.js';
import { wholeNumberFlag } from '../../audit/flags.js';
import { drained, headSeq, readLog } from '../../audit/log-reader.js';
import { optionalTime } from '../../audit/options.js';
import { span, timeOfDay } from '../../request-format.js';
import { stringOption, type CommandRun } from '../command.js';

export const run: CommandRun = async (ctx, options) => {
  const since = optionalTime(options, 'since');
  const afterSeqFlag = wholeNumberFlag('after-seq', stringOption(options, 'afterSeq'), 0, Number.MAX_SAFE_INTEGER);
  const follow = Boolean(options.follow);
  const jsonl = Boolean(options.jsonl);
  const { client } = await ctx.connect(stringOption(options, 'broker'));
  // Ctrl-C ends a feed the normal way (exit 0); it also cuts a long poll that is waiting.
  const stop = new AbortController();
  const stopListening = ctx.onInterrupt(() => stop.abort());
  try {
    // `--follow` alone is `tail -f`: what is written from now on.
    const startsAtHead = follow && since === undefined && afterSeqFlag === undefined;
    const afterSeq = startsAtHead ? await headSeq(client, stop.signal) : (afterSeqFlag ?? 0);
    if (follow) {
      const from = since === undefined ? `after #${afterSeq}` : parseDuration(since) === undefined ? `from ${since}` : `from ${since} ago`;
      ctx.out.notice(`Following the audit log ${from}${jsonl ? '' : ` (times in ${localZone(ctx.now())})`} — Ctrl-C stops`);
    }
    await readLog(
      client,
      {
        afterSeq,
        ...(since === undefined ? {} : { since }),
        follow,
        signal: stop.signal,
        onLost: (error, retryInMs, at) =>
          ctx.out.notice(
            `${timeOfDay(ctx.now())}  no answer from the broker (${ctx.out.forPeople(error.message)}) — asking again in ${span(retryInMs)} from after #${at}; nothing is missed`,
          ),
        onBack: () => ctx.out.notice(`${timeOfDay(ctx.now())}  the broker answers again`),
      },
      async (page) => {
        for (const entry of page) {
          if (jsonl) ctx.out.jsonLine(entry);
          else ctx.out.line(entryLine(entry));
        }
        await drained(ctx.stdio.stdout);
      },
    );
  } catch (error) {
    // Ctrl-C while finding the head: a normal stop.
    if (!stop.signal.aborted) throw error;
  } finally {
    stopListening();
  }
  return ExitCode.ok;
};
