// A real tunnel (broker on port 0, a TCP echo target) leaves its story in the audit log: the
// session opened and closed (bytes, how it ended) next to the request that granted it, and the
// whole chain verifies.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { principal, resource } from '../requests/harness.js';
import { echo, startTarget, startTunnelBroker, TunnelClient, until, type Target, type TunnelBroker } from '../tunnel/harness.js';

let broker: TunnelBroker;
let target: Target;

beforeAll(async () => {
  target = await startTarget(echo);
  broker = await startTunnelBroker([resource('echo', { kind: 'tcp', target: { host: '127.0.0.1', port: target.port } })]);
});

afterAll(async () => {
  await broker.close();
  await target.close();
});

describe('tunnel sessions in the audit log', () => {
  it('records a session with its bytes and end, found by user and resource and told with its request', async () => {
    const grant = await broker.grant('echo');
    const client = await TunnelClient.open(broker.wsBase, 'echo');
    client.ws.send(Buffer.from('hello, database'));
    await client.receive(15);
    client.ws.close();
    await client.closed;
    await until(() => broker.runtime.tunnels.connections === 0);

    const { audit } = broker.runtime;
    const [session] = audit.queries.sessions({ user: 'ALICE@contoso.com', resource: 'echo' });
    expect(session).toMatchObject({ requestId: grant.id, user: { oid: 'alice' }, bytesUp: 15, bytesDown: 15, endReason: 'clientClosed' });
    const story = audit.queries.show(session?.id ?? '');
    expect(story.entries.map((e) => e.type)).toEqual(['request.created', 'request.review_recorded', 'request.approved', 'session.opened', 'session.closed']);
    expect(story.entries.at(-1)?.body).toMatchObject({ bytesUp: 15, bytesDown: 15, endReason: 'clientClosed' });
    expect(await audit.verify()).toMatchObject({ ok: true });
  });

  it('records a revoke before the session it cut', async () => {
    const grant = await broker.grant('echo');
    const client = await TunnelClient.open(broker.wsBase, 'echo');
    await broker.runtime.service.revoke(principal('alice'), grant.id, 'done');
    await client.closed;
    await until(() => broker.runtime.tunnels.connections === 0);
    const story = broker.runtime.audit.queries.show(grant.id);
    expect(story.entries.map((e) => e.type).slice(-3)).toEqual(['session.opened', 'request.revoked', 'session.closed']);
    expect(story.entries.at(-1)?.body).toMatchObject({ endReason: 'grantRevoked' });
  });
});
