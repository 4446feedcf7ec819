// End to end with real processes: break-glass. Olive (on call, not a requester) takes pg-emergency
// at once with a reason; bob, an approver, is told on his `access watch` feed the moment it
// happens; her psql session through the tunnel is marked in the audit log; the grant waits in
// the approvers' post-review list and in `access audit sessions --break-glass` until bob records
// his verdict. Resource pg-emergency of test/fixtures/tunnel.yaml.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditSessionView, AuditShowResponse, RequestsResponse, RequestView } from '../../shared/wire.js';
import { accessToken, eventually, type Person } from '../helpers/tunnel-broker.js';
import { startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

let world: TunnelWorld;
let olive: Person;
let bob: Person;
let dave: Person;

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['olive', 'alice', 'bob', 'dave'] });
  ({ olive, bob, dave } = world.people);
});

afterAll(async () => {
  await world?.stop();
});

async function breakGlassSessions(): Promise<AuditSessionView[]> {
  return dave.json<AuditSessionView[]>(['audit', 'sessions', '--break-glass']);
}

describe('break-glass', () => {
  it('grants at once, tells the approvers, marks the sessions, and waits for a post-review until an approver records it', async () => {
    const watching = bob.start(['watch']);
    await eventually('bob to be watching', async () => (watching.stderr().includes('Watching as bob@contoso.dev') ? true : undefined));

    const noReason = await olive.run(['request', 'pg-emergency', '--break-glass']);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toContain('--break-glass needs --reason');
    const notOnCall = await world.people.alice.run(['request', 'pg-emergency', '--break-glass', '--reason', 'curious']);
    expect(notOnCall.code).toBe(3);
    expect(notOnCall.stderr).toContain('You may not use break-glass access to pg-emergency: only members of sg-oncall may.');

    const taken = await olive.run(['request', 'pg-emergency', '--break-glass', '--for', '10m', '--reason', 'INC-9: orders failing', '--json']);
    expect(taken.code, taken.stderr).toBe(0);
    const grant = JSON.parse(taken.stdout) as RequestView;
    expect(grant).toMatchObject({ state: 'approved', breakGlass: true, postReview: null, autoApproved: false, reviews: [] });
    expect(taken.stderr).toContain(`Break-glass access to pg-emergency granted (${grant.id})`);
    await eventually('bob to be told of the break-glass grant', async () =>
      watching.stdout().includes(`Break-glass ${grant.id} olive@contoso.dev → pg-emergency for 10m`) ? true : undefined,
    );

    const psql = await olive.run(['connect', 'pg-emergency', '--', 'psql', '-X', '-At', '-c', "select 'in an emergency'"]);
    expect(psql.code, psql.stderr).toBe(0);
    expect(psql.stdout).toContain('in an emergency');

    const bobToken = await accessToken(bob);
    expect((await world.api.get<RequestsResponse>(bobToken, '/v1/break-glass')).requests.map((r) => r.id)).toEqual([grant.id]);
    const waiting = await eventually('the session to be closed', async () => {
      const found = (await breakGlassSessions()).find((s) => s.requestId === grant.id);
      return found?.closedAt ? found : undefined;
    });
    expect(waiting).toMatchObject({ breakGlass: true, postReview: null, user: { upn: 'olive@contoso.dev' } });
    const table = await dave.run(['audit', 'sessions', '--break-glass']);
    expect(table.stdout).toMatch(new RegExp(`${grant.id}\\s+waits for post-review`));

    const own = await olive.run(['review', grant.id, '--verdict', 'acceptable', '--comment', 'it was fine']);
    expect(own.code).toBe(3);
    expect(own.stderr).toContain('may not post-review it');
    const verdict = await bob.run(['review', grant.id, '--verdict', 'not-acceptable', '--comment', 'a read replica would have done']);
    expect(verdict.code, verdict.stderr).toBe(0);
    expect(verdict.stdout).toContain(`Post-reviewed break-glass grant ${grant.id}: NOT acceptable (bob@contoso.dev)`);
    const again = await bob.run(['review', grant.id, '--verdict', 'acceptable', '--comment', 'changed my mind']);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('was already post-reviewed by bob@contoso.dev');

    expect((await world.api.get<RequestsResponse>(bobToken, '/v1/break-glass')).requests).toEqual([]);
    const reviewed = (await breakGlassSessions()).find((s) => s.requestId === grant.id);
    expect(reviewed?.postReview).toMatchObject({ verdict: 'not_acceptable', comment: 'a read replica would have done', reviewer: { upn: 'bob@contoso.dev' } });
    expect((await dave.run(['audit', 'sessions', '--break-glass'])).stdout).toMatch(new RegExp(`${grant.id}\\s+NOT acceptable \\(bob@contoso.dev\\)`));
    // Ordinary sessions are not in the break-glass listing.
    expect((await breakGlassSessions()).every((s) => s.breakGlass === true)).toBe(true);

    const story = await world.api.get<AuditShowResponse>(await accessToken(dave), `/v1/audit/show/${grant.id}`);
    const types = story.entries.map((e) => e.type);
    expect(types).toEqual(expect.arrayContaining(['request.created', 'request.break_glass', 'session.opened', 'session.closed', 'request.post_reviewed']));
    expect(story.entries.find((e) => e.type === 'session.opened')?.body).toMatchObject({ breakGlass: true });
    expect(story.entries.find((e) => e.type === 'request.break_glass')?.body).toMatchObject({ reason: 'INC-9: orders failing', breakGlass: true });
    watching.child.kill('SIGINT');
    await watching.done;
  });
});
