// Credential injection with real clients: the broker logs in to PostgreSQL itself with a login it
// holds, and psql and the pg driver connect through the tunnel with no password (or a wrong one)
// and never see the real one. The server is a throwaway cluster from the demo's code (embedded-
// postgres binaries, run as an unprivileged account when the tests run as root) whose pg_hba asks
// members of `password_login` for their password: so the logins below are real SCRAM-SHA-256 and
// MD5 exchanges, not the trust authentication of the machine's PostgreSQL, where the server never
// asks. The broker is in-process (the real endpoint, relay, audit log and store); the clients go
// through the CLI's listener (the code behind `access connect`).
//
// Client TLS: a listener with the CLI's local TLS (cli/tunnel/local-tls.ts) answers a client's
// SSLRequest itself, so psql and the pg driver with sslmode=require and verify-full (trusting the
// local CA file, as `access connect -- CMD` sets PGSSLROOTCERT) connect, and the broker still
// records their statements.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
// @ts-expect-error -- pg has no type declarations; the little used here is typed below.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TunnelListener } from '../../cli/tunnel/listener.js';
import { loadLocalTls, type LocalTls } from '../../cli/tunnel/local-tls.js';
import { openTunnel } from '../../cli/tunnel/tunnel-client.js';
import { databaseCredential } from '../../broker/config/database-credentials.js';
import { DEMO_SUPERUSER, PASSWORD_LOGIN_ROLE } from '../../broker/demo/postgres-cluster.js';
import { startDemoPostgres, type DemoPostgres } from '../../broker/demo/postgres.js';
import type { SessionRecord } from '../../broker/store/session-store.js';
import type { AuditEntryView } from '../../shared/wire.js';
import { principal, resource } from '../broker/requests/harness.js';
import { startTunnelBroker, until, type TunnelBroker } from '../broker/tunnel/harness.js';
import { eventually } from '../helpers/tunnel-broker.js';
import { createTestCa, type TestCa } from '../helpers/test-ca.js';
import { startTlsFront, type TlsFront } from '../helpers/pg-tls-front.js';

interface PgClient {
  connect(): Promise<void>;
  query(config: string | { text: string; values?: unknown[]; name?: string }): Promise<{ rows: Array<Record<string, unknown>> }>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): void;
}
interface PgQuery {
  on(event: 'error', listener: (error: Error) => void): void;
}
const { Client, Query } = pg as {
  Client: new (options: Record<string, unknown>) => PgClient & { query(query: PgQuery): PgQuery; cancel(client: PgClient, query: PgQuery): void };
  Query: new (text: string) => PgQuery;
};

const SUFFIX = randomBytes(4).toString('hex');
const SCRAM_USER = `scram_${SUFFIX}`;
const MD5_USER = `md5_${SUFFIX}`;
const SCRAM_PASSWORD = randomBytes(18).toString('base64url');
const MD5_PASSWORD = randomBytes(18).toString('base64url');
const DATABASE = 'postgres';

let root: string;
let server: DemoPostgres;
let admin: PgClient;
let broker: TunnelBroker;
type Name = 'pg-scram' | 'pg-md5' | 'pg-wrong' | 'pg-scram-tls' | 'pg-scram-bound';
const listeners = {} as Record<Name, TunnelListener>;
/** pg-scram and pg-plain (no stored login: the client logs in as the trusted superuser) through listeners with local TLS. */
const tlsListeners = {} as Record<'pg-scram' | 'pg-plain', TunnelListener>;
let localTls: LocalTls;
let otherCa: TestCa;
/** A TLS front before the server, for pg-scram-tls (`targetTls: verify-full`): the login runs over the broker's TLS. */
let front: TlsFront;

