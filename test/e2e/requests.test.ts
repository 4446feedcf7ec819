// End to end with real processes: access requests and approvals between people, each with their
// own ACCESS_HOME, against `access-broker dev` and its built-in demo resources (demo-db: 1 approval
// from sg-dba, reason required, max 4h; demo-db-critical: 2 approvals, ticket ^(INC|CHG)-\d+$,
// max 1h; demo-echo: auto-approved for sg-oncall). The timeout case runs against a second broker
// whose --config fixture has a 4-second requestTtl.

import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView, EventMessage, RequestView } from '../../shared/wire.js';
import {
  REPO,
  login,
  runCli,
  runCliJson,
  startCli,
  startDevBrokerProcess,
  tempDir,
  waitForMatch,
  type CliRun,
  type DevBrokerProcess,
} from '../helpers/processes.js';

const SHORT_LIMITS_CONFIG = path.join(REPO, 'test/fixtures/short-limits.yaml');
/** The requestTtl of quick-ttl in that fixture. */
const QUICK_TTL_MS = 4_000;
const MINUTE_MS = 60_000;
/** The first line `access request` prints while it waits; it carries the request id. */
const PENDING_LINE = /Request (\S+) PENDING/;

const PEOPLE = ['alice', 'bob', 'carol', 'frank', 'grace'] as const;
type Person = (typeof PEOPLE)[number];

let broker: DevBrokerProcess;
const home = {} as Record<Person, string>;

beforeAll(async () => {
  // No --data: the broker keeps its state (and the demo database) in a temporary dir it removes on exit.
  broker = await startDevBrokerProcess();
  // Everyone signs in once for the whole file, at the same time: sign-in is not what is tested here.
  await Promise.all(
    PEOPLE.map(async (person) => {
      home[person] = await tempDir(person);
      const result = await login(broker.url, home[person], `${person}@contoso.dev`);
      if (result.code !== 0) throw new Error(`login of ${person} failed: ${result.stderr}`);
    }),
  );
});

afterAll(async () => {
  await broker?.stop();
});

/** `access request …` left running, as a requester waiting at their terminal; resolves with its id once it printed PENDING. */
async function startWaiting(args: string[], who: string): Promise<{ run: CliRun; id: string }> {
  const run = startCli(['request', ...args], who);
  const match = await Promise.race([
    waitForMatch(run.stdout, PENDING_LINE),
    run.done.then((result) => {
      throw new Error(`access request exited with ${result.code} before waiting:\n${result.stdout}\n${result.stderr}`);
    }),
  ]);
  return { run, id: match[1] as string };
}

/** A pending request made with --no-wait. */
async function requestNoWait(args: string[], who: string): Promise<RequestView> {
  const view = await runCliJson<RequestView>(['request', ...args, '--no-wait'], who);
  expect(view.state).toBe('pending');
  return view;
}

/** One request of the person's, open or closed. */
async function findRequest(who: string, id: string): Promise<RequestView> {
  const all = await runCliJson<RequestView[]>(['requests', '--all'], who);
  const found = all.find((r) => r.id === id);
  if (!found) throw new Error(`request ${id} not in \`access requests --all\`: ${all.map((r) => r.id).join(', ')}`);
  return found;
}

function ms(iso: string | null): number {
  if (iso === null) throw new Error('expected a time, got null');
  return Date.parse(iso);
}

/** The complete JSON lines printed so far (a feed is read line by line). */
function jsonLines(text: string): unknown[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as unknown);
}

