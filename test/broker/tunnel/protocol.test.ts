// The per-kind protocol steps on a real tunnel: a postgres tunnel answers the client's SSLRequest
// itself and never forwards it, a tcp tunnel relays the same bytes untouched, and a postgres target
// that refuses the broker's TLS is an HTTP 502 before any WebSocket exists.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resource } from '../requests/harness.js';
import { sslRequest, startup } from './postgres/frontend.js';
import { echo, refusedTunnel, startTarget, startTunnelBroker, TunnelClient, until, type Target, type TunnelBroker } from './harness.js';

let broker: TunnelBroker;
let echoTarget: Target;
/** Answers every first read with 'N': a PostgreSQL server with ssl = off. */
let noSsl: Target;

beforeAll(async () => {
  echoTarget = await startTarget(echo);
  noSsl = await startTarget((socket) => socket.once('data', () => socket.write('N')));
  const at = { target: { host: '127.0.0.1', port: echoTarget.port } };
  broker = await startTunnelBroker([
    resource('pg-echo', { kind: 'postgres', ...at }),
    resource('tcp-echo', { kind: 'tcp', ...at }),
    resource('pg-tls', { kind: 'postgres', target: { host: '127.0.0.1', port: noSsl.port }, targetTls: 'require' }),
  ]);
  for (const name of ['pg-echo', 'tcp-echo', 'pg-tls']) await broker.grant(name);
});

afterAll(async () => {
  await broker.close();
  await Promise.all([echoTarget.close(), noSsl.close()]);
});

async function closed(client: TunnelClient): Promise<void> {
  client.ws.close();
  await client.closed;
  await until(() => broker.runtime.tunnels.connections === 0);
}

describe('tunnel protocol steps', () => {
  it("answers a postgres client's SSLRequest with N itself and relays what follows unchanged", async () => {
    const client = await TunnelClient.open(broker.wsBase, 'pg-echo');
    client.ws.send(sslRequest());
    expect((await client.receive(1)).toString('latin1')).toBe('N');
    const start = startup({ user: 'postgres', database: 'test' });
    client.ws.send(start);
    // The echo target sends back exactly what reached it: the startup message, no SSLRequest.
    expect(await client.receive(1 + start.length)).toEqual(Buffer.concat([Buffer.from('N'), start]));
    await closed(client);
    const [session] = broker.sessions({ resource: 'pg-echo' });
    expect(session).toMatchObject({ bytesUp: start.length, bytesDown: start.length });
  });

  it('relays the same bytes untouched on a tcp tunnel: no protocol step runs', async () => {
    const client = await TunnelClient.open(broker.wsBase, 'tcp-echo');
    client.ws.send(sslRequest());
    expect(await client.receive(8)).toEqual(sslRequest());
    await closed(client);
    const entries = broker.runtime.audit.queries.events().entries;
    expect(entries.filter((entry) => entry.resource === 'tcp-echo' && entry.type.startsWith('pg.'))).toEqual([]);
  });

  it('refuses with 502 target_tls_failed, before any WebSocket, when the database will not do TLS', async () => {
    const refused = await refusedTunnel(broker.wsBase, 'pg-tls', 'good-alice');
    expect(refused).toMatchObject({ status: 502, opened: false, body: { code: 'target_tls_failed' } });
    expect(refused.body.message).toContain(`pg-tls's target 127.0.0.1:${noSsl.port}: the database answered that it does not support SSL`);
    expect(broker.runtime.tunnels.connections).toBe(0);
    expect(broker.sessions({ resource: 'pg-tls' })).toEqual([]);
  });
});
