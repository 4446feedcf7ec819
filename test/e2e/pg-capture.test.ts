// Query capture through the real tunnel with real clients: psql and the pg driver, through the
// CLI's listener (the code behind `access connect`), a broker on port 0 (the real tunnel endpoint,
// audit log and store) and the machine's PostgreSQL (127.0.0.1:5432, user postgres, database test,
// trust). Each client connection is one session; its audit story must hold the statements it sent,
// in order, with their parameters. A second resource reaches the same database through a TLS
// front (SSLRequest → 'S' → TLS, then plain to PostgreSQL) with `targetTls: verify-full`.
//
// About sslmode: the broker always answers a client's SSLRequest with 'N' (the client → broker leg
// is inside the WebSocket's TLS, and the broker must read the queries). So sslmode=prefer (libpq's
// default) connects in plaintext to the tunnel, and sslmode=require fails at once with libpq's
// "server does not support SSL, but SSL was required" — the documented behaviour.
//
// Fail closed: a third resource reaches the TLS front with the default `targetTls: disable`, a
// TLS-capable database behind a plain leg. A client that keeps sending SSLRequests must not get one
// through to it (it would answer 'S' and the session would run in TLS the log cannot read), and
// bytes the capture cannot record end the session before they reach the database.

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// @ts-expect-error -- pg has no type declarations; the little used here is typed below.
import pg from 'pg';
import { TunnelListener } from '../../cli/tunnel/listener.js';
import { openTunnel } from '../../cli/tunnel/tunnel-client.js';
import type { SessionRecord } from '../../broker/store/session-store.js';
import type { AuditEntryView } from '../../shared/wire.js';
import { resource } from '../broker/requests/harness.js';
import { startTunnelBroker, until, type TunnelBroker } from '../broker/tunnel/harness.js';
import { tempDir } from '../helpers/processes.js';
import { createTestCa } from '../helpers/test-ca.js';
import { startTlsFront, type TlsFront } from '../helpers/pg-tls-front.js';

const POSTGRES = { host: '127.0.0.1', port: 5432 };

interface PgClient {
  connect(): Promise<void>;
  query(config: string | { text: string; values?: unknown[]; name?: string }): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): void;
}
const { Client } = pg as { Client: new (options: Record<string, unknown>) => PgClient };

let broker: TunnelBroker;
let tlsFront: TlsFront;
type ListenerName = 'pg' | 'pg-tls' | 'pg-front';
const listeners: Record<ListenerName, TunnelListener> = {} as Record<ListenerName, TunnelListener>;

beforeAll(async () => {
  const reachable = await canConnect(POSTGRES);
  if (!reachable) throw new Error('PostgreSQL is not accepting connections on 127.0.0.1:5432 (user postgres, database test); .ci/run starts it');
  const dir = await tempDir('pg-capture');
  const ca = await createTestCa(dir, 'db-ca');
  tlsFront = await startTlsFront(await ca.issue('db'), POSTGRES);
  broker = await startTunnelBroker([
    resource('pg', { target: POSTGRES }),
    resource('pg-tls', { target: { host: '127.0.0.1', port: tlsFront.port }, targetTls: 'verify-full', targetCa: { file: ca.certFile, pem: ca.cert } }),
    resource('pg-front', { target: { host: '127.0.0.1', port: tlsFront.port } }),
  ]);
  for (const name of ['pg', 'pg-tls', 'pg-front'] as const) {
    await broker.grant(name);
    listeners[name] = await TunnelListener.listen({
      bind: '127.0.0.1',
      port: 0,
      open: () => openTunnel({ url: `${broker.wsBase}/v1/tunnel?resource=${name}`, token: () => Promise.resolve('good-alice') }),
      subject: { name, kind: 'postgres', expiresAt: null },
      log: () => undefined,
      logEveryConnection: false,
      now: Date.now,
    });
  }
});

afterAll(async () => {
  await Promise.all(Object.values(listeners).map((listener) => listener.shutdown()));
  await broker?.close();
  await tlsFront?.close();
});

// ---- helpers --------------------------------------------------------------------------------------

