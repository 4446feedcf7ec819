// End to end with real processes: live sessions cut by the broker. A psql session sleeping in the
// machine's PostgreSQL through `access connect pg -- psql` is cut at the grant's absolute expiry
// and within a second of `access revoke`; a member removed from the requester group through the
// dev tenant's Graph loses an open tunnel within the membership re-check interval (2 s in
// test/fixtures/tunnel.yaml). The auditor's view of each session says how and when it ended.
// A cut Postgres session also ends in the server: the broker cancels the running query (a
// CancelRequest with the backend's key), so the backend exits instead of sleeping on for minutes.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditSessionView, AuditShowResponse, RequestView } from '../../shared/wire.js';
import { connectPg, type PgClient } from '../helpers/pg-client.js';
import type { CliRun } from '../helpers/processes.js';
import { accessToken, eventually, grant, startListener, type Person } from '../helpers/tunnel-broker.js';
import { closed, connectTcp, echoRoundTrip } from '../helpers/tunnel-targets.js';
import { startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

/** membershipRecheckSeconds in the fixture. */
const RECHECK_MS = 2_000;
/** The short grant of the expiry test. */
const SHORT_GRANT_MS = 8_000;
/** What a busy two-core machine may add to a timer or a Graph read before a cut lands. */
const SCHEDULING_SLACK_MS = 1_000;
/** The design's promise: every tunnel of a revoked grant closes within a second. */
const REVOKE_CUT_MS = 1_000;
/** application_name of this file's psql sessions, so the server's view of them can be found (and cleaned up). */
const APP_PREFIX = `access-e2e-cut-${process.pid}`;

let world: TunnelWorld;
let alice: Person;
let auditorToken: string;
/** Watches the server directly, beside the tunnel. */
let observer: PgClient;

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['alice', 'bob', 'erin', 'dave'] });
  alice = world.people.alice;
  auditorToken = await accessToken(world.people.dave);
  observer = await connectPg({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test', application_name: `${APP_PREFIX}-observer` });
});

afterAll(async () => {
  // The broker's cancel at a cut ends these backends; this only guards against a test that failed before its cut.
  await observer?.query(`select pg_terminate_backend(pid) from pg_stat_activity where application_name like $1 and pid <> pg_backend_pid()`, [
    `${APP_PREFIX}-%`,
  ]);
  await observer?.end();
  await world?.stop();
});

/** `access connect pg -- psql -c 'select pg_sleep(600)'`: a session that stays busy until it is cut. */
function sleepingPsql(person: Person, app: string): CliRun {
  return person.start(['connect', 'pg', '--', 'psql', '-X', '-c', 'select pg_sleep(600)'], {
    PGAPPNAME: app,
  });
}

/** Resolves with the backend's pid once the server runs the session's pg_sleep: the session is live end to end. */
function sleepingInServer(app: string): Promise<number> {
  return eventually(`psql ${app} to be sleeping in the server`, async () => {
    const { rows } = await observer.query<{ pid: number }>("select pid from pg_stat_activity where application_name = $1 and state = 'active'", [app]);
    return rows.length === 1 ? rows[0]?.pid : undefined;
  });
}

/**
 * Resolves once the server has no backend `pid` any more. `eventually` is only the hang guard: a
 * backend left sleeping would stay for ten minutes, far beyond it.
 */
function goneFromServer(pid: number): Promise<true> {
  return eventually(`backend ${pid} to leave the server`, async () => {
    const { rows } = await observer.query('select 1 from pg_stat_activity where pid = $1', [pid]);
    return rows.length === 0 ? true : undefined;
  });
}

/** The `pg.cancelled` entry of session `id`, once it is written (after the session closed). */
function cancelledEntry(id: string): Promise<Record<string, unknown>> {
  return eventually(`a pg.cancelled entry for session ${id}`, async () => {
    const story = await world.api.get<AuditShowResponse>(auditorToken, `/v1/audit/show/${encodeURIComponent(id)}`);
    return story.entries.find((entry) => entry.type === 'pg.cancelled')?.body;
  });
}

/** The closed session of grant `requestId`, as the auditor sees it. */
function closedSessionOf(requestId: string, resource: string): Promise<AuditSessionView> {
  return world.api.closedSession(auditorToken, resource, (s) => s.requestId === requestId);
}

function ms(iso: string | null | undefined): number {
  if (!iso) throw new Error('expected a time, got none');
  return Date.parse(iso);
}