describe('a request and its decision, between two people', () => {
  it('lets bob approve what alice waits for: her `access request` ends 0 with the grant, the clock starting at approval', async () => {
    const { run, id } = await startWaiting(['demo-db', '--for', '30m', '--reason', 'INC-4211: stuck migration'], home.alice);

    const approvals = await runCliJson<ApprovalView[]>(['approvals'], home.bob);
    const listed = approvals.find((a) => a.id === id);
    expect(listed).toMatchObject({
      resource: 'demo-db',
      state: 'pending',
      reason: 'INC-4211: stuck migration',
      durationMs: 30 * MINUTE_MS,
      requester: { upn: 'alice@contoso.dev' },
    });

    const before = Date.now();
    const approve = await runCli(['approve', id], home.bob);
    const after = Date.now();
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toContain(`Approved ${id}`);

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Approved by bob@contoso.dev');
    expect(result.stdout).toContain('access until');

    const open = await runCliJson<RequestView[]>(['requests'], home.alice);
    const view = open.find((r) => r.id === id);
    expect(view?.state).toBe('approved');
    expect(view?.reviews).toMatchObject([{ reviewer: { upn: 'bob@contoso.dev' }, decision: 'approve' }]);
    // Granted while bob's `access approve` ran, and for exactly the 30 minutes asked from then on.
    const grantedAt = ms(view?.grantedAt ?? null);
    expect(grantedAt).toBeGreaterThanOrEqual(before);
    expect(grantedAt).toBeLessThanOrEqual(after);
    expect(ms(view?.expiresAt ?? null) - grantedAt).toBe(30 * MINUTE_MS);
    expect(grantedAt).toBeGreaterThan(ms(view?.createdAt ?? null));
  });

  it('ends the waiting requester with exit 3 and the reason when an approver denies', async () => {
    const { run, id } = await startWaiting(['demo-db', '--reason', 'look at prod data'], home.alice);
    const deny = await runCli(['deny', id, '--reason', 'not now'], home.bob);
    expect(deny.code, deny.stderr).toBe(0);

    const result = await run.done;
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('Denied by bob@contoso.dev: not now');
    expect(await findRequest(home.alice, id)).toMatchObject({ state: 'denied', closedBy: { upn: 'bob@contoso.dev' } });
  });

  it('needs two distinct approvers on demo-db-critical: the first leaves alice waiting, a repeat by bob is refused, carol completes it', async () => {
    const { run, id } = await startWaiting(['demo-db-critical', '--for', '20m', '--reason', 'CHG-42: schema change', '--ticket', 'CHG-42'], home.alice);

    const first = await runCli(['approve', id], home.bob);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toContain('(1 of 2)');
    // The requester is told of the partial approval and keeps waiting.
    await waitForMatch(run.stdout, /approved by bob@contoso\.dev \(1 of 2\)/);
    expect(run.child.exitCode).toBeNull();

    const again = await runCli(['approve', id], home.bob);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`You already approved request ${id}`);
    expect(run.child.exitCode).toBeNull();

    const second = await runCli(['approve', id], home.carol);
    expect(second.code, second.stderr).toBe(0);
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Approved by bob@contoso.dev and carol@contoso.dev');

    const view = await findRequest(home.alice, id);
    expect(view.state).toBe('approved');
    expect(view.reviews.map((r) => r.reviewer.upn)).toEqual(['bob@contoso.dev', 'carol@contoso.dev']);
  });

  it('approves an sg-oncall member on demo-echo by policy at once, without waiting for anyone', async () => {
    const result = await runCli(['request', 'demo-echo', '--for', '15m'], home.grace);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Approved by policy');
    expect(result.stdout).not.toContain('PENDING');

    const [view] = await runCliJson<RequestView[]>(['requests'], home.grace);
    expect(view).toMatchObject({ resource: 'demo-echo', state: 'approved', autoApproved: true, reviews: [] });
    expect(view?.grantedAt).toBe(view?.createdAt);
  });
});

describe('refusals', () => {
  it('refuses alice approving her own request (exit 3)', async () => {
    const mine = await requestNoWait(['demo-db', '--reason', 'self-review attempt'], home.alice);
    const result = await runCli(['approve', mine.id], home.alice);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain(`You made request ${mine.id} yourself and may not review it`);
    expect((await findRequest(home.alice, mine.id)).state).toBe('pending');
  });

  it('refuses frank, who is in no requester group (exit 3)', async () => {
    const result = await runCli(['request', 'demo-db', '--reason', 'curious'], home.frank);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('You may not request access to demo-db: only members of sg-eng may');
  });

  it('refuses what breaks the policy with exit 2 and a precise message, creating nothing', async () => {
    const before = await runCliJson<RequestView[]>(['requests', '--all'], home.alice);

    const tooLong = await runCli(['request', 'demo-db', '--for', '5h', '--reason', 'long job'], home.alice);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain('"5h" is longer than demo-db allows (at most 4h)');

    // stdin is not a terminal: the missing reason is a usage error, never a prompt that hangs.
    const noReason = await runCli(['request', 'demo-db', '--for', '10m'], home.alice);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('demo-db requires a reason');

    const badTicket = await runCli(['request', 'demo-db-critical', '--reason', 'hotfix', '--ticket', 'JIRA-7'], home.alice);
    expect(badTicket.code).toBe(2);
    expect(badTicket.stderr).toContain('Ticket "JIRA-7" does not match /^(INC|CHG)-\\d+$/');

    const unknown = await runCli(['request', 'nope-db', '--reason', 'typo'], home.alice);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('No resource named "nope-db". You may request: demo-db, demo-db-critical, demo-db-app, demo-echo.');

    for (const result of [tooLong, noReason, badTicket, unknown]) expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(await runCliJson<RequestView[]>(['requests', '--all'], home.alice)).toHaveLength(before.length);
  });
});

