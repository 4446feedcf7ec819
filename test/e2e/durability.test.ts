// End to end with real processes: the broker is killed with SIGKILL (no exit handler runs, as in a
// crash or an OOM kill) at several points of a request's life and restarted on the same port with
// the same --data. Whatever was acknowledged before the kill (a created request, a review, a grant)
// must still be there, exactly, and every deadline must still be enforced: those that passed while
// the broker was down at once, the others on time.
//
// The broker runs the short-limits --config fixture: no demo PostgreSQL, so a restart takes about a
// second, and grants of a few seconds are allowed (durations have no minimum).

import { rm } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView, EventMessage, RequestView } from '../../shared/wire.js';
import {
  REPO,
  freePort,
  login,
  runCli,
  runCliJson,
  startCli,
  startDevBrokerProcess,
  tempDir,
  waitForMatch,
  type DevBrokerProcess,
} from '../helpers/processes.js';

const SHORT_LIMITS_CONFIG = path.join(REPO, 'test/fixtures/short-limits.yaml');
/**
 * How long past its deadline the test waits to see a grant expired: a hang guard, not a speed
 * claim. The scheduler arms its timer for the deadline itself; a broker that only swept
 * periodically would be up to MAX_TIMER_DELAY_MS (30 s) late and miss it.
 */
const EXPIRY_WAIT_MS = 10_000;
/** A margin past a deadline before restarting, so the deadline has certainly passed while down. */
const PAST_DEADLINE_MS = 300;

const PEOPLE = ['alice', 'bob', 'carol'] as const;
type Person = (typeof PEOPLE)[number];

let port: number;
let dataDir: string;
let broker: DevBrokerProcess;
let brokerUrl: string;
const home = {} as Record<Person, string>;

function startBroker(): Promise<DevBrokerProcess> {
  return startDevBrokerProcess(['--config', SHORT_LIMITS_CONFIG, '--data', dataDir], {}, { port });
}

beforeAll(async () => {
  port = await freePort();
  dataDir = await tempDir('durable-broker');
  broker = await startBroker();
  brokerUrl = broker.url;
  await Promise.all(
    PEOPLE.map(async (person) => {
      home[person] = await tempDir(`durable-${person}`);
      const result = await login(brokerUrl, home[person], `${person}@contoso.dev`);
      if (result.code !== 0) throw new Error(`login of ${person} failed: ${result.stderr}`);
    }),
  );
});

