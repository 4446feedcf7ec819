// `access audit show ID` for people: one line saying whose request or session this is, its
// sessions (as `audit sessions` lists them), then every entry of the story in log order — the
// request, each review, the grant, each tunnel opening, each query with its time, each closing with
// its bytes and how it ended.

import type { AuditShowResponse } from '../../shared/wire.js';
import type { Output } from '../output.js';
import { plural } from '../request-format.js';
import { describeEntry, entries, localZone, safeCells, timestamp, who } from './entry-words.js';
import { SESSION_TABLE_HEADERS, sessionTableRow } from './sessions-format.js';

/** The first line: "Request r7f3 on demo-db by alice@contoso.dev — 2 sessions". */
export function storyHeadline(story: AuditShowResponse): string {
  const created = story.entries.find((e) => e.type === 'request.created');
  const session = story.sessions.find((s) => s.id === story.id);
  const resource = created?.resource ?? session?.resource ?? story.entries[0]?.resource ?? null;
  const person = created?.actor ?? session?.user ?? null;
  const on = resource ? ` on ${resource}` : '';
  const by = person ? ` by ${who(person)}` : '';
  if (story.kind === 'session') {
    const under = story.requestId ? `, under request ${story.requestId}` : '';
    return `Session ${story.id}${on}${by}${under}`;
  }
  return `Request ${story.id}${on}${by} — ${plural(story.sessions.length, 'session')}`;
}

export function printStory(story: AuditShowResponse, now: number, out: Output): void {
  out.line(out.bold(safeCells([storyHeadline(story)]).join('')));
  if (story.sessions.length > 0) {
    out.line();
    out.table(
      SESSION_TABLE_HEADERS,
      story.sessions.map((s) => sessionTableRow(s, now)),
    );
  }
  out.line();
  out.table(
    ['SEQ', `TIME (${localZone(now)})`, 'EVENT', 'BY', 'SUBJECT', 'WHAT'],
    story.entries.map((e) => safeCells([`#${e.seq}`, timestamp(e.at), e.type, who(e.actor), e.subject ?? '-', describeEntry(e)])),
  );
  if (story.truncated) {
    out.notice(
      `Only the first ${entries(story.entries.length)} of this story are shown — \`--limit N\` shows more, ` +
        `\`access audit export --jsonl --after-seq ${story.entries.at(-1)?.seq ?? 0}\` reads the log from there on.`,
    );
  }
}