describe('ending a request early', () => {
  it("lets bob, an approver, revoke alice's live grant with a reason she can read", async () => {
    const { id } = await requestNoWait(['demo-db', '--for', '1h', '--reason', 'to be revoked'], home.alice);
    expect((await runCli(['approve', id], home.bob)).code).toBe(0);

    const revoke = await runCli(['revoke', id, '--reason', 'incident closed'], home.bob);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain(`Revoked ${id}: alice@contoso.dev no longer has demo-db`);

    expect(await findRequest(home.alice, id)).toMatchObject({
      state: 'revoked',
      closedBy: { upn: 'bob@contoso.dev' },
      closeReason: 'incident closed',
    });
    const open = await runCliJson<RequestView[]>(['requests'], home.alice);
    expect(open.map((r) => r.id)).not.toContain(id);
  });

  it("lets alice cancel her pending request, which then leaves the approvers' queue", async () => {
    const { id } = await requestNoWait(['demo-db', '--reason', 'changed my mind'], home.alice);
    expect((await runCliJson<ApprovalView[]>(['approvals'], home.bob)).map((a) => a.id)).toContain(id);

    const cancel = await runCli(['cancel', id], home.alice);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout).toContain(`Cancelled request ${id} for demo-db.`);

    expect(await findRequest(home.alice, id)).toMatchObject({ state: 'cancelled', closedBy: { upn: 'alice@contoso.dev' } });
    expect((await runCliJson<ApprovalView[]>(['approvals'], home.bob)).map((a) => a.id)).not.toContain(id);
  });
});

describe('live events', () => {
  it("pushes a new request to bob's `access watch --json` as it is created", async () => {
    const watch = startCli(['watch', '--json'], home.bob);
    // The feed says hello (on stderr) once its subscription exists: nothing after that is missed.
    await waitForMatch(watch.stderr, /Watching as bob@contoso\.dev/);

    const created = await requestNoWait(['demo-db', '--reason', 'watch me'], home.alice);
    const isCreated = (item: unknown): boolean => {
      const event = item as EventMessage;
      return event.type === 'request' && event.change === 'created' && event.request.id === created.id;
    };
    await waitForMatch(() => (jsonLines(watch.stdout()).some(isCreated) ? 'seen' : ''), /seen/, 10_000);
    const event = jsonLines(watch.stdout()).find(isCreated) as EventMessage & { receivedAt: string };
    expect(event.type === 'request' && event.request).toMatchObject({ state: 'pending', requester: { upn: 'alice@contoso.dev' } });
    // Pushed, not polled: `watch` only listens on the events WebSocket; it never asks the broker.
    expect(ms(event.receivedAt)).toBeGreaterThanOrEqual(ms(created.createdAt));

    watch.child.kill('SIGINT');
    expect((await watch.done).code).toBe(0);
  });
});

describe('a request nobody reviews (short-TTL --config broker)', () => {
  let quick: DevBrokerProcess;
  let alice: string;

  beforeAll(async () => {
    quick = await startDevBrokerProcess(['--config', SHORT_LIMITS_CONFIG]);
    alice = await tempDir('alice-ttl');
    const result = await login(quick.url, alice, 'alice@contoso.dev');
    if (result.code !== 0) throw new Error(`login failed: ${result.stderr}`);
  });

  afterAll(async () => {
    await quick?.stop();
  });

  it('times the waiting requester out with exit 5 once the requestTtl passes', async () => {
    const { run, id } = await startWaiting(['quick-ttl', '--for', '10m'], alice);
    const result = await run.done;
    const exitedAt = Date.now();
    expect(result.code, result.stderr).toBe(5);
    expect(result.stdout).toContain(`Request ${id} timed out`);
    expect(result.stdout).toContain('with 0 of 1 approvals');

    const view = await findRequest(alice, id);
    expect(view).toMatchObject({ state: 'timed_out', reviews: [], grantedAt: null });
    // Closed at its deadline exactly, and never before it.
    expect(ms(view.closedAt) - ms(view.createdAt)).toBe(QUICK_TTL_MS);
    expect(exitedAt).toBeGreaterThanOrEqual(ms(view.pendingUntil));
  });
});
