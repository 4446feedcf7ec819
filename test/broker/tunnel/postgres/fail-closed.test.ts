// Fail-closed capture on real sockets: a Postgres tunnel (the real endpoint, relay, preamble and
// query capture over the real audit log) in front of a recording target that acts like a
// TLS-capable PostgreSQL (it answers an SSLRequest with 'S'). Whatever the client sends that the
// capture cannot record ends the session with `unrecordable`, and not one byte of it reaches the
// target: the check comes before the write.

import { mkdtemp, rm } from 'node:fs/promises';
import type net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../../../shared/close-codes.js';
import { resource } from '../../requests/harness.js';
import { startTarget, startTunnelBroker, TunnelClient, until, type Target, type TunnelBroker } from '../harness.js';
import { query, sslRequest, startup } from './frontend.js';

let broker: TunnelBroker;
/** Records every byte; answers 'S' to an SSLRequest, as a PostgreSQL with ssl=on does. */
let database: Target;
const received = new Map<net.Socket, Buffer[]>();

beforeAll(async () => {
  database = await startTarget((socket) => {
    const chunks: Buffer[] = [];
    received.set(socket, chunks);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      if (chunk.equals(sslRequest())) socket.write('S');
    });
  });
  // targetTls is 'disable' (the default): the broker → database leg is plain TCP.
  broker = await startTunnelBroker([resource('pg', { kind: 'postgres', target: { host: '127.0.0.1', port: database.port } })]);
  await broker.grant('pg');
});

afterAll(async () => {
  await broker.close();
  await database.close();
});

/** Everything the database received on the tunnel's connection. */
function atDatabase(): Buffer {
  const socket = database.sockets.at(-1) as net.Socket;
  return Buffer.concat(received.get(socket) ?? []);
}

/** Sends `frame` and resolves with what came back once the broker answered with `bytes` in total. */
async function send(client: TunnelClient, frame: Buffer, bytes?: number): Promise<void> {
  client.ws.send(frame);
  if (bytes !== undefined) await client.receive(bytes);
}

async function entriesOf(sessionId: string): Promise<Array<{ type: string; body: Record<string, unknown> }>> {
  await until(() => broker.sessions().find((s) => s.id === sessionId)?.endedAt != null);
  return broker.runtime.audit.queries.show(sessionId).entries.filter((entry) => entry.subject === sessionId);
}

/** The newest session (ids count up: ses001, ses002…). */
function lastSessionId(): string {
  return broker
    .sessions()
    .map((session) => session.id)
    .sort()
    .at(-1) as string;
}

const START = startup({ user: 'postgres', database: 'test' });

describe('fail-closed Postgres capture', () => {
  it('answers every SSLRequest itself and ends the session at a third, which never reaches the database', async () => {
    const client = await TunnelClient.open(broker.wsBase, 'pg');
    await send(client, sslRequest(), 1);
    await send(client, sslRequest(), 2);
    client.ws.send(sslRequest());
    const closed = await client.closed;
    expect(Buffer.concat(client.received).toString('latin1')).toBe('NN');
    expect(closed.code).toBe(CloseCode.unrecordable);
    expect(closed.reason).toMatch(/encryption request/);
    expect(atDatabase()).toEqual(Buffer.alloc(0));
    const id = lastSessionId();
    const entries = await entriesOf(id);
    expect(broker.sessions().find((session) => session.id === id)).toMatchObject({ reason: 'unrecordable', bytesUp: 0 });
    // The preamble refused before the capture saw a byte: the session's end says why.
    expect(entries.map((entry) => [entry.type, entry.body['endReason'] ?? null, entry.body['detail'] ?? null])).toEqual([
      ['session.opened', null, null],
      ['session.closed', 'unrecordable', closed.reason],
    ]);
  });

  it('ends the session at a TLS ClientHello after startup and forwards none of it', async () => {
    const client = await TunnelClient.open(broker.wsBase, 'pg');
    const select = query('select 1');
    await send(client, START);
    await send(client, select);
    await until(() => atDatabase().length === START.length + select.length);
    // The start of a TLS 1.2 ClientHello record: content type 0x16, version 3.1.
    client.ws.send(Buffer.from('16030100c4010000c00303', 'hex'));
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.unrecordable);
    expect(closed.reason).toMatch(/unknown message type 0x16/);
    expect(atDatabase()).toEqual(Buffer.concat([START, select]));
    const entries = await entriesOf(lastSessionId());
    expect(entries.map((entry) => entry.type)).toEqual(['session.opened', 'pg.startup', 'pg.query', 'pg.unrecordable', 'session.closed']);
    expect(entries[3]?.body).toEqual({ reason: 'unknown message type 0x16', atByte: START.length + select.length + 5 });
  });

  it('forwards nothing of a frame that ends in garbage, not even the query before it', async () => {
    const client = await TunnelClient.open(broker.wsBase, 'pg');
    await send(client, START);
    await until(() => atDatabase().length === START.length);
    client.ws.send(Buffer.concat([query('select 2'), Buffer.from('\x01 not a message')]));
    expect((await client.closed).code).toBe(CloseCode.unrecordable);
    expect(atDatabase()).toEqual(START);
  });

  it('ends the session at a message longer than PostgreSQL accepts, before a byte of it is forwarded', async () => {
    const client = await TunnelClient.open(broker.wsBase, 'pg');
    await send(client, START);
    await until(() => atDatabase().length === START.length);
    client.ws.send(Buffer.from('517fffffff73656c656374', 'hex'));
    const closed = await client.closed;
    expect(closed).toMatchObject({ code: CloseCode.unrecordable, reason: expect.stringMatching(/impossible length/) });
    expect(atDatabase()).toEqual(START);
  });
});

describe('fail-closed Postgres capture, on the way back', () => {
  let dir: string;
  let logBroker: TunnelBroker;
  /** Answers every chunk after the startup message with ANSWER, as a database answers a query. */
  let answering: Target;
  const ANSWER = Buffer.from('answer to a query the log does not hold');

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'access-fail-closed-'));
    answering = await startTarget((socket) => socket.on('data', () => socket.write(ANSWER)));
    logBroker = await startTunnelBroker([resource('pg', { kind: 'postgres', target: { host: '127.0.0.1', port: answering.port } })], {
      dataFile: path.join(dir, 'access.db'),
    });
    await logBroker.grant('pg');
  });

  afterAll(async () => {
    await logBroker.close();
    await answering.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes no answer on when the audit log cannot write the statement it answers, and ends the session', async () => {
    const client = await TunnelClient.open(logBroker.wsBase, 'pg');
    await send(client, START, ANSWER.length);
    // The store starts refusing writes (as on a full disk): another connection to the same file
    // makes every audit append fail.
    const peer = new Database(path.join(dir, 'access.db'));
    peer.exec("CREATE TRIGGER refuse_appends BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END");
    try {
      client.ws.send(query('select 1'));
      const closed = await client.closed;
      expect(closed).toMatchObject({ code: CloseCode.unrecordable, reason: expect.stringMatching(/audit log could not record/) });
      // Only the answer to the startup message reached the client.
      expect(Buffer.concat(client.received)).toEqual(ANSWER);
    } finally {
      peer.exec('DROP TRIGGER refuse_appends');
      peer.close();
    }
  });
});
