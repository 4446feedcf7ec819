// The request/approval commands against the real broker side (request routes, events endpoint,
// SQLite store) on a loopback socket, with the broker tests' fake token verifier: proves the CLI
// and the broker agree on the wire contract, including the pushed decision.

import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { BrokerClient } from '../../../cli/broker-client.js';
import type { BrokerConnection } from '../../../cli/broker-connection.js';
import { BrokerTrust } from '../../../cli/broker-trust.js';
import { eventsUrl, openEventStream } from '../../../cli/events-client.js';
import { HttpTransport } from '../../../shared/http-transport.js';
import { startTestBroker, type TestBroker } from '../../broker/events/broker-harness.js';
import { harness, noTunnels } from './fakes.js';

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker();
});

afterAll(async () => {
  await broker.close();
});

/** A person at their own terminal: the broker's fake verifier accepts `good-<oid>`. */
function as(oid: string): ReturnType<typeof harness> {
  const token = async (): Promise<string> => `good-${oid}`;
  const connection: BrokerConnection = {
    brokerUrl: broker.base,
    session: {} as BrokerConnection['session'],
    client: new BrokerClient(broker.base, new HttpTransport(), token),
    trust: BrokerTrust.publicRoots(),
    openEvents: () => openEventStream({ url: eventsUrl(broker.base), token }),
    openTunnel: noTunnels,
  };
  const h = harness({ connection });
  // These tests read the real clock: the broker stamps times with Date.now.
  h.ctx.now = Date.now;
  return h;
}

/** The id `access request` printed in its PENDING line. */
function pendingId(h: ReturnType<typeof harness>): string {
  const match = /Request (\S+) PENDING/.exec(h.stdout());
  if (!match?.[1]) throw new Error(`no pending line in ${JSON.stringify(h.stdout())}`);
  return match[1];
}

describe('access request and access approve against the broker', () => {
  it('pushes the approval to the waiting requester, who exits 0 with the access window', async () => {
    const alice = as('alice');
    const waiting = alice.run('request', 'prod-db', '--for', '30m', '--reason', 'INC-1: stuck migration');
    await vi.waitFor(() => expect(alice.stdout()).toContain('PENDING'));
    const id = pendingId(alice);
    expect(alice.stdout()).toContain('waiting for 1 approval from sg-dba');

    const bob = as('bob');
    expect(await bob.run('approvals')).toBe(0);
    expect(bob.stdout()).toMatch(new RegExp(`${id} +alice@contoso\\.com +prod-db +30m +INC-1: stuck migration`));
    expect(await bob.run('approve', id, '--comment', 'go')).toBe(0);

    expect(await waiting).toBe(0);
    expect(alice.stdout()).toMatch(/✔ Approved by bob@contoso\.com — access until (?:tomorrow )?\d\d:\d\d \(29m\)/);
    expect(await alice.run('requests')).toBe(0);
    expect(alice.stdout()).toMatch(new RegExp(`${id} +prod-db +APPROVED +30m +until`));
  });

  it('shows a partial approval, then exits 3 with the reason of the deny', async () => {
    const alice = as('alice');
    const waiting = alice.run('request', 'two-key');
    await vi.waitFor(() => expect(alice.stdout()).toContain('PENDING'));
    const id = pendingId(alice);
    expect(await as('bob').run('approve', id)).toBe(0);
    await vi.waitFor(() => expect(alice.stdout()).toContain('approved by bob@contoso.com (1 of 2)'));
    expect(await as('carol').run('deny', id, '--reason', 'use the replica')).toBe(0);
    expect(await waiting).toBe(3);
    expect(alice.stdout()).toContain('✖ Denied by carol@contoso.com: use the replica');
  });

  it('approves an auto-approve group member by policy without waiting', async () => {
    const oscar = as('oscar');
    expect(await oscar.run('request', 'prod-db')).toBe(0);
    // A 1h grant: "(59m)" once a millisecond has passed since the broker stamped it, "(1h)" within the same one.
    expect(oscar.stdout()).toMatch(/^✔ Approved by policy .* — access until (?:tomorrow )?\d\d:\d\d \((?:59m|1h)\)\n$/);
  });

  it("refuses a requester's approval of their own request with exit 3", async () => {
    const alice = as('alice');
    expect(await alice.run('request', 'prod-db', '--no-wait')).toBe(0);
    const id = /Request (\S+) PENDING/.exec(alice.stdout())?.[1] ?? '';
    expect(await alice.run('approve', id)).toBe(3);
    expect(await alice.run('cancel', id)).toBe(0);
  });

  it('feeds a new request to a watching approver', async () => {
    const bob = as('bob');
    const watching = bob.run('watch');
    await vi.waitFor(() => expect(bob.stderr()).toContain('Watching as bob@contoso.com'));
    expect(await as('alice').run('request', 'prod-db', '--no-wait', '--reason', 'INC-2')).toBe(0);
    await vi.waitFor(() => expect(bob.stdout()).toMatch(/New request \S+ alice@contoso\.com → prod-db for 1h — "INC-2"/));
    bob.interrupt();
    expect(await watching).toBe(0);
  });
});
