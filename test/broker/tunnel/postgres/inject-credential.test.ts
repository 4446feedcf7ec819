// The Postgres preamble of a resource with a stored login, against a scripted server on a real
// socket: the client's StartupMessage gets the login's user (its database stays), the broker
// answers the server's MD5 request itself, and the client receives the server's AuthenticationOk
// and what follows, or a FATAL error naming the stored login when the server refuses it. The
// SCRAM exchange against a real PostgreSQL is in test/e2e/pg-credentials.test.ts.

import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { NewAuditEntry } from '../../../../broker/audit/entry.js';
import { databaseCredential } from '../../../../broker/config/database-credentials.js';
import { InjectCredential } from '../../../../broker/tunnel/postgres/inject-credential.js';
import { BackendMessages, md5Password, serverError } from '../../../../broker/tunnel/postgres/login.js';
import { startupParameters } from '../../../../broker/tunnel/postgres/frontend-messages.js';
import type { LoginOutcome, PreambleStep } from '../../../../broker/tunnel/protocol.js';
import { policy } from '../../requests/fixtures.js';

const SALT = Buffer.from([9, 8, 7, 6]);
const credential = databaseCredential({ user: 'app_ro', source: '$RO_PASSWORD', groups: [] }, 'the-secret');
const session = {
  id: 'ses1',
  requestId: 'req1',
  user: { oid: 'alice', upn: 'alice@contoso.com' },
  resource: 'prod-db',
  clientAddress: null,
  target: 'db:5432',
  startedAt: 0,
};

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}
const int32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const AUTH_MD5 = message('R', Buffer.concat([int32(5), SALT]));
const AUTH_OK = message('R', int32(0));
const AFTER_OK = Buffer.concat([
  message('S', Buffer.from('server_version\x0018.0\x00')),
  message('K', Buffer.concat([int32(4242), int32(7)])),
  message('Z', Buffer.from('I')),
]);
const REFUSED = message('E', Buffer.from('SFATAL\0C28P01\0Mpassword authentication failed for user "app_ro"\0\0'));

function startup(params: Record<string, string>): Buffer {
  const body = Buffer.concat([...Object.entries(params).map(([k, v]) => Buffer.from(`${k}\0${v}\0`)), Buffer.from([0])]);
  return Buffer.concat([int32(8 + body.length), int32(196608), body]);
}

let server: net.Server | null = null;
afterEach(() => server?.close());

/** A server that answers the startup with `script(password message)`; resolves with the broker's socket to it and what it received. */
async function scripted(answers: (stage: number, received: Buffer) => Buffer | null): Promise<{ target: net.Socket; received: Buffer[] }> {
  const received: Buffer[] = [];
  server = net.createServer((socket) => {
    let stage = 0;
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      const answer = answers(stage++, chunk);
      if (answer) socket.write(answer);
    });
  });
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const target = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => target.once('connect', resolve));
  return { target, received };
}

function run(target: net.Socket, chunk: Buffer, database: string | null = 'orders'): { step: PreambleStep; entries: NewAuditEntry[] } {
  const entries: NewAuditEntry[] = [];
  const preamble = new InjectCredential(policy({ database }), credential, {
    target,
    credential,
    session,
    record: (entry) => entries.push(entry),
    now: () => 1,
  });
  return { step: preamble.take(chunk, () => undefined), entries };
}

