// `access audit sessions|show|events|export|verify`: what auditors ask the audit log — members of
// the config's `auditors` groups only; everyone else gets the broker's `not_an_auditor` (exit 3).
//
//   sessions [--user U] [--resource R] [--since 7d] [--until T] [--limit N] [--json|--csv]
//   show ID [--limit N] [--json]          the whole story of a request or a session
//   events [--since …] [--after-seq N] [--follow] [--jsonl]   the raw log; --follow streams new entries
//   export --jsonl [--since …] [--after-seq N]                for a SIEM, resumable from a seq
//   verify [--json]                       recomputes the hash chain: exit 0 with the count and head
//                                         hash, 1 naming the first bad entry
//
// Formatting lives in cli/audit/; these handlers parse flags, call the broker, print.

import { once } from 'node:events';
import { parseDuration } from '../../shared/duration.js';
import { AccessError, ExitCode } from '../../shared/errors.js';
import { PAGE_LIMIT_MAX } from '../../shared/limits.js';
import type { AuditSessionsResponse, AuditSessionView, AuditShowResponse, AuditVerifyResponse } from '../../shared/wire.js';
import { entries, entryLine, localZone } from '../audit/entry-words.js';
import { timeFlag, wholeNumberFlag } from '../audit/flags.js';
import { headSeq, readLog } from '../audit/log-reader.js';
import { sessionsCsv, SESSION_TABLE_HEADERS, sessionTableRow } from '../audit/sessions-format.js';
import { printStory } from '../audit/story.js';
import type { BrokerClient } from '../broker-client.js';
import type { CliContext } from '../context.js';
import { plural, span, timeOfDay } from '../request-format.js';
import { brokerOption, jsonOption, stringOption, type CommandGroupSpec, type CommandSpec, type OptionSpec } from './command.js';

/** Entries of a story shown unless --limit says otherwise (the broker's own default). */
export const SHOW_ENTRIES_DEFAULT = 5000;

/** Sessions listed unless --limit says otherwise: a screenful to read; --since narrows, --limit widens. */
export const SESSIONS_SHOWN = 100;

/** The forms --since and --until take (cli/audit/flags.ts). */
const WHEN = 'a duration back from now (7d, 12h, 30m) or a time (2025-03-04, 2025-03-04T09:30 local, …Z for UTC)';
const sinceOption: OptionSpec = { flags: '--since <when>', description: `only entries written from then on: ${WHEN}` };
const afterSeqOption: OptionSpec = { flags: '--after-seq <n>', description: 'only entries after this sequence number (resume where a previous read ended)' };
const jsonlOption: OptionSpec = { flags: '--jsonl', description: 'print one JSON entry per line (JSON Lines), as the API gives it' };

function optionalTime(options: Record<string, unknown>, name: string): string | undefined {
  const text = stringOption(options, name);
  return text === undefined ? undefined : timeFlag(name, text);
}

/** Waits until stdout has taken what was written, so a slow pipe slows the reading instead of filling memory. */
async function drained(ctx: CliContext): Promise<void> {
  const stdout = ctx.stdio.stdout;
  if (stdout.writableNeedDrain) await once(stdout, 'drain');
}

const sessionsCommand: CommandSpec = {
  name: 'sessions',
  summary: 'tunnel sessions, newest first, filtered by user, resource and time',
  options: [
    { flags: '--user <upn-or-oid>', description: 'only sessions of this person (UPN in any case, or Entra object id)' },
    { flags: '--resource <name>', description: 'only sessions on this resource' },
    { flags: '--since <when>', description: `opened at or after: ${WHEN}` },
    { flags: '--until <when>', description: 'opened before this time (same forms as --since)' },
    { flags: '--limit <n>', description: `at most this many, newest first (default ${SESSIONS_SHOWN})` },
    brokerOption,
    jsonOption,
    { flags: '--csv', description: 'print CSV (RFC 4180) for a spreadsheet' },
  ],
  async run(ctx, options) {
    if (options.json && options.csv) throw new AccessError('usage', 'choose one of --json and --csv');
    const query = new URLSearchParams();
    const user = stringOption(options, 'user');
    const resource = stringOption(options, 'resource');
    const since = optionalTime(options, 'since');
    const until = optionalTime(options, 'until');
    const limit = wholeNumberFlag('limit', stringOption(options, 'limit'), 1, Number.MAX_SAFE_INTEGER) ?? SESSIONS_SHOWN;
    if (user !== undefined) query.set('user', user);
    if (resource !== undefined) query.set('resource', resource);
    if (since !== undefined) query.set('since', since);
    if (until !== undefined) query.set('until', until);
    const { client } = await ctx.connect(stringOption(options, 'broker'));
    // Page by page (a page holds at most PAGE_LIMIT_MAX) until --limit sessions or the last page.
    const sessions: AuditSessionView[] = [];
    let more = false;
    for (let cursor: string | null = null; ; ) {
      query.set('limit', String(Math.min(limit - sessions.length, PAGE_LIMIT_MAX)));
      if (cursor !== null) query.set('cursor', cursor);
      const page: AuditSessionsResponse = await client.get<AuditSessionsResponse>(`/v1/audit/sessions?${query.toString()}`);
      sessions.push(...page.sessions);
      cursor = page.next ?? null;
      // A broker older than cursors says nothing of more: a full page may have more behind it.
      more = page.next === undefined ? sessions.length === limit : cursor !== null;
      if (cursor === null || sessions.length >= limit) break;
    }

    if (options.json) ctx.out.json(sessions);
    else if (options.csv) ctx.stdio.stdout.write(sessionsCsv(sessions));
    else if (sessions.length === 0) ctx.out.line('No sessions match.');
    else ctx.out.table(SESSION_TABLE_HEADERS, sessions.map((s) => sessionTableRow(s, ctx.now())));
    if (more) {
      ctx.out.notice(`Showing the newest ${plural(limit, 'session')}; there may be more — narrow with --since/--until or raise --limit.`);
    }
  },
};

