// End to end with real processes: what an auditor reads with `access audit`. Against
// `access-broker dev --data DIR` (its built-in demo; demo-echo is a line echo service over TCP):
// alice asks for demo-echo with a reason holding a comma and quotes, bob approves, alice talks to
// the echo service through `access connect demo-echo -- node -e …`; later carol does the same.
// dave (sg-audit) then lists the sessions by user, resource and time, as a table, JSON and CSV;
// reads the story of a request; follows the log live; exports it and resumes the export; verifies
// the chain. Last, the database FILE is edited while the broker is stopped, and after a restart on
// the same --data and port `audit verify` names the entry that was changed.

import { rm } from 'node:fs/promises';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GENESIS_HASH, wireEntryHash } from '../../broker/audit/entry.js';
import type { AuditEntryView, AuditSessionView, AuditShowResponse, AuditVerifyResponse, RequestView } from '../../shared/wire.js';
import { parseCsv } from '../helpers/csv.js';
import { freePort, login, runCli, runCliJson, startCli, startDevBrokerProcess, tempDir, waitForMatch, type DevBrokerProcess } from '../helpers/processes.js';

/** A reason a naive CSV writer would break: a comma and double quotes. */
const REASON = 'INC-7, "the big one": replica lag';
/** A hang guard for what should come at once (a followed entry, a session's end): never a speed claim. */
const HANG_GUARD_MS = 15_000;

const PEOPLE = ['alice', 'bob', 'carol', 'dave'] as const;
type Person = (typeof PEOPLE)[number];

let port: number;
let dataDir: string;
let broker: DevBrokerProcess;
const home = {} as Record<Person, string>;

/** What happened before the auditor looks. */
const story = {
  aliceRequest: null as RequestView | null,
  carolRequest: null as RequestView | null,
  /** An instant between alice's session and carol's (ISO, UTC). */
  between: '',
};

function startBroker(): Promise<DevBrokerProcess> {
  return startDevBrokerProcess(['--data', dataDir], {}, { port });
}

/**
 * The client alice and carol run through the tunnel (`access connect demo-echo -- node -e …`):
 * waits for the service's greeting, sends a line and `quit`, and exits 0 once the line came back.
 */
const ECHO_CLIENT = `
const socket = require('node:net').connect(Number(process.env.ACCESS_PORT), process.env.ACCESS_HOST);
let got = '';
socket.setEncoding('utf8');
socket.on('data', (chunk) => {
  const greeted = got.includes('\\n');
  got += chunk;
  if (!greeted && got.includes('\\n')) socket.write('ping from the audit test\\nquit\\n');
});
socket.on('close', () => process.exit(got.includes('echo: ping from the audit test') ? 0 : 1));
socket.on('error', (error) => { console.error(error.message); process.exit(2); });
`;

async function auditJson<T>(args: string[]): Promise<T> {
  return runCliJson<T>(['audit', ...args], home.dave);
}

async function sessionsOf(user: string): Promise<AuditSessionView[]> {
  return auditJson<AuditSessionView[]>(['sessions', '--user', user]);
}