describe('InjectCredential', () => {
  it("puts the login's user in the client's startup, keeps its database, answers MD5 itself, and hands the client AuthenticationOk onwards", async () => {
    const { target, received } = await scripted((stage) => (stage === 0 ? AUTH_MD5 : Buffer.concat([AUTH_OK, AFTER_OK])));
    const { step, entries } = run(target, startup({ user: 'alice', database: 'reports', application_name: 'psql' }));
    if (!('login' in step)) throw new Error(`expected a login, got ${JSON.stringify(step)}`);
    // The relay writes `forward`; here the test does.
    target.write(step.forward);
    const outcome: LoginOutcome = await step.login;
    expect(Object.fromEntries(startupParameters(step.forward.subarray(8)))).toEqual({ user: 'app_ro', database: 'reports', application_name: 'psql' });
    const password = new BackendMessages();
    password.push(received[1] ?? Buffer.alloc(0));
    expect(password.next()?.body.toString()).toBe(`${md5Password('app_ro', 'the-secret', SALT)}\0`);
    expect(outcome).toEqual({ answer: Buffer.concat([AUTH_OK, AFTER_OK]) });
    expect(entries.map((entry) => entry.body)).toEqual([{ dbUser: 'app_ro', credential: '$RO_PASSWORD', method: 'md5', outcome: 'accepted' }]);
    target.destroy();
  });

  it("fills the resource's database when the client names none", async () => {
    const { target } = await scripted(() => AUTH_OK);
    const { step } = run(target, startup({ user: 'alice' }));
    if (!('login' in step)) throw new Error('expected a login');
    expect(Object.fromEntries(startupParameters(step.forward.subarray(8)))).toEqual({ user: 'app_ro', database: 'orders' });
    target.destroy();
  });

  it('turns a refused login into a FATAL error naming the stored login (never the password), and a refusal for the relay', async () => {
    const { target } = await scripted((stage) => (stage === 0 ? AUTH_MD5 : REFUSED));
    const { step, entries } = run(target, startup({ user: 'alice', database: 'orders' }));
    if (!('login' in step)) throw new Error('expected a login');
    target.write(step.forward);
    const outcome = await step.login;
    if (!('refused' in outcome)) throw new Error('expected a refusal');
    const error = new BackendMessages();
    error.push(outcome.answer);
    const fields = serverError(error.next()?.body ?? Buffer.alloc(0));
    expect(fields).toMatchObject({ severity: 'FATAL', code: '28000' });
    expect(fields.message).toBe(
      `the access broker's stored login for prod-db (database user app_ro, password from $RO_PASSWORD) did not work — the database said: password authentication failed for user "app_ro"`,
    );
    expect(outcome.refused).toContain('the database refused the stored login for prod-db (user app_ro)');
    expect(entries[0]?.body).toMatchObject({ outcome: 'refused', reason: '28P01: password authentication failed for user "app_ro"' });
    expect(JSON.stringify([outcome.refused, entries, outcome.answer.toString()])).not.toContain('the-secret');
    target.destroy();
  });

  it('does not send the password in cleartext over a connection without TLS, and says what to do', async () => {
    const { target, received } = await scripted(() => message('R', int32(3)));
    const { step } = run(target, startup({ user: 'alice', database: 'orders' }));
    if (!('login' in step)) throw new Error('expected a login');
    target.write(step.forward);
    const outcome = await step.login;
    expect(outcome).toMatchObject({ refused: expect.stringContaining('asks for the password in cleartext over a connection without TLS') });
    expect(Buffer.concat(received).toString('latin1')).not.toContain('the-secret');
    target.destroy();
  });

  it('passes a CancelRequest through untouched: cancelling needs no login', async () => {
    const { target } = await scripted(() => null);
    const cancel = Buffer.concat([int32(16), int32(80877102), int32(4242), int32(7)]);
    expect(run(target, cancel).step).toEqual({ forward: cancel, done: true });
    target.destroy();
  });

  it('keeps what a pipelining client sent after its startup for after the login, and refuses a startup that is not protocol 3', async () => {
    const { target } = await scripted(() => null);
    const pipelined = run(target, Buffer.concat([startup({ user: 'a' }), Buffer.from('Q')])).step;
    expect(pipelined).toMatchObject({ rest: Buffer.from('Q') });
    const v2 = startup({ user: 'a' });
    v2.writeInt32BE(131072, 4);
    expect(run(target, v2).step).toMatchObject({ refuse: expect.stringContaining('protocol 2.0') });
    target.destroy();
  });
});
