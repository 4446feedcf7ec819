// End to end with real processes: `access extend` on a live grant while a real psql session runs
// through `access connect` into the machine's PostgreSQL. With approval (bob approves through the
// CLI) and by policy (none-within), the session outlives the grant's old expiry untouched: the
// tunnel keeps running with the new end, nothing reconnects. A denied extension and one beyond
// maxTotal leave the grant as it was. Resources pg-extend and pg-extend-auto of test/fixtures/tunnel.yaml.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalView, AuditSessionView, RequestView } from '../../shared/wire.js';
import type { CliRun } from '../helpers/processes.js';
import { accessToken, eventually, grant, type Person } from '../helpers/tunnel-broker.js';
import { startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

/** application_name of this file's psql sessions. */
const APP_PREFIX = `access-e2e-extend-${process.pid}`;

let world: TunnelWorld;
let alice: Person;
let bob: Person;
let auditorToken: string;

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['alice', 'bob', 'dave'] });
  alice = world.people.alice;
  bob = world.people.bob;
  auditorToken = await accessToken(world.people.dave);
});

afterAll(async () => {
  await world?.stop();
});

/**
 * psql through the tunnel that sleeps `seconds` in the server and then proves the session still
 * answers: it exits 0 and prints "still connected" only if the tunnel was never cut.
 */
function psqlSleeping(resource: string, seconds: number, app: string): CliRun {
  return alice.start(['connect', resource, '--', 'psql', '-X', '-At', '-c', `select pg_sleep(${seconds})`, '-c', "select 'still connected'"], {
    PGAPPNAME: app,
  });
}

async function grantOf(person: Person, id: string): Promise<RequestView> {
  const found = (await person.json<RequestView[]>(['requests', '--all'])).find((r) => r.id === id);
  if (!found) throw new Error(`grant ${id} is not in ${person.upn}'s requests`);
  return found;
}

function closedSessionOf(requestId: string, resource: string): Promise<AuditSessionView> {
  return world.api.closedSession(auditorToken, resource, (s) => s.requestId === requestId);
}

function ms(iso: string | null | undefined): number {
  if (!iso) throw new Error('expected a time, got none');
  return Date.parse(iso);
}