describe('cuts of a live session', () => {
  it("cuts a sleeping psql at the grant's absolute expiry, long before a full grant's length after the session opened", async () => {
    const view = await grant(alice, 'pg', `${SHORT_GRANT_MS / 1000}s`);
    const expiresAt = ms(view.expiresAt);
    // Open the session halfway through the grant: a cut timed from the session's start would come 4 s late.
    await new Promise((resolve) => setTimeout(resolve, ms(view.grantedAt) + SHORT_GRANT_MS / 2 - Date.now()));
    const app = `${APP_PREFIX}-expiry`;
    const run = sleepingPsql(alice, app);
    const pid = await sleepingInServer(app);
    const openedAt = Date.now();

    const result = await run.done;
    const endedAt = Date.now();
    // psql's exit status passes through: 2, the connection to the server was lost.
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toMatch(/Tunnel to pg closed: access expired at \d/);
    expect(endedAt).toBeGreaterThanOrEqual(expiresAt);
    expect(endedAt).toBeLessThan(openedAt + SHORT_GRANT_MS);

    const session = await closedSessionOf(view.id, 'pg');
    expect(session.endReason).toBe('grantExpired');
    expect(ms(session.closedAt)).toBeGreaterThanOrEqual(expiresAt);
    expect(await goneFromServer(pid)).toBe(true);
    expect(await cancelledEntry(session.id)).toEqual({ backendPid: pid, cut: 'grantExpired' });
  });

  it("cuts a sleeping psql within a second of `access revoke`, and psql's user reads who revoked it and why", async () => {
    const view = await grant(alice, 'pg', '30m');
    const app = `${APP_PREFIX}-revoke`;
    const run = sleepingPsql(alice, app);
    await sleepingInServer(app);

    const revoke = await world.people.bob.run(['revoke', view.id, '--reason', 'INC-77 resolved']);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect(revoke.stdout).toContain(`Revoked ${view.id}: alice@contoso.dev no longer has pg; open sessions are cut within a second.`);

    const result = await run.done;
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain('Tunnel to pg closed: revoked by bob@contoso.dev: INC-77 resolved');

    const revoked = (await alice.json<RequestView[]>(['requests', '--all'])).find((r) => r.id === view.id);
    expect(revoked).toMatchObject({ state: 'revoked', closeReason: 'INC-77 resolved' });
    const session = await closedSessionOf(view.id, 'pg');
    expect(session.endReason).toBe('grantRevoked');
    expect(ms(session.closedAt) - ms(revoked?.closedAt)).toBeLessThanOrEqual(REVOKE_CUT_MS);
  });

  it('ends the revoked session in PostgreSQL too: the broker cancels the running pg_sleep and the backend exits', async () => {
    const view = await grant(alice, 'pg', '30m');
    const app = `${APP_PREFIX}-cancel`;
    const run = sleepingPsql(alice, app);
    const pid = await sleepingInServer(app);

    const revoke = await world.people.bob.run(['revoke', view.id, '--reason', 'INC-78 contained']);
    expect(revoke.code, revoke.stderr).toBe(0);
    expect((await run.done).code).toBe(2);

    // Without the cancel the server would not notice the closed socket until pg_sleep(600) returned.
    expect(await goneFromServer(pid)).toBe(true);
    const session = await closedSessionOf(view.id, 'pg');
    expect(await cancelledEntry(session.id)).toEqual({ backendPid: pid, cut: 'grantRevoked' });
    const logged = `cancelled the running query of backend ${pid} on cut`;
    expect(await eventually('the broker to log the cancel', async () => (world.broker.output().includes(logged) ? true : undefined))).toBe(true);
  });

  it("cuts erin's open tunnel within the re-check interval once Graph says she left the requester group, and opens no new one", async () => {
    const erin = world.people.erin;
    const view = await grant(erin, 'echo', '30m');
    const listening = await startListener(erin, 'echo');
    const socket = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(socket, 'still a member')).toBe('still a member');

    const removing = Date.now();
    await world.directory.removeFromGroup('erin@contoso.dev', 'sg-eng');
    await closed(socket);
    const result = await listening.run.done;
    expect(result.code, result.stderr).toBe(3);
    expect(result.stdout).toContain('Tunnel to echo closed: you are no longer in a group allowed to use echo');

    const session = await closedSessionOf(view.id, 'echo');
    expect(session.endReason).toBe('membershipLost');
    expect(ms(session.closedAt) - removing).toBeLessThanOrEqual(RECHECK_MS + SCHEDULING_SLACK_MS);

    // Her grant has not ended, but the broker asks Graph again for every new tunnel.
    const again = await world.api.openTunnel(await accessToken(erin), 'echo');
    expect(again).toMatchObject({ status: 403, code: 'not_a_requester' });
    expect('message' in again && again.message).toContain(
      `You are no longer in a group allowed to use echo (sg-eng), so grant ${view.id} cannot open a tunnel.`,
    );
  });
});
