// End to end with real processes: what `access connect` refuses, and what the broker's /v1/tunnel
// refuses when a person skips the CLI and presents their own token. No grant, someone else's grant,
// an expired grant, a target that is down, and a resource at its maxConnections — each a clear
// message, the right exit code, and never a hang or a half-open tunnel.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitForMatch } from '../helpers/processes.js';
import { accessToken, grant, startListener, stopListener, type Person } from '../helpers/tunnel-broker.js';
import { closed, connectTcp, echoRoundTrip } from '../helpers/tunnel-targets.js';
import { startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

/** The broker's connect timeout (broker/tunnel/dial.ts): a refused target must be reported well before it. */
const TARGET_CONNECT_TIMEOUT_MS = 10_000;

let world: TunnelWorld;
let alice: Person;
let carol: Person;

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['alice', 'carol'] });
  ({ alice, carol } = world.people);
});

afterAll(async () => {
  await world?.stop();
});

describe('refusals', () => {
  it('refuses carol, who has no grant on pg while alice has one: exit 3 with the command that asks, psql never runs, and the broker refuses her own token', async () => {
    await grant(alice, 'pg', '30m');
    const result = await carol.run(['connect', 'pg', '--', 'psql', '-X', '-c', 'select 1']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('You have no live grant for pg. Ask for one:\n  access request pg --for 1h --reason "…"');
    expect(result.stderr).toContain('access connect pg --request');
    expect(result.stderr).not.toContain('running psql');

    // Beside the CLI, at the broker: alice's grant is hers alone.
    const refused = await world.api.openTunnel(await accessToken(carol), 'pg');
    expect(refused).toMatchObject({ status: 403, code: 'no_live_grant' });
    expect('message' in refused && refused.message).toContain('You have no live grant for pg. Ask for one: access request pg');
    const hers = await world.api.openTunnel(await accessToken(alice), 'pg');
    expect('open' in hers).toBe(true);
    if ('open' in hers) hers.open.close();
  });

  it('refuses a grant that has expired: the CLI finds no live grant, and the broker names the request and its expiry', async () => {
    const view = await grant(alice, 'echo', '2s');
    await new Promise((resolve) => setTimeout(resolve, Date.parse(view.expiresAt ?? '') - Date.now() + 100));

    const result = await alice.run(['connect', 'echo']);
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('You have no live grant for echo. Ask for one:');

    const refused = await world.api.openTunnel(await accessToken(alice), 'echo');
    expect(refused).toMatchObject({ status: 403, code: 'no_live_grant' });
    expect('message' in refused && refused.message).toMatch(new RegExp(`You have no live grant for echo \\(request ${view.id} .*expired`));
  });

  it('names the target that is down: psql ends at once with its own error, the CLI says which address refused, and nothing waits for a timeout', async () => {
    await grant(alice, 'down', '30m');
    const target = `127.0.0.1:${world.closedPort}`;
    const started = Date.now();
    const result = await alice.run(['connect', 'down', '--', 'psql', '-X', '-c', 'select 1']);
    expect(Date.now() - started).toBeLessThan(TARGET_CONNECT_TIMEOUT_MS);
    // psql's own status: the server closed the connection before answering.
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`refused: The broker cannot connect to down's target ${target}: connect ECONNREFUSED ${target}.`);

    const refused = await world.api.openTunnel(await accessToken(alice), 'down');
    expect(refused).toMatchObject({ status: 502, code: 'target_unreachable' });
  });

  it('refuses a second connection to a resource with maxConnections 1 while the first stays open, and admits one again once it closes', async () => {
    await grant(alice, 'echo-one', '30m');
    const listening = await startListener(alice, 'echo-one');
    const first = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(first, 'first')).toBe('first');

    const second = await connectTcp(listening.host, listening.port);
    await closed(second);
    await waitForMatch(
      listening.run.stderr,
      /#2 \S+ refused: echo-one already has 1 open tunnel, its limit \(maxConnections 1\)\. Close one you no longer use, or try again shortly\./,
    );
    const direct = await world.api.openTunnel(await accessToken(alice), 'echo-one');
    expect(direct).toMatchObject({ status: 429, code: 'too_many_connections' });
    // The refusal ended neither the listener nor the open tunnel.
    expect(await echoRoundTrip(first, 'first, still')).toBe('first, still');

    first.end();
    await waitForMatch(listening.run.stderr, /#1 closed: the client closed the connection/);
    const third = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(third, 'third')).toBe('third');
    third.end();

    expect((await stopListener(listening)).code).toBe(0);
  });
});