/** Entries of a story asked for per page once the first answer was cut or too large. */
export const STORY_PAGE_ENTRIES = 250;

/**
 * The story of `id`, up to `limit` entries (the broker's default when not given): asked for in one
 * answer first, then page by page (`after_seq`) while the broker says it was cut and more is
 * wanted, halving a page whose answer is too large for the client.
 */
async function readStory(client: Pick<BrokerClient, 'get'>, id: string, limit: number | undefined): Promise<AuditShowResponse> {
  const base = `/v1/audit/show/${encodeURIComponent(id)}`;
  let story: AuditShowResponse | null = null;
  let pageEntries = STORY_PAGE_ENTRIES;
  try {
    story = await client.get<AuditShowResponse>(limit === undefined ? base : `${base}?limit=${limit}`);
  } catch (error) {
    if (!(error instanceof AccessError) || error.code !== 'response_too_large') throw error;
  }
  const wanted = limit ?? SHOW_ENTRIES_DEFAULT;
  while (story === null || (story.truncated && story.entries.length < wanted)) {
    const afterSeq = story?.entries.at(-1)?.seq ?? 0;
    const size = Math.min(pageEntries, wanted - (story?.entries.length ?? 0));
    let page: AuditShowResponse;
    try {
      page = await client.get<AuditShowResponse>(`${base}?limit=${size}&after_seq=${afterSeq}`);
    } catch (error) {
      if (error instanceof AccessError && error.code === 'response_too_large' && pageEntries > 1) {
        pageEntries = Math.ceil(pageEntries / 2);
        continue;
      }
      throw error;
    }
    story = story === null ? page : { ...story, entries: [...story.entries, ...page.entries], truncated: page.truncated };
    if (page.entries.length === 0) break;
  }
  return story;
}

const showCommand: CommandSpec = {
  name: 'show',
  summary: 'the whole story of a request or a session: request, reviews, grant, each connection and query',
  args: '<id>',
  options: [{ flags: '--limit <n>', description: `at most this many entries (default ${SHOW_ENTRIES_DEFAULT})` }, brokerOption, jsonOption],
  async run(ctx, options, [id]) {
    const limit = wholeNumberFlag('limit', stringOption(options, 'limit'), 1, Number.MAX_SAFE_INTEGER);
    const { client } = await ctx.connect(stringOption(options, 'broker'));
    const story = await readStory(client, id ?? '', limit);
    if (options.json) ctx.out.json(story);
    else printStory(story, ctx.now(), ctx.out);
  },
};

const eventsCommand: CommandSpec = {
  name: 'events',
  summary: 'the raw audit log in sequence order; --follow streams new entries as they are written',
  options: [
    sinceOption,
    afterSeqOption,
    { flags: '--follow', description: 'keep printing new entries until Ctrl-C (from now on, unless --since or --after-seq says where to start)' },
    jsonlOption,
    brokerOption,
  ],
  async run(ctx, options) {
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
            ctx.out.notice(`${timeOfDay(ctx.now())}  no answer from the broker (${ctx.out.forPeople(error.message)}) — asking again in ${span(retryInMs)} from after #${at}; nothing is missed`),
          onBack: () => ctx.out.notice(`${timeOfDay(ctx.now())}  the broker answers again`),
        },
        async (page) => {
          for (const entry of page) {
            if (jsonl) ctx.out.jsonLine(entry);
            else ctx.out.line(entryLine(entry));
          }
          await drained(ctx);
        },
      );
    } catch (error) {
      // Ctrl-C while finding the head: a normal stop.
      if (!stop.signal.aborted) throw error;
    } finally {
      stopListening();
    }
    return ExitCode.ok;
  },
};

const exportCommand: CommandSpec = {
  name: 'export',
  summary: 'the audit log as JSON Lines for a SIEM, resumable with --after-seq',
  options: [
    { flags: '--jsonl', description: 'JSON Lines: one entry per line, exactly as the API gives it (the default, and the only format)' },
    sinceOption,
    afterSeqOption,
    brokerOption,
  ],
  async run(ctx, options) {
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
        await drained(ctx);
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
  },
};

const verifyCommand: CommandSpec = {
  name: 'verify',
  summary: 'recompute the hash chain of the audit log and name the first entry that does not hold',
  options: [brokerOption, jsonOption],
  async run(ctx, options) {
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
  },
};

export const auditCommand: CommandGroupSpec = {
  name: 'audit',
  summary: 'read and verify the audit log (auditors only): sessions, show, events, export, verify',
  subcommands: [sessionsCommand, showCommand, eventsCommand, exportCommand, verifyCommand],
};