describe('access extend', () => {
  it('keeps a psql session running across the old expiry once bob approves the extension: no cut, no reconnect', async () => {
    const view = await grant(alice, 'pg-extend', '30s');
    const oldEnd = ms(view.expiresAt);
    // Sleeps past the grant's old end: the session only survives if the extension moved the cut.
    const psql = psqlSleeping('pg-extend', 40, `${APP_PREFIX}-approved`);
    const extending = alice.start(['extend', view.id, '--for', '5m', '--reason', 'migration still running']);
    await eventually('the extension to wait for bob', async () => (extending.stdout().includes(`Extension of ${view.id} (+5m) PENDING`) ? true : undefined));
    const approve = await bob.run(['approve', view.id]);
    expect(approve.code, approve.stderr).toBe(0);
    expect(approve.stdout).toContain(`Extended ${view.id} by 5m — alice@contoso.dev has pg-extend until`);
    const approvedAt = Date.now();
    const extended = await extending.done;
    expect(extended.code, extended.stderr).toBe(0);
    expect(extended.stdout).toContain(`Extended ${view.id} by 5m (approved by bob@contoso.dev)`);
    // The claim needs the approval to land before the old end; on a machine too slow for that, say so.
    expect(approvedAt, 'the extension was approved before the old expiry').toBeLessThan(oldEnd);

    const result = await psql.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('still connected');
    expect(Date.now()).toBeGreaterThan(oldEnd);
    const after = await grantOf(alice, view.id);
    expect(ms(after.expiresAt)).toBe(oldEnd + 5 * 60_000);
    expect(after.extensions?.map((e) => e.state)).toEqual(['approved']);
    const session = await closedSessionOf(view.id, 'pg-extend');
    expect(session.endReason).not.toBe('grantExpired');
  });

  it('shows the extension to bob as such in approvals and watch, with the grant it belongs to', async () => {
    const view = await grant(alice, 'pg-extend', '20m');
    const watching = bob.start(['watch']);
    await eventually('bob to be watching', async () => (watching.stderr().includes('Watching as bob@contoso.dev') ? true : undefined));
    const asked = await alice.run(['extend', view.id, '--for', '15m', '--reason', 'report still running', '--no-wait']);
    expect(asked.code, asked.stderr).toBe(0);
    const queue = await bob.json<ApprovalView[]>(['approvals']);
    const waiting = queue.find((a) => a.id === view.id);
    expect(waiting).toMatchObject({ state: 'approved', expiresAt: view.expiresAt });
    expect(waiting?.extensions?.at(-1)).toMatchObject({ state: 'pending', durationMs: 15 * 60_000, reason: 'report still running', approvalsRequired: 1 });
    const table = await bob.run(['approvals']);
    expect(table.stdout).toMatch(new RegExp(`${view.id}\\s+alice@contoso.dev\\s+pg-extend\\s+\\+15m \\(extension\\)\\s+report still running`));
    await eventually('bob to see the extension request', async () =>
      watching.stdout().includes(`Extension request ${view.id} alice@contoso.dev → pg-extend +15m`) ? true : undefined,
    );
    expect((await bob.run(['approve', view.id])).code).toBe(0);
    await eventually('bob to see the extension approved', async () =>
      watching.stdout().includes(`${view.id} alice@contoso.dev → pg-extend: extended by 15m (bob@contoso.dev)`) ? true : undefined,
    );
    watching.child.kill('SIGINT');
    await watching.done;
  });

  it('extends by policy within none-within at once, and the psql session outlives the old expiry', async () => {
    const view = await grant(alice, 'pg-extend-auto', '20s');
    const oldEnd = ms(view.expiresAt);
    const psql = psqlSleeping('pg-extend-auto', 30, `${APP_PREFIX}-policy`);
    const extended = await alice.run(['extend', view.id, '--for', '10m']);
    expect(extended.code, extended.stderr).toBe(0);
    expect(extended.stdout).toContain(`Extended ${view.id} by 10m (approved by policy)`);
    expect(Date.now(), 'the extension was approved before the old expiry').toBeLessThan(oldEnd);

    const result = await psql.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('still connected');
    expect(Date.now()).toBeGreaterThan(oldEnd);
    expect(ms((await grantOf(alice, view.id)).expiresAt)).toBe(oldEnd + 10 * 60_000);

    // Beyond 10 minutes of extra time the policy no longer approves: bob must.
    const more = await alice.run(['extend', view.id, '--for', '1m', '--no-wait']);
    expect(more.code, more.stderr).toBe(0);
    expect(more.stdout).toContain(`Extension of ${view.id} (+1m) PENDING — waiting for 1 approval from sg-dba`);
  });

  it('leaves the grant as it was when bob denies the extension, and refuses one beyond maxTotal', async () => {
    const view = await grant(alice, 'pg-extend', '30m');
    const extending = alice.start(['extend', view.id, '--for', '10m', '--reason', 'one more check']);
    await eventually('the extension to wait for bob', async () => (extending.stdout().includes('PENDING') ? true : undefined));
    const deny = await bob.run(['deny', view.id, '--reason', 'hand over to the night shift']);
    expect(deny.code, deny.stderr).toBe(0);
    const denied = await extending.done;
    expect(denied.code).toBe(3);
    expect(denied.stdout).toContain(`Extension of ${view.id} denied by bob@contoso.dev: hand over to the night shift — the grant is unchanged`);
    const after = await grantOf(alice, view.id);
    expect(after).toMatchObject({ state: 'approved', expiresAt: view.expiresAt });
    expect(after.extensions?.map((e) => e.state)).toEqual(['denied']);

    const tooLong = await alice.run(['extend', view.id, '--for', '31m']);
    expect(tooLong.code).toBe(2);
    expect(tooLong.stderr).toContain(`31m more would make grant ${view.id} last longer than pg-extend allows with extensions (1h from its approval`);
    expect(tooLong.stderr).toContain('ask for 30m or less');
    expect((await grantOf(alice, view.id)).expiresAt).toBe(view.expiresAt);

    const notTheirs = await bob.run(['extend', view.id, '--for', '5m']);
    expect(notTheirs.code).toBe(3);
    expect(notTheirs.stderr).toContain(`Only alice@contoso.dev, who holds grant ${view.id}, may extend it`);
  });
});