function canConnect(where: { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(where);
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** psql through a listener, never reading ~/.psqlrc, stopping at the first error. */
function psql(through: TunnelListener, args: string[], options: { sslmode?: string; input?: string } = {}): Promise<Run> {
  const child = spawn(
    'psql',
    ['-X', '-v', 'ON_ERROR_STOP=1', '-h', through.address.host, '-p', String(through.address.port), '-U', 'postgres', '-d', 'test', ...args],
    {
      env: { ...process.env, PGSSLMODE: options.sslmode ?? 'prefer', PGAPPNAME: 'pg-capture-test', PGCONNECT_TIMEOUT: '30' },
      stdio: ['pipe', 'pipe', 'pipe'],
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(options.input ?? '');
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

/** Runs `client`, then returns the one session it opened, once it has closed and its entries are written. */
async function sessionOf(client: () => Promise<unknown>): Promise<SessionRecord> {
  const before = new Set(broker.sessions().map((s) => s.id));
  await client();
  await until(() => broker.runtime.tunnels.connections === 0 && broker.sessions().some((s) => !before.has(s.id)));
  const opened = broker.sessions().filter((s) => !before.has(s.id));
  expect(opened).toHaveLength(1);
  const session = opened[0] as SessionRecord;
  expect(session.endedAt).not.toBeNull();
  return session;
}

/** The session's own audit entries, in log order. */
function story(session: SessionRecord): AuditEntryView[] {
  return broker.runtime.audit.queries.show(session.id).entries.filter((entry) => entry.subject === session.id);
}

function statements(session: SessionRecord): Array<Record<string, unknown>> {
  return story(session)
    .filter((entry) => entry.type === 'pg.query')
    .map(({ body }) => body);
}

// ---- tests ----------------------------------------------------------------------------------------

describe('query capture through the tunnel', () => {
  it("records psql's simple queries, a multi-statement string as one entry, and COPY both ways, in order", async () => {
    const script = [
      'create temp table capture_t(a int, b text);',
      "insert into capture_t values (1, 'one');",
      'copy capture_t from stdin;',
      '2\ttwo',
      '3\tthree',
      '\\.',
      // `\;` makes psql send both statements in one message.
      'select count(*) from capture_t \\; select max(a) from capture_t;',
      'copy (select a from capture_t order by a) to stdout;',
      '',
    ].join('\n');
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await psql(listeners.pg, ['-f', '-'], { input: script })));
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout).toContain('COPY 2');
    expect(run?.stdout).toMatch(/1\n2\n3\n/);

    const entries = story(session);
    expect(entries[0]?.type).toBe('session.opened');
    expect(entries.at(-1)?.type).toBe('session.closed');
    expect(entries[1]).toMatchObject({
      type: 'pg.startup',
      actor: { oid: 'alice' },
      resource: 'pg',
      body: { dbUser: 'postgres', database: 'test', applicationName: 'pg-capture-test' },
    });
    expect(statements(session)).toEqual([
      { sql: 'create temp table capture_t(a int, b text);', protocol: 'simple', database: 'test' },
      { sql: "insert into capture_t values (1, 'one');", protocol: 'simple', database: 'test' },
      { sql: 'copy capture_t from stdin;', protocol: 'simple', database: 'test' },
      // Two statements in one message, recorded as sent.
      { sql: 'select count(*) from capture_t ; select max(a) from capture_t;', protocol: 'simple', database: 'test' },
      { sql: 'copy (select a from capture_t order by a) to stdout;', protocol: 'simple', database: 'test' },
    ]);
    const copy = entries.find((entry) => entry.type === 'pg.copy');
    // psql sends the end-of-data line `\.` as data too.
    expect(copy?.body).toEqual({ direction: 'in', messages: expect.any(Number), bytes: '2\ttwo\n3\tthree\n\\.\n'.length, outcome: 'done' });
    // The copied rows are counted, never logged.
    expect(JSON.stringify(entries)).not.toContain('three');
    expect(entries.some((entry) => entry.type === 'pg.capture_degraded')).toBe(false);
  });

  it("records the pg driver's parameterized queries and each run of a named prepared statement with its values", async () => {
    const session = await sessionOf(async () => {
      const client = new Client({
        host: listeners.pg.address.host,
        port: listeners.pg.address.port,
        user: 'postgres',
        database: 'test',
        application_name: 'pg-capture-driver',
      });
      client.on('error', () => undefined);
      await client.connect();
      expect((await client.query({ text: 'select $1::int + $2::int as sum, $3::text as nothing', values: [40, 2, null] })).rows).toEqual([
        { sum: 42, nothing: null },
      ]);
      for (const id of ['first', 'second']) {
        expect((await client.query({ name: 'echo-text', text: 'select $1::text as v', values: [id] })).rows).toEqual([{ v: id }]);
      }
      await client.query({ text: 'select length($1::bytea) as n', values: [Buffer.from([0, 1, 2, 255])] });
      await client.end();
    });
    expect(story(session)[1]).toMatchObject({ type: 'pg.startup', body: { applicationName: 'pg-capture-driver', clientEncoding: 'UTF8' } });
    expect(statements(session)).toEqual([
      { sql: 'select $1::int + $2::int as sum, $3::text as nothing', protocol: 'extended', database: 'test', params: ['40', '2', null] },
      { sql: 'select $1::text as v', protocol: 'extended', database: 'test', statement: 'echo-text', params: ['first'] },
      { sql: 'select $1::text as v', protocol: 'extended', database: 'test', statement: 'echo-text', params: ['second'] },
      { sql: 'select length($1::bytea) as n', protocol: 'extended', database: 'test', params: [{ binary: '000102ff' }] },
    ]);
  });

  it("declines psql's SSLRequest (sslmode=prefer) itself, and the session still works and is captured", async () => {
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await psql(listeners.pg, ['-At', '-c', "select 'over the tunnel'"], { sslmode: 'prefer' })));
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout.trim()).toBe('over the tunnel');
    expect(statements(session)).toEqual([{ sql: "select 'over the tunnel'", protocol: 'simple', database: 'test' }]);
  });

  it('fails psql with sslmode=require cleanly: "server does not support SSL", nothing reaches the database', async () => {
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await psql(listeners.pg, ['-c', 'select 1'], { sslmode: 'require' })));
    expect(run?.code).not.toBe(0);
    expect(run?.stderr).toContain('server does not support SSL, but SSL was required');
    // The SSLRequest was answered by the broker, not forwarded.
    expect(session.bytesUp).toBe(0);
    expect(story(session).map((entry) => entry.type)).toEqual(['session.opened', 'session.closed']);
  });

  it('speaks TLS to the database for targetTls: verify-full, and still reads the queries', async () => {
    const handshakes = tlsFront.handshakes;
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await psql(listeners['pg-tls'], ['-At', '-c', 'select 7 * 6'])));
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout.trim()).toBe('42');
    expect(tlsFront.handshakes).toBe(handshakes + 1);
    expect(statements(session)).toEqual([{ sql: 'select 7 * 6', protocol: 'simple', database: 'test' }]);
  });
});