beforeAll(async () => {
  root = await mkdtemp(path.join(os.tmpdir(), 'access-test-pg-credentials-'));
  // As root, PostgreSQL runs as an unprivileged account, which must be able to enter the directory.
  await chmod(root, 0o755);
  server = await startDemoPostgres({ dataDir: path.join(root, 'pg') });
  admin = new Client({ host: server.host, port: server.port, user: DEMO_SUPERUSER, database: DATABASE });
  await admin.connect();
  // A SCRAM role and an MD5 role (password_encryption decides how each password is stored).
  await admin.query("set password_encryption = 'scram-sha-256'");
  await admin.query(`create role ${SCRAM_USER} login password '${SCRAM_PASSWORD}' in role ${PASSWORD_LOGIN_ROLE}`);
  await admin.query("set password_encryption = 'md5'");
  await admin.query(`create role ${MD5_USER} login password '${MD5_PASSWORD}' in role ${PASSWORD_LOGIN_ROLE}`);
  const stored = await admin.query(
    `select rolname, left(rolpassword, 13) as kind from pg_authid where rolname in ('${SCRAM_USER}', '${MD5_USER}') order by rolname`,
  );
  expect(stored.rows).toEqual([
    { rolname: MD5_USER, kind: expect.stringMatching(/^md5/) },
    { rolname: SCRAM_USER, kind: 'SCRAM-SHA-256' },
  ]);

  const target = { host: server.host, port: server.port };
  const dbCa = await createTestCa(root, 'db-ca');
  front = await startTlsFront(await dbCa.issue('db'), target);
  await enableServerTls(await dbCa.issue('pg-server'));
  broker = await startTunnelBroker([
    // TLS to the server itself, which then offers SCRAM-SHA-256-PLUS: the login binds to its certificate.
    resource('pg-scram-bound', {
      target,
      targetTls: 'verify-full',
      targetCa: { file: dbCa.certFile, pem: dbCa.cert },
      database: DATABASE,
      credentials: [databaseCredential({ user: SCRAM_USER, source: '$PG_SCRAM_PASSWORD', groups: [] }, SCRAM_PASSWORD)],
    }),
    resource('pg-scram-tls', {
      target: { host: '127.0.0.1', port: front.port },
      targetTls: 'verify-full',
      targetCa: { file: dbCa.certFile, pem: dbCa.cert },
      database: DATABASE,
      credentials: [databaseCredential({ user: SCRAM_USER, source: '$PG_SCRAM_PASSWORD', groups: [] }, SCRAM_PASSWORD)],
    }),
    resource('pg-scram', {
      target,
      database: DATABASE,
      credentials: [databaseCredential({ user: SCRAM_USER, source: '$PG_SCRAM_PASSWORD', groups: [] }, SCRAM_PASSWORD)],
    }),
    resource('pg-md5', {
      target,
      database: DATABASE,
      credentials: [databaseCredential({ user: MD5_USER, source: '/etc/access/md5', groups: [] }, MD5_PASSWORD)],
    }),
    resource('pg-cancel', {
      target,
      database: DATABASE,
      credentials: [databaseCredential({ user: SCRAM_USER, source: '$PG_SCRAM_PASSWORD', groups: [] }, SCRAM_PASSWORD)],
    }),
    resource('pg-plain', { target, database: DATABASE }),
    resource('pg-wrong', {
      target,
      database: DATABASE,
      credentials: [databaseCredential({ user: SCRAM_USER, source: '$PG_STALE_PASSWORD', groups: [] }, 'not-the-password')],
    }),
  ]);
  for (const name of ['pg-scram', 'pg-md5', 'pg-wrong', 'pg-plain', 'pg-scram-tls', 'pg-scram-bound'] as const) await broker.grant(name);
  for (const name of ['pg-scram', 'pg-md5', 'pg-wrong', 'pg-scram-tls', 'pg-scram-bound'] as const) listeners[name] = await listen(name, null);
  localTls = await loadLocalTls(path.join(root, 'access-home'), Date.now());
  for (const name of ['pg-scram', 'pg-plain'] as const) tlsListeners[name] = await listen(name, localTls);
  otherCa = await createTestCa(root, 'other-ca');
}, 120_000);

/** Turns TLS on in the throwaway server (its files owned by the account it runs as), so it offers SCRAM-SHA-256-PLUS over TLS. */
async function enableServerTls(certificate: { certFile: string; keyFile: string }): Promise<void> {
  const dataDir = path.join(root, 'pg');
  const owner = await stat(dataDir);
  for (const [from, name] of [
    [certificate.certFile, 'server.crt'],
    [certificate.keyFile, 'server.key'],
  ] as const) {
    const file = path.join(dataDir, name);
    await copyFile(from, file);
    await chmod(file, 0o600);
    await chown(file, owner.uid, owner.gid);
  }
  await admin.query('alter system set ssl = on');
  await admin.query('select pg_reload_conf()');
  await eventually('the server to speak TLS', async () => {
    const probe = new Client({ host: server.host, port: server.port, user: DEMO_SUPERUSER, database: DATABASE, ssl: { rejectUnauthorized: false } });
    try {
      await probe.connect();
      await probe.end();
      return true;
    } catch {
      return undefined;
    }
  });
}