afterAll(async () => {
  await broker?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

function ms(iso: string | null): number {
  if (iso === null) throw new Error('expected a time, got null');
  return Date.parse(iso);
}

/**
 * SIGKILL, then the same broker again (same --data, same port, so the URL every CLI remembers still
 * works). `whileDown` runs between the two, e.g. to let a deadline pass.
 */
async function crashAndRestart(whileDown: () => Promise<void> = async () => undefined): Promise<void> {
  await broker.kill();
  await whileDown();
  broker = await startBroker();
  expect(broker.url).toBe(brokerUrl);
}

async function requestNoWait(args: string[]): Promise<RequestView> {
  return runCliJson<RequestView>(['request', ...args, '--no-wait'], home.alice);
}

async function approve(id: string, who: Person): Promise<void> {
  const result = await runCli(['approve', id], home[who]);
  expect(result.code, result.stderr).toBe(0);
}

/** Alice's requests, open and closed, by id. */
async function aliceRequests(): Promise<Map<string, RequestView>> {
  const all = await runCliJson<RequestView[]>(['requests', '--all'], home.alice);
  return new Map(all.map((r) => [r.id, r]));
}

async function aliceRequest(id: string): Promise<RequestView> {
  const found = (await aliceRequests()).get(id);
  if (!found) throw new Error(`request ${id} is gone from \`access requests --all\``);
  return found;
}

async function approvalIds(who: Person): Promise<string[]> {
  return (await runCliJson<ApprovalView[]>(['approvals'], home[who])).map((a) => a.id);
}

describe('a broker killed with SIGKILL and restarted with the same --data', () => {
  it('keeps a pending request, and the requester waiting through the crash gets the decision made after it', async () => {
    const waiting = startCli(['request', 'team-db', '--for', '20m', '--reason', 'INC-1: replica lag'], home.alice);
    const id = (await waitForMatch(waiting.stdout, /Request (\S+) PENDING/))[1] as string;
    const before = await aliceRequest(id);

    await crashAndRestart();

    expect(await aliceRequest(id)).toEqual(before);
    expect(await approvalIds('bob')).toContain(id);
    await approve(id, 'bob');
    // Her events stream reconnected to the new broker (and re-read the request): the push arrives.
    const result = await waiting.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Approved by bob@contoso.dev');
  });

  it("keeps the first of two approvals: bob may not approve again, carol's completes the request", async () => {
    const { id } = await requestNoWait(['team-db-critical', '--for', '15m', '--reason', 'CHG-7: failover drill']);
    await approve(id, 'bob');
    const before = await aliceRequest(id);
    expect(before).toMatchObject({ state: 'pending', approvals: 1, reviews: [{ reviewer: { upn: 'bob@contoso.dev' }, decision: 'approve' }] });

    await crashAndRestart();

    expect(await aliceRequest(id)).toEqual(before);
    expect(await approvalIds('bob')).not.toContain(id);
    expect(await approvalIds('carol')).toContain(id);
    const again = await runCli(['approve', id], home.bob);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain(`You already approved request ${id}`);

    await approve(id, 'carol');
    const after = await aliceRequest(id);
    expect(after.state).toBe('approved');
    expect(after.reviews.map((r) => r.reviewer.upn)).toEqual(['bob@contoso.dev', 'carol@contoso.dev']);
  });

  it('keeps a live grant with the same expiry', async () => {
    const { id } = await requestNoWait(['team-db', '--for', '1h', '--reason', 'long investigation']);
    await approve(id, 'bob');
    const before = await aliceRequest(id);
    expect(before.state).toBe('approved');

    await crashAndRestart();

    expect(await aliceRequest(id)).toEqual(before);
    const open = await runCliJson<RequestView[]>(['requests'], home.alice);
    expect(open.map((r) => r.id)).toContain(id);
  });

  it('enforces at restart the deadlines that passed while it was down, and a grant ending after restart on time', async () => {
    // Ends a few seconds after the restart.
    const { id: laterId } = await requestNoWait(['team-db', '--for', '30s', '--reason', 'slightly longer look']);
    await approve(laterId, 'bob');
    // Pending when the broker dies; its 4s requestTtl passes while it is down.
    const unanswered = await requestNoWait(['quick-ttl', '--for', '5m']);
    // Ends while the broker is down. Approved last, so that on a loaded machine the CLI runs in
    // between cannot use up its time before the broker is killed.
    const { id: shortId } = await requestNoWait(['team-db', '--for', '8s', '--reason', 'quick look']);
    await approve(shortId, 'bob');
    const views = await aliceRequests();
    const short = views.get(shortId);
    const later = views.get(laterId);
    expect(short?.state).toBe('approved');
    expect(later?.state).toBe('approved');
    const downUntil = Math.max(ms(short?.expiresAt ?? null), ms(unanswered.pendingUntil)) + PAST_DEADLINE_MS;

    await crashAndRestart(() => sleep(downUntil - Date.now()));

    // Right after the restart, without waiting for anything.
    const afterRestart = await aliceRequests();
    expect(afterRestart.get(shortId)).toEqual({ ...short, state: 'expired', closedAt: short?.expiresAt });
    expect(afterRestart.get(unanswered.id)).toEqual({ ...unanswered, state: 'timed_out', closedAt: unanswered.pendingUntil });
    expect(broker.output()).toContain('deadline passed while the broker was down');
    expect(afterRestart.get(laterId)).toEqual(later);
    const laterEnd = ms(later?.expiresAt ?? null);
    expect(Date.now()).toBeLessThan(laterEnd);

    // The one still running ends at its expiry: alice's feed reports it.
    const watch = startCli(['watch', '--json'], home.alice);
    await waitForMatch(watch.stderr, /Watching as alice@contoso\.dev/);
    const line = await waitForMatch(watch.stdout, new RegExp(`^.*"change":"expired".*"id":"${laterId}".*$`, 'm'), laterEnd - Date.now() + EXPIRY_WAIT_MS);
    const event = JSON.parse(line[0]) as EventMessage & { receivedAt: string };
    expect(event.type === 'request' && event.request.state).toBe('expired');
    // Never early: the grant ends at its absolute expiry, recorded as exactly that instant.
    expect(ms(event.receivedAt)).toBeGreaterThanOrEqual(laterEnd);
    watch.child.kill('SIGINT');
    await watch.done;

    expect(await aliceRequest(laterId)).toEqual({ ...later, state: 'expired', closedAt: later?.expiresAt });
  });
});