/** Waits until `user` has a closed session on demo-echo and returns it (the broker records the end as the tunnel closes). */
async function closedSession(user: string): Promise<AuditSessionView> {
  const start = Date.now();
  for (;;) {
    const [latest] = await sessionsOf(user);
    if (latest?.closedAt) return latest;
    if (Date.now() - start > HANG_GUARD_MS) throw new Error(`no closed session of ${user}: ${JSON.stringify(latest)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `who` asks for demo-echo with `reason`, bob approves, `who` connects and talks to the echo service. */
async function requestApproveConnect(who: Person, reason: string): Promise<RequestView> {
  const request = await runCliJson<RequestView>(['request', 'demo-echo', '--for', '30m', '--reason', reason, '--no-wait'], home[who]);
  const approve = await runCli(['approve', request.id], home.bob);
  if (approve.code !== 0) throw new Error(`bob could not approve ${request.id}: ${approve.stderr}`);
  const connect = await runCli(['connect', 'demo-echo', '--', process.execPath, '-e', ECHO_CLIENT], home[who]);
  if (connect.code !== 0) throw new Error(`${who}'s connect exited with ${connect.code}:\n${connect.stdout}\n${connect.stderr}`);
  return request;
}

/** The JSON Lines of an export or a feed. */
function jsonLines(text: string): AuditEntryView[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditEntryView);
}

async function exportAll(args: string[] = []): Promise<{ entries: AuditEntryView[]; stderr: string }> {
  const result = await runCli(['audit', 'export', '--jsonl', ...args], home.dave);
  if (result.code !== 0) throw new Error(`audit export exited with ${result.code}: ${result.stderr}`);
  return { entries: jsonLines(result.stdout), stderr: result.stderr };
}

beforeAll(async () => {
  port = await freePort();
  dataDir = await tempDir('audit-broker');
  broker = await startBroker();
  await Promise.all(
    PEOPLE.map(async (person) => {
      home[person] = await tempDir(`audit-${person}`);
      const result = await login(broker.url, home[person], `${person}@contoso.dev`);
      if (result.code !== 0) throw new Error(`login of ${person} failed: ${result.stderr}`);
    }),
  );
  story.aliceRequest = await requestApproveConnect('alice', REASON);
  await closedSession('alice@contoso.dev');
  story.between = new Date().toISOString();
  story.carolRequest = await requestApproveConnect('carol', 'carol checks the echo service');
  await closedSession('carol@contoso.dev');
});

afterAll(async () => {
  await broker?.stop();
  await Promise.all([dataDir, ...Object.values(home)].filter(Boolean).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('access audit sessions', () => {
  it('finds each session by user (UPN in any case), with its grant, reason, bytes and end', async () => {
    const [alice, ...more] = await sessionsOf('ALICE@contoso.dev');
    expect(more).toEqual([]);
    expect(alice).toMatchObject({
      requestId: story.aliceRequest?.id,
      user: { upn: 'alice@contoso.dev' },
      resource: 'demo-echo',
      reason: REASON,
      endReason: expect.any(String),
    });
    // The greeting and the echo came down, the line and `quit` went up.
    expect(alice?.bytesUp).toBeGreaterThan(0);
    expect(alice?.bytesDown).toBeGreaterThan(alice?.bytesUp ?? 0);
    expect(Date.parse(alice?.closedAt ?? '')).toBeGreaterThanOrEqual(Date.parse(alice?.openedAt ?? ''));

    const carol = await sessionsOf('carol@contoso.dev');
    expect(carol.map((s) => s.requestId)).toEqual([story.carolRequest?.id]);
    expect(await sessionsOf('bob@contoso.dev')).toEqual([]);
  });

  it('filters by resource and by time range, newest first', async () => {
    const echo = await auditJson<AuditSessionView[]>(['sessions', '--resource', 'demo-echo']);
    expect(echo.map((s) => s.user.upn)).toEqual(['carol@contoso.dev', 'alice@contoso.dev']);
    expect(await auditJson<AuditSessionView[]>(['sessions', '--resource', 'demo-db'])).toEqual([]);

    const before = await auditJson<AuditSessionView[]>(['sessions', '--until', story.between]);
    expect(before.map((s) => s.user.upn)).toEqual(['alice@contoso.dev']);
    const after = await auditJson<AuditSessionView[]>(['sessions', '--since', story.between]);
    expect(after.map((s) => s.user.upn)).toEqual(['carol@contoso.dev']);
    const lastHour = await auditJson<AuditSessionView[]>(['sessions', '--since', '1h', '--resource', 'demo-echo', '--user', 'alice@contoso.dev']);
    expect(lastHour.map((s) => s.requestId)).toEqual([story.aliceRequest?.id]);
  });

  it('prints a table for people', async () => {
    const result = await runCli(['audit', 'sessions', '--resource', 'demo-echo'], home.dave);
    expect(result.code, result.stderr).toBe(0);
    const [header, carol, alice] = result.stdout.split('\n');
    expect(header?.split(/\s{2,}/)).toEqual(['SESSION', 'OPENED', 'USER', 'RESOURCE', 'LASTED', 'UP', 'DOWN', 'QUERIES', 'END', 'REASON']);
    expect(carol).toContain('carol@contoso.dev  demo-echo');
    expect(alice).toContain('alice@contoso.dev  demo-echo');
    expect(alice).toContain(REASON);
  });

  it('prints CSV that reads back field for field, the reason with its comma and quotes intact', async () => {
    const result = await runCli(['audit', 'sessions', '--resource', 'demo-echo', '--csv'], home.dave);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout.endsWith('\r\n')).toBe(true);
    const [header, ...rows] = parseCsv(result.stdout);
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
    const records = rows.map((row) => Object.fromEntries((header ?? []).map((name, i) => [name, row[i]])));
    const [json] = await sessionsOf('alice@contoso.dev');
    const alice = records.find((r) => r.user === 'alice@contoso.dev');
    expect(alice).toEqual({
      session_id: json?.id,
      request_id: story.aliceRequest?.id,
      user: 'alice@contoso.dev',
      user_oid: json?.user.oid,
      resource: 'demo-echo',
      target: json?.target,
      client: json?.client,
      opened_at: json?.openedAt,
      closed_at: json?.closedAt,
      bytes_up: String(json?.bytesUp),
      bytes_down: String(json?.bytesDown),
      queries: String(json?.queries),
      end_reason: json?.endReason,
      reason: REASON,
      // Not a break-glass grant: nothing to post-review.
      break_glass: 'no',
      post_review_verdict: '',
      post_reviewer: '',
      post_reviewed_at: '',
      post_review_comment: '',
    });
    expect(records.map((r) => r.user)).toEqual(['carol@contoso.dev', 'alice@contoso.dev']);
  });
});

describe('access audit show', () => {
  it('tells the story of a request: asked, reviewed, granted, the connection opened and closed with its bytes', async () => {
    const id = story.aliceRequest?.id ?? '';
    const json = await auditJson<AuditShowResponse>(['show', id]);
    expect(json).toMatchObject({ id, kind: 'request', requestId: id, truncated: false });
    expect(json.entries.map((e) => e.type)).toEqual(['request.created', 'request.review_recorded', 'request.approved', 'session.opened', 'session.closed']);
    expect(json.entries.map((e) => e.actor?.upn)).toEqual([
      'alice@contoso.dev',
      'bob@contoso.dev',
      'bob@contoso.dev',
      'alice@contoso.dev',
      'alice@contoso.dev',
    ]);

    const text = await runCli(['audit', 'show', id], home.dave);
    expect(text.code, text.stderr).toBe(0);
    const lines = text.stdout.split('\n');
    expect(lines[0]).toBe(`Request ${id} on demo-echo by alice@contoso.dev — 1 session`);
    const [session] = json.sessions;
    expect(text.stdout).toMatch(
      new RegExp(`request\\.created +alice@contoso\\.dev +${id} +asked for 30m — "${REASON.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"`),
    );
    expect(text.stdout).toMatch(/request\.review_recorded +bob@contoso\.dev .* approved/);
    expect(text.stdout).toMatch(/request\.approved +bob@contoso\.dev .* granted, access until .* \(approved by bob@contoso\.dev\)/);
    expect(text.stdout).toMatch(new RegExp(`session\\.opened +alice@contoso\\.dev +${session?.id} +tunnel opened from 127\\.0\\.0\\.1`));
    expect(text.stdout).toContain(
      `tunnel closed (${session?.endReason?.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase()}): ↑${session?.bytesUp} B ↓${session?.bytesDown} B`,
    );
  });

  it('tells the story of a session, naming the request it ran under', async () => {
    const [session] = await sessionsOf('carol@contoso.dev');
    const json = await auditJson<AuditShowResponse>(['show', session?.id ?? '']);
    expect(json).toMatchObject({ kind: 'session', requestId: story.carolRequest?.id });
    expect(json.entries.map((e) => e.type)).toEqual(['request.created', 'request.review_recorded', 'request.approved', 'session.opened', 'session.closed']);
  });
});

describe('access audit events --follow', () => {
  it('prints a new entry as it is written, until Ctrl-C', async () => {
    const follow = startCli(['audit', 'events', '--follow', '--jsonl'], home.dave);
    const head = Number((await waitForMatch(follow.stderr, /Following the audit log after #(\d+)/))[1]);

    const created = await runCliJson<RequestView>(['request', 'demo-echo', '--for', '5m', '--reason', 'followed live', '--no-wait'], home.alice);
    const isCreated = (e: AuditEntryView): boolean => e.type === 'request.created' && e.subject === created.id;
    await waitForMatch(() => (jsonLines(follow.stdout()).some(isCreated) ? 'seen' : ''), /seen/, HANG_GUARD_MS);
    const seen = jsonLines(follow.stdout());
    expect(seen.find(isCreated)).toMatchObject({ actor: { upn: 'alice@contoso.dev' }, resource: 'demo-echo', body: { reason: 'followed live' } });
    // From the head on, in order, nothing twice.
    expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => head + 1 + i));

    follow.child.kill('SIGINT');
    expect((await follow.done).code).toBe(0);
    expect((await runCli(['cancel', created.id], home.alice)).code).toBe(0);
  });

  it('keeps following across a broker restart, missing nothing written before it asks again', async () => {
    const follow = startCli(['audit', 'events', '--follow', '--jsonl'], home.dave);
    const head = Number((await waitForMatch(follow.stderr, /Following the audit log after #(\d+)/))[1]);

    await broker.stop();
    try {
      await waitForMatch(follow.stderr, /no answer from the broker .* nothing is missed/, HANG_GUARD_MS);
    } finally {
      broker = await startBroker();
    }
    // Written at once after the restart, most likely before the feed asks again: it resumes after its last seq.
    const created = await runCliJson<RequestView>(['request', 'demo-echo', '--for', '5m', '--reason', 'after a restart', '--no-wait'], home.alice);
    const isCreated = (e: AuditEntryView): boolean => e.type === 'request.created' && e.subject === created.id;
    await waitForMatch(() => (jsonLines(follow.stdout()).some(isCreated) ? 'seen' : ''), /seen/, HANG_GUARD_MS);
    const seen = jsonLines(follow.stdout());
    expect(seen.map((e) => e.seq)).toEqual(seen.map((_, i) => head + 1 + i));
    expect(follow.stderr()).toMatch(/the broker answers again/);

    follow.child.kill('SIGINT');
    expect((await follow.done).code).toBe(0);
    expect((await runCli(['cancel', created.id], home.alice)).code).toBe(0);
  });
});

describe('access audit export', () => {
  it('exports JSON Lines whose every hash recomputes offline and chains from the genesis hash', async () => {
    const { entries, stderr } = await exportAll();
    expect(entries.length).toBeGreaterThan(10);
    entries.forEach((entry, i) => {
      expect(entry.seq).toBe(i + 1);
      expect(wireEntryHash(entry)).toBe(entry.hash);
      expect(entry.prevHash).toBe(i === 0 ? GENESIS_HASH : entries[i - 1]?.hash);
    });
    const last = entries.at(-1)?.seq;
    expect(stderr).toContain(`Exported ${entries.length} entries (#1 to #${last}) — the next export resumes with --after-seq ${last}`);
  });

  it('resumes with --after-seq: the next export starts right after, with what was written since', async () => {
    const first = await exportAll();
    const last = first.entries.at(-1)?.seq ?? 0;
    const later = await runCliJson<RequestView>(['request', 'demo-echo', '--for', '5m', '--reason', 'after the export', '--no-wait'], home.alice);

    const next = await exportAll(['--after-seq', String(last)]);
    expect(next.entries[0]?.seq).toBe(last + 1);
    expect(next.entries[0]?.prevHash).toBe(first.entries.at(-1)?.hash);
    expect(next.entries.some((e) => e.type === 'request.created' && e.subject === later.id)).toBe(true);

    // From the middle: the same entries as the full export from there on.
    const middle = Math.floor(last / 2);
    const resumed = await exportAll(['--after-seq', String(middle)]);
    expect(resumed.entries.slice(0, last - middle)).toEqual(first.entries.slice(middle));
    expect((await runCli(['cancel', later.id], home.alice)).code).toBe(0);
  });
});

describe('who may read the audit log', () => {
  it('refuses alice, who is not an auditor, with exit 3 and the reason', async () => {
    for (const args of [['sessions'], ['show', story.aliceRequest?.id ?? ''], ['events'], ['export', '--jsonl'], ['verify']]) {
      const result = await runCli(['audit', ...args], home.alice);
      expect(result.code, `audit ${args.join(' ')}`).toBe(3);
      expect(result.stdout).toBe('');
      expect(result.stderr).toBe(
        'error: Only members of the auditor groups (sg-audit) may read the audit log; alice@contoso.dev is not in any of them. Ask an admin to add you to one of those groups.\n',
      );
    }
  });
});

describe('access audit verify', () => {
  it('exits 0 with the count and the head hash, the hash of the head entry', async () => {
    const result = await runCli(['audit', 'verify'], home.dave);
    expect(result.code, result.stderr).toBe(0);
    const match = /The audit log is intact: (\d+) entries, head #(\d+) ([0-9a-f]{64})\n$/.exec(result.stdout);
    expect(match, result.stdout).not.toBeNull();
    const [, count, headSeq, headHash] = match as RegExpExecArray;
    expect(count).toBe(headSeq);
    const { entries } = await exportAll();
    expect(entries[Number(headSeq) - 1]?.hash).toBe(headHash);
  });

  it('names the changed entry after the database file was edited while the broker was stopped', async () => {
    const { entries } = await exportAll();
    const target = entries.find((e) => e.type === 'request.created' && e.subject === story.aliceRequest?.id);
    if (!target) throw new Error("alice's request.created is not in the export");

    await broker.stop();
    const raw = new Sqlite(path.join(dataDir, 'access.db'));
    try {
      // As someone holding the file would: the append-only triggers go first.
      raw.exec('DROP TRIGGER IF EXISTS audit_log_chain; DROP TRIGGER IF EXISTS audit_log_no_update; DROP TRIGGER IF EXISTS audit_log_no_delete;');
      const changed = raw.prepare("UPDATE audit_log SET body = replace(body, 'the big one', 'a small one') WHERE seq = ?").run(target.seq);
      expect(changed.changes).toBe(1);
    } finally {
      raw.close();
    }
    broker = await startBroker();

    const result = await runCli(['audit', 'verify'], home.dave);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(
      `✖ The audit log does not verify: entry #${target.seq} is altered — entry ${target.seq} (request.created) was changed after it was written`,
    );
    expect(result.stdout).toContain(`The ${target.seq - 1} entries before it verify; everything from #${target.seq} on is suspect.`);
    const json = await runCli(['audit', 'verify', '--json'], home.dave);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout) as AuditVerifyResponse).toMatchObject({ ok: false, firstBadSeq: target.seq, problem: 'altered', count: target.seq - 1 });

    // The export shows the edit, and an offline check of it finds the same entry.
    const after = (await exportAll()).entries;
    const edited = after[target.seq - 1];
    expect(edited?.body.reason).toBe('INC-7, "a small one": replica lag');
    expect(after.find((e) => wireEntryHash(e) !== e.hash)?.seq).toBe(target.seq);
  });
});