function listen(name: string, withTls: LocalTls | null): Promise<TunnelListener> {
  return TunnelListener.listen({
    bind: '127.0.0.1',
    port: 0,
    open: () => openTunnel({ url: `${broker.wsBase}/v1/tunnel?resource=${name}`, token: () => Promise.resolve('good-alice') }),
    subject: { name, kind: 'postgres', expiresAt: null },
    log: () => undefined,
    logEveryConnection: false,
    now: Date.now,
    localTls: withTls,
  });
}

afterAll(async () => {
  await Promise.all([...Object.values(listeners), ...Object.values(tlsListeners)].map((listener) => listener.shutdown()));
  await broker?.close();
  await front?.close();
  await admin?.end().catch(() => undefined);
  await server?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

// ---- helpers --------------------------------------------------------------------------------------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** psql with no password anywhere (PGPASSWORD unset, no ~/.pgpass, never prompting), as the client user alice unless PGUSER says otherwise. */
function psql(host: string, port: number, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const { PGPASSWORD: _, ...rest } = process.env;
  const child = spawn('psql', ['-X', '-w', '-v', 'ON_ERROR_STOP=1', '-h', host, '-p', String(port), '-d', DATABASE, ...args], {
    env: { ...rest, PGPASSFILE: path.join(os.tmpdir(), 'access-test-no-pgpass'), PGSSLMODE: 'prefer', PGCONNECT_TIMEOUT: '30', PGUSER: 'alice', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

function through(name: Name, args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  return psql(listeners[name].address.host, listeners[name].address.port, args, env);
}

/** Runs `client`, then returns the one session it opened, once it has closed and its entries are written. */
async function sessionOf(client: () => Promise<unknown>): Promise<SessionRecord> {
  const before = new Set(broker.sessions().map((s) => s.id));
  await client();
  await until(() => broker.runtime.tunnels.connections === 0 && broker.sessions().some((s) => !before.has(s.id) && s.endedAt !== null));
  const opened = broker.sessions().filter((s) => !before.has(s.id));
  expect(opened).toHaveLength(1);
  return opened[0] as SessionRecord;
}

function story(session: SessionRecord): AuditEntryView[] {
  return broker.runtime.audit.queries.show(session.id).entries.filter((entry) => entry.subject === session.id);
}

// ---- tests ----------------------------------------------------------------------------------------

describe('credential injection', () => {
  it('the server really asks: psql straight to it without the password is refused', async () => {
    const run = await psql(server.host, server.port, ['-c', 'select 1'], { PGUSER: SCRAM_USER });
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/password/);
  });

  it('psql with no password runs as the SCRAM role the broker logged in as, and the audit names that role', async () => {
    let run: Run | undefined;
    const session = await sessionOf(
      async () =>
        (run = await through('pg-scram', [
          '-At',
          '-c',
          'select current_user',
          '-c',
          'create temp table t(a int)',
          '-c',
          'insert into t values (41), (1)',
          '-c',
          'select sum(a) from t',
        ])),
    );
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout.split('\n')).toEqual([SCRAM_USER, 'CREATE TABLE', 'INSERT 0 2', '42', '']);
    const entries = story(session);
    expect(entries.map((entry) => entry.type).slice(0, 3)).toEqual(['session.opened', 'pg.startup', 'db.login']);
    // The client said it is alice; the database ran the session as the broker's login.
    expect(entries[1]?.body).toMatchObject({ dbUser: SCRAM_USER, database: DATABASE });
    expect(entries[2]?.body).toEqual({ dbUser: SCRAM_USER, credential: '$PG_SCRAM_PASSWORD', method: 'SCRAM-SHA-256', outcome: 'accepted' });
    expect(entries.filter((entry) => entry.type === 'pg.query').map((entry) => entry.body.sql)).toContain('select sum(a) from t');
    expect(JSON.stringify(entries)).not.toContain(SCRAM_PASSWORD);
  });

  it('the pg driver with a made-up password gets the SCRAM role, with parameters and a prepared statement', async () => {
    const session = await sessionOf(async () => {
      const client = new Client({
        host: listeners['pg-scram'].address.host,
        port: listeners['pg-scram'].address.port,
        user: 'alice',
        password: 'whatever',
        database: DATABASE,
      });
      client.on('error', () => undefined);
      await client.connect();
      expect((await client.query('select current_user as who')).rows).toEqual([{ who: SCRAM_USER }]);
      expect((await client.query({ text: 'select $1::int + $2::int as sum', values: [40, 2] })).rows).toEqual([{ sum: 42 }]);
      for (const word of ['one', 'two'])
        expect((await client.query({ name: 'echo', text: 'select $1::text as v', values: [word] })).rows).toEqual([{ v: word }]);
      await client.end();
    });
    const login = story(session).find((entry) => entry.type === 'db.login');
    expect(login?.body).toMatchObject({ dbUser: SCRAM_USER, outcome: 'accepted', method: 'SCRAM-SHA-256' });
  });

  it('logs in to an MD5 role with MD5', async () => {
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await through('pg-md5', ['-At', '-c', 'select current_user'])));
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout).toBe(`${MD5_USER}\n`);
    expect(story(session).find((entry) => entry.type === 'db.login')?.body).toEqual({
      dbUser: MD5_USER,
      credential: '/etc/access/md5',
      method: 'md5',
      outcome: 'accepted',
    });
  });

  it('logs in over TLS to the database when targetTls asks (SCRAM inside the broker’s own TLS)', async () => {
    const before = front.handshakes;
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await through('pg-scram-tls', ['-At', '-c', 'select current_user'])));
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout).toBe(`${SCRAM_USER}\n`);
    expect(front.handshakes).toBe(before + 1);
    expect(story(session).find((entry) => entry.type === 'db.login')?.body).toMatchObject({ method: 'SCRAM-SHA-256', outcome: 'accepted' });
  });

  it("binds the SCRAM login to the server's certificate when the broker speaks TLS to the server (SCRAM-SHA-256-PLUS)", async () => {
    let run: Run | undefined;
    const session = await sessionOf(
      async () => (run = await through('pg-scram-bound', ['-At', '-c', 'select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()'])),
    );
    expect(run?.code, run?.stderr).toBe(0);
    // The server sees TLS on the broker's leg, while the client's leg is the tunnel.
    expect(run?.stdout).toBe(`${SCRAM_USER}|t\n`);
    expect(story(session).find((entry) => entry.type === 'db.login')?.body).toMatchObject({ method: 'SCRAM-SHA-256-PLUS', outcome: 'accepted' });
  });

  it('a wrong stored password is a clear error in psql, an audit entry and a session ended for that reason, not a hang', async () => {
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await through('pg-wrong', ['-c', 'select 1'])));
    expect(run?.code).toBe(2);
    expect(run?.stderr).toContain(`the access broker's stored login for pg-wrong (database user ${SCRAM_USER}, password from $PG_STALE_PASSWORD) did not work`);
    expect(run?.stderr).toContain(`password authentication failed for user "${SCRAM_USER}"`);
    expect(run?.stderr).toContain('tell an administrator');
    expect(session.reason).toBe('credentialRefused');
    expect(session.detail).toContain('the database refused the stored login for pg-wrong');
    const login = story(session).find((entry) => entry.type === 'db.login');
    expect(login?.body).toMatchObject({ dbUser: SCRAM_USER, credential: '$PG_STALE_PASSWORD', method: 'SCRAM-SHA-256', outcome: 'refused' });
    expect(login?.body.reason).toContain('28P01');
    // Nothing the client sent after the refusal reached the server: no statement was recorded.
    expect(story(session).some((entry) => entry.type === 'pg.query')).toBe(false);
  });

  it("the client's own cancel (a CancelRequest on a new connection, with the server's key) reaches the server through the tunnel", async () => {
    const { host, port } = listeners['pg-scram'].address;
    const app = `own-cancel-${SUFFIX}`;
    const client = new Client({ host, port, user: 'alice', database: DATABASE, application_name: app });
    client.on('error', () => undefined);
    await client.connect();
    try {
      const query = new Query('select pg_sleep(600)');
      const failed = new Promise<Error>((resolve) => query.on('error', resolve));
      client.query(query);
      await eventually('the query to run in the server', async () => {
        const { rows } = await admin.query({ text: "select 1 from pg_stat_activity where application_name = $1 and state = 'active'", values: [app] });
        return rows.length === 1 ? true : undefined;
      });
      new Client({ host, port }).cancel(client, query);
      expect((await failed).message).toMatch(/canceling statement due to user request/);
      // The session goes on after the cancel.
      expect((await client.query('select current_user as who')).rows).toEqual([{ who: SCRAM_USER }]);
    } finally {
      await client.end();
    }
  });

  it('a revoke mid-query cancels it in the server: the server’s cancel key reached the broker through the injected login', async () => {
    const view = await broker.grant('pg-cancel');
    const listener = await listen('pg-cancel', null);
    try {
      const app = `cancel-${SUFFIX}`;
      const sleeping = psql(listener.address.host, listener.address.port, ['-c', 'select pg_sleep(600)'], { PGAPPNAME: app });
      const pid = await eventually('psql to be sleeping in the server', async () => {
        const { rows } = await admin.query({ text: "select pid from pg_stat_activity where application_name = $1 and state = 'active'", values: [app] });
        return rows[0]?.pid as number | undefined;
      });
      await broker.runtime.service.revoke(principal('bob'), view.id, 'done');
      expect((await sleeping).code).not.toBe(0);
      // Without the broker's cancel, the server would run pg_sleep(600) to its end.
      await eventually(`backend ${pid} to leave the server`, async () => {
        const { rows } = await admin.query({ text: 'select 1 from pg_stat_activity where pid = $1', values: [pid] });
        return rows.length === 0 ? true : undefined;
      });
    } finally {
      await listener.shutdown();
    }
  });
});

