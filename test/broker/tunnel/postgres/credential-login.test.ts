// The relay while the broker logs in with a stored credential, on real sockets (the tunnel
// endpoint, relay and a scripted Postgres server): what the client sends meanwhile waits and
// reaches the server only after the login, in order; a revoke during the login cuts the tunnel
// at once.

import type net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../../../shared/close-codes.js';
import { databaseCredential } from '../../../../broker/config/database-credentials.js';
import { principal, resource } from '../../requests/harness.js';
import { startTarget, startTunnelBroker, TunnelClient, until, type Target, type TunnelBroker } from '../harness.js';

const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
function message(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body]);
}
const STARTUP = (() => {
  const body = Buffer.from('user\0alice\0database\0orders\0\0');
  return Buffer.concat([int32(8 + body.length), int32(196608), body]);
})();
const QUERY = message('Q', Buffer.from('select 1\0'));
const AUTH_MD5 = message('R', Buffer.concat([int32(5), Buffer.from([1, 2, 3, 4])]));
const READY = Buffer.concat([message('R', int32(0)), message('Z', Buffer.from('I'))]);

/** The server's side: every chunk it received, in order, and a gate that holds its MD5 answer. */
interface Script {
  received: Buffer[];
  /** Called with the socket once the password arrived; answers when the test says. */
  onPassword: ((socket: net.Socket) => void) | null;
}
const script: Script = { received: [], onPassword: null };

let broker: TunnelBroker;
let server: Target;

beforeAll(async () => {
  server = await startTarget((socket) => {
    let stage = 0;
    socket.on('data', (chunk: Buffer) => {
      script.received.push(chunk);
      if (stage++ === 0) socket.write(AUTH_MD5);
      else if (stage === 2) script.onPassword?.(socket);
    });
  });
  const credentials = [databaseCredential({ user: 'app', source: '$APP', groups: [] }, 'secret')];
  broker = await startTunnelBroker([
    resource('pg', { target: { host: '127.0.0.1', port: server.port }, credentials }),
    resource('pg-revoked', { target: { host: '127.0.0.1', port: server.port }, credentials }),
  ]);
  await broker.grant('pg');
});

afterAll(async () => {
  await broker.close();
  await server.close();
});

describe('the relay during a stored-credential login', () => {
  it('holds what the client sends during the login and delivers it after, in order', async () => {
    script.received = [];
    let answer: (() => void) | null = null;
    script.onPassword = (socket) => (answer = () => socket.write(READY));
    const client = await TunnelClient.open(broker.wsBase, 'pg');
    client.ws.send(STARTUP);
    await until(() => answer !== null);
    // The client does not wait (a pipelining client): its query must not overtake the login.
    client.ws.send(QUERY);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(Buffer.concat(script.received).includes(QUERY)).toBe(false);
    (answer as unknown as () => void)();
    expect(await client.receive(READY.length)).toEqual(READY);
    await until(() => Buffer.concat(script.received).includes(QUERY));
    const all = Buffer.concat(script.received);
    expect(all.indexOf(QUERY)).toBe(all.length - QUERY.length);
    client.ws.close();
    await client.closed;
  });

  it('holds a query sent in the same frame as the startup until the login is done', async () => {
    script.received = [];
    script.onPassword = (socket) => socket.write(READY);
    const client = await TunnelClient.open(broker.wsBase, 'pg');
    client.ws.send(Buffer.concat([STARTUP, QUERY]));
    expect(await client.receive(READY.length)).toEqual(READY);
    await until(() => Buffer.concat(script.received).includes(QUERY));
    const all = Buffer.concat(script.received);
    // After the startup and the password, never between them.
    expect(all.indexOf(QUERY)).toBe(all.length - QUERY.length);
    client.ws.close();
    await client.closed;
  });

  it('is cut at once by a revoke while the server has not answered the login', async () => {
    const view = await broker.grant('pg-revoked');
    let passwordSeen = false;
    script.onPassword = () => (passwordSeen = true);
    const client = await TunnelClient.open(broker.wsBase, 'pg-revoked');
    client.ws.send(STARTUP);
    await until(() => passwordSeen);
    await broker.runtime.service.revoke(principal('bob'), view.id, 'done');
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.grantRevoked);
  });
});