describe('a stream the capture cannot read', () => {
  /** A raw client of a listener: writes what it is given, collects what comes back until the close. */
  async function raw(through: TunnelListener): Promise<{ socket: net.Socket; received: () => Buffer; closed: Promise<void> }> {
    const socket = net.connect(through.address.port, through.address.host);
    await once(socket, 'connect');
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    return { socket, received: () => Buffer.concat(chunks), closed };
  }

  it('ends the session at garbage instead of a startup message, and none of it reaches the database', async () => {
    const garbage = Buffer.from('GET / HTTP/1.1\r\nHost: db\r\n\r\n'.repeat(50));
    const session = await sessionOf(async () => {
      const client = await raw(listeners.pg);
      client.socket.write(garbage);
      // The listener closes the local connection when the broker ends the tunnel.
      await client.closed;
    });
    expect(session.bytesUp).toBe(0);
    expect(session.reason).toBe('unrecordable');
    expect(story(session).map((entry) => [entry.type, entry.body['reason'] ?? null])).toEqual([
      ['session.opened', null],
      ['pg.unrecordable', expect.stringMatching(/^the first message \(length \d+, code \d+\) is not a Postgres startup message$/)],
      ['session.closed', null],
    ]);
    const warnings = broker.log.lines.filter(
      (line) => line.fields['session'] === session.id && line.message.startsWith('ended the session at bytes it cannot record: '),
    );
    expect(warnings).toHaveLength(1);
  });

  it('keeps what it read before garbage in mid-session, ends the session there, and serves the next session normally', async () => {
    const startup = startupMessage({ user: 'postgres', database: 'test', application_name: 'pg-capture-raw' });
    const select = Buffer.concat([Buffer.from('Q'), int32(4 + 'select 1\0'.length), Buffer.from('select 1\0')]);
    const junk = Buffer.from('\x01\x02\x03 not a message');
    let answer = '';
    const session = await sessionOf(async () => {
      const client = await raw(listeners.pg);
      client.socket.write(startup);
      await until(() => readyForQuery(client.received()) === 1);
      client.socket.write(select);
      await until(() => readyForQuery(client.received()) === 2);
      client.socket.write(junk);
      await client.closed;
      answer = client.received().toString('latin1');
    });
    // The server never got the junk: it would have answered "invalid frontend message type 1".
    expect(answer).not.toContain('invalid frontend message type');
    expect(session.bytesUp).toBe(startup.length + select.length);
    expect(session.reason).toBe('unrecordable');
    expect(story(session).map((entry) => entry.type)).toEqual(['session.opened', 'pg.startup', 'pg.query', 'pg.unrecordable', 'session.closed']);
    expect(story(session)[3]?.body).toEqual({ reason: 'unknown message type 0x01', atByte: startup.length + select.length + 5 });

    let run: Run | undefined;
    const next = await sessionOf(async () => (run = await psql(listeners.pg, ['-At', '-c', 'select 1'])));
    expect(run?.code, run?.stderr).toBe(0);
    expect(statements(next)).toEqual([{ sql: 'select 1', protocol: 'simple', database: 'test' }]);
  });

  it('ends the session at a third SSLRequest: a client cannot reach TLS to a TLS-capable database and run queries unrecorded', async () => {
    const handshakes = tlsFront.handshakes;
    let answers = '';
    let secretAnswer = '';
    const session = await sessionOf(async () => {
      const client = await raw(listeners['pg-front']);
      client.socket.write(SSL_REQUEST);
      await until(() => client.received().length === 1);
      client.socket.write(SSL_REQUEST);
      await until(() => client.received().length === 2);
      client.socket.write(SSL_REQUEST);
      const gotThrough = await Promise.race([client.closed.then(() => false), until(() => client.received().length === 3).then(() => true)]);
      answers = client.received().toString('latin1');
      if (gotThrough) {
        // What the attack does next when the third request got through: TLS to the database, then SQL.
        secretAnswer = await queryOverTls(client.socket, "select 'not in the log'");
        client.socket.destroy();
      }
      await client.closed;
    });
    expect(secretAnswer).toBe('');
    expect(answers).toBe('NN');
    expect(tlsFront.handshakes).toBe(handshakes);
    expect(session).toMatchObject({ reason: 'unrecordable', bytesUp: 0, detail: expect.stringMatching(/encryption request/) });
    expect(story(session).map((entry) => entry.type)).toEqual(['session.opened', 'session.closed']);
  });

  it('leaves the audit chain intact after all of it', async () => {
    expect(await broker.runtime.audit.verify()).toMatchObject({ ok: true });
  });
});