describe("clients that require TLS, through the CLI's local TLS", () => {
  const conninfo = ['-At', '-c', '\\conninfo', '-c', 'select current_user'];

  it('psql with sslmode=require gets TLS from the listener, and the broker still records its statements', async () => {
    const { host, port } = tlsListeners['pg-scram'].address;
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await psql(host, port, [...conninfo, '-c', "select 'read by the broker'"], { PGSSLMODE: 'require' })));
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout).toMatch(/SSL connection \(protocol: TLSv1\.[23]/);
    expect(run?.stdout).toContain(`${SCRAM_USER}\n`);
    expect(story(session).map((entry) => entry.body.sql)).toContain("select 'read by the broker'");
  });

  it('psql with sslmode=verify-full connects trusting the local CA (PGSSLROOTCERT), by 127.0.0.1 and by localhost', async () => {
    const { port } = tlsListeners['pg-plain'].address;
    for (const host of ['127.0.0.1', 'localhost']) {
      const run = await psql(host, port, conninfo, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: localTls.caFile, PGUSER: DEMO_SUPERUSER });
      expect(run.code, `${host}: ${run.stderr} ${run.stdout}`).toBe(0);
      expect(run.stdout).toMatch(/SSL connection/);
      expect(run.stdout).toContain(`${DEMO_SUPERUSER}\n`);
    }
  });

  it('verify-full is a real check: trusting another CA, psql refuses the listener', async () => {
    const { host, port } = tlsListeners['pg-plain'].address;
    const run = await psql(host, port, conninfo, { PGSSLMODE: 'verify-full', PGSSLROOTCERT: otherCa.certFile, PGUSER: DEMO_SUPERUSER });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/certificate verify failed/);
  });

  it('psql without TLS (sslmode=disable) still connects through the same listener', async () => {
    const { host, port } = tlsListeners['pg-scram'].address;
    const run = await psql(host, port, conninfo, { PGSSLMODE: 'disable' });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).not.toMatch(/SSL connection/);
    expect(run.stdout).toContain(`${SCRAM_USER}\n`);
  });

  it('the pg driver connects with sslmode=require and with verify-full and sslrootcert', async () => {
    const { host, port } = tlsListeners['pg-scram'].address;
    // node-postgres reads sslmode=require as verify-full unless told to read it as libpq does.
    for (const params of ['uselibpqcompat=true&sslmode=require', `sslmode=verify-full&sslrootcert=${encodeURIComponent(localTls.caFile)}`]) {
      const client = new Client({ connectionString: `postgres://alice:anything@${host}:${port}/${DATABASE}?${params}` });
      client.on('error', () => undefined);
      await client.connect();
      try {
        expect((await client.query({ text: 'select current_user as who, $1::text as v', values: [params] })).rows).toEqual([{ who: SCRAM_USER, v: params }]);
      } finally {
        await client.end();
      }
    }
  });
});
