// `access audit sessions [--user U] [--resource R] [--since 7d] [--until T] [--limit N] [--json|--csv]`:
// tunnel sessions, newest first (auditors only; everyone else gets the broker's `not_an_auditor`, exit 3).

import { AccessError } from '../../../shared/errors.js';
import { PAGE_LIMIT_MAX } from '../../../shared/limits.js';
import type { AuditSessionsResponse, AuditSessionView } from '../../../shared/wire.js';
import { wholeNumberFlag } from '../../audit/flags.js';
import { optionalTime } from '../../audit/options.js';
import { sessionsCsv, SESSION_TABLE_HEADERS, sessionTableRow } from '../../audit/sessions-format.js';
import { safeCells } from '../../audit/entry-words.js';
import { plural, postReviewState } from '../../request-format.js';
import { SESSIONS_SHOWN, stringOption, type CommandRun } from '../command.js';

export const run: CommandRun = async (ctx, options) => {
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
  const breakGlass = options['breakGlass'] === true;
  if (breakGlass) query.set('break_glass', '1');
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
  else if (breakGlass)
    // Break-glass sessions carry their grant's post-review state.
    ctx.out.table(
      [...SESSION_TABLE_HEADERS, 'GRANT', 'POST-REVIEW'],
      sessions.map((s) => [...sessionTableRow(s, ctx.now()), ...safeCells([s.requestId ?? '-', postReviewState(s)])]),
    );
  else
    ctx.out.table(
      SESSION_TABLE_HEADERS,
      sessions.map((s) => sessionTableRow(s, ctx.now())),
    );
  if (more) {
    ctx.out.notice(`Showing the newest ${plural(limit, 'session')}; there may be more — narrow with --since/--until or raise --limit.`);
  }
};