const SSL_REQUEST = Buffer.concat([int32(8), int32(80877103)]);

/** Speaks TLS over `socket` (the database said 'S'), starts a session and runs `sql`: the text of the answer. */
async function queryOverTls(socket: net.Socket, sql: string): Promise<string> {
  socket.removeAllListeners('data');
  const secure = tls.connect({ socket, rejectUnauthorized: false });
  secure.on('error', () => undefined);
  await once(secure, 'secureConnect');
  const chunks: Buffer[] = [];
  secure.on('data', (chunk: Buffer) => chunks.push(chunk));
  secure.write(startupMessage({ user: 'postgres', database: 'test' }));
  await until(() => readyForQuery(Buffer.concat(chunks)) === 1);
  secure.write(Buffer.concat([Buffer.from('Q'), int32(4 + Buffer.byteLength(sql) + 1), Buffer.from(`${sql}\0`)]));
  await until(() => readyForQuery(Buffer.concat(chunks)) === 2);
  secure.destroy();
  return Buffer.concat(chunks).toString('latin1');
}

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}

function startupMessage(params: Record<string, string>): Buffer {
  const pairs = Object.entries(params)
    .map(([key, value]) => `${key}\0${value}\0`)
    .join('');
  const body = Buffer.concat([int32(3 << 16), Buffer.from(`${pairs}\0`)]);
  return Buffer.concat([int32(body.length + 4), body]);
}

/** How many ReadyForQuery messages ('Z', length 5) the server has sent. */
function readyForQuery(received: Buffer): number {
  let count = 0;
  for (let at = received.indexOf('Z\0\0\0\x05', 0, 'latin1'); at !== -1; at = received.indexOf('Z\0\0\0\x05', at + 1, 'latin1')) count++;
  return count;
}
