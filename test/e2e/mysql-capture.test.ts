// Statement capture through the real tunnel with real clients: the mariadb CLI and the mysql2
// driver, through the CLI's listener (the code behind `access connect`), a broker on port 0 (the
// real tunnel endpoint, audit log and store) and the machine's MariaDB (127.0.0.1:3306, root
// without a password). Each test creates its own password-protected user and database and drops
// them after. Each client connection is one session; its audit story must hold the statements it
// sent, in order, prepared ones with their parameters.
//
// TLS: the broker takes TLS out of the server's greeting (the client → broker leg is inside the
// tunnel's TLS, and the broker must read the statements); the listener, as `access connect` runs it,
// offers TLS again to the local client and terminates it with the state dir's local certificate
// (cli/tunnel/mysql-local-tls.ts), so a client that requires TLS connects and is still audited. A
// client that sends garbage ends its session before the garbage reaches the server.

import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mysqlOptionFile } from '../../cli/tunnel/environment.js';
import { TunnelListener } from '../../cli/tunnel/listener.js';
import { loadLocalTls, type LocalTls } from '../../cli/tunnel/local-tls.js';
import { openTunnel } from '../../cli/tunnel/tunnel-client.js';
import type { SessionRecord } from '../../broker/store/session-store.js';
import type { AuditEntryView } from '../../shared/wire.js';
import { databaseCredential } from '../../broker/config/database-credentials.js';
import { principal, resource } from '../broker/requests/harness.js';
import { startTunnelBroker, until, type TunnelBroker } from '../broker/tunnel/harness.js';
import { tempDir } from '../helpers/processes.js';

const MARIADB = { host: '127.0.0.1', port: 3306 };
const suffix = randomBytes(4).toString('hex');
const USER = `acc_user_${suffix}`;
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;
const DB = `acc_db_${suffix}`;
const OTHER_DB = `acc_db2_${suffix}`;

let broker: TunnelBroker;
let admin: mysql.Connection;
const listeners: TunnelListener[] = [];
/** The local certificate `access connect` offers TLS with (its state dir's, made here). */
let localTls: LocalTls;
/** What the listeners logged (refusals and failures). */
const logged: string[] = [];

async function listen(name: string): Promise<TunnelListener> {
  const listener = await TunnelListener.listen({
    bind: '127.0.0.1',
    port: 0,
    open: () => openTunnel({ url: `${broker.wsBase}/v1/tunnel?resource=${name}`, token: () => Promise.resolve('good-alice') }),
    subject: { name, kind: 'mysql', expiresAt: null },
    localTls,
    log: (line) => logged.push(line),
    logEveryConnection: false,
    now: Date.now,
  });
  listeners.push(listener);
  return listener;
}

let through: TunnelListener;

beforeAll(async () => {
  admin = await mysql.createConnection({ ...MARIADB, user: 'root' }).catch((error: unknown) => {
    throw new Error(`MariaDB is not accepting connections on 127.0.0.1:3306 as root without a password; .ci/run starts it (${String(error)})`);
  });
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.query(`CREATE DATABASE ${OTHER_DB}`);
  await admin.query(`CREATE USER '${USER}'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await admin.query(`CREATE USER '${USER}'@'localhost' IDENTIFIED BY '${PASSWORD}'`);
  for (const host of ['%', 'localhost']) {
    await admin.query(`GRANT ALL ON ${DB}.* TO '${USER}'@'${host}'`);
    await admin.query(`GRANT ALL ON ${OTHER_DB}.* TO '${USER}'@'${host}'`);
  }
  const stored = databaseCredential({ user: USER, source: '$ACC_TEST_PASSWORD', groups: [] }, PASSWORD);
  const wrong = databaseCredential({ user: USER, source: '/etc/access/stale-password', groups: [] }, 'not-the-password');
  broker = await startTunnelBroker([
    resource('my', { kind: 'mysql', target: MARIADB }),
    resource('my-cut', { kind: 'mysql', target: MARIADB }),
    resource('my-inj', { kind: 'mysql', target: MARIADB, credentials: [stored], database: DB }),
    resource('my-inj-cut', { kind: 'mysql', target: MARIADB, credentials: [stored] }),
    resource('my-bad', { kind: 'mysql', target: MARIADB, credentials: [wrong] }),
  ]);
  localTls = await loadLocalTls(await tempDir('mysql-local-tls'), Date.now());
  await broker.grant('my');
  through = await listen('my');
});

afterAll(async () => {
  await Promise.all(listeners.map((listener) => listener.shutdown()));
  await broker?.close();
  if (admin) {
    await admin.query(`DROP USER IF EXISTS '${USER}'@'%'`);
    await admin.query(`DROP USER IF EXISTS '${USER}'@'localhost'`);
    await admin.query(`DROP DATABASE IF EXISTS ${DB}`);
    await admin.query(`DROP DATABASE IF EXISTS ${OTHER_DB}`);
    await admin.end();
  }
});

// ---- helpers --------------------------------------------------------------------------------------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The mariadb CLI through a listener, never reading option files, as the test's user (with its password unless told). */
function mariadb(listener: TunnelListener, args: string[], input = '', login: string[] = ['-u', USER, `-p${PASSWORD}`]): Promise<Run> {
  const child = spawn(
    'mariadb',
    ['--no-defaults', '-h', listener.address.host, '-P', String(listener.address.port), ...login, '--connect-timeout=30', ...args],
    { stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  child.stdin.end(input);
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

function bodies(session: SessionRecord, type: string): Array<Record<string, unknown>> {
  return story(session)
    .filter((entry) => entry.type === type)
    .map(({ body }) => body);
}

// ---- tests ----------------------------------------------------------------------------------------

describe('MySQL statement capture through the tunnel', () => {
  it("records the mariadb CLI's statements and its `use` (COM_INIT_DB), in order, as the database user it logged in as", async () => {
    const script = [
      'create table capture_t (a int, b text);',
      "insert into capture_t values (1, 'one'), (2, 'two');",
      'select count(*) as n from capture_t;',
      `use ${OTHER_DB}`,
      'select database() as db;',
      '',
    ].join('\n');
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await mariadb(through, ['-D', DB], script)));
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout).toContain(OTHER_DB);
    const [handshake] = bodies(session, 'mysql.handshake');
    expect(handshake).toMatchObject({ dbUser: USER, database: DB });
    expect(handshake?.connectionId).toEqual(expect.any(Number));
    const sql = bodies(session, 'mysql.query').map((body) => body.sql);
    expect(sql).toEqual(
      expect.arrayContaining([
        'create table capture_t (a int, b text)',
        "insert into capture_t values (1, 'one'), (2, 'two')",
        'select count(*) as n from capture_t',
      ]),
    );
    // In order, and the statement after `use` runs in the other database.
    const queries = bodies(session, 'mysql.query');
    const index = (text: string): number => queries.findIndex((body) => body.sql === text);
    expect(index('create table capture_t (a int, b text)')).toBeLessThan(index('select count(*) as n from capture_t'));
    expect(bodies(session, 'mysql.command')).toContainEqual({ command: 'initDb', database: OTHER_DB });
    expect(queries[index('select database() as db')]).toMatchObject({ database: OTHER_DB, protocol: 'text' });
  });

  it("records mysql2's prepared statements (COM_STMT_PREPARE/EXECUTE) with their bound parameters", async () => {
    const session = await sessionOf(async () => {
      const connection = await mysql.createConnection({ host: through.address.host, port: through.address.port, user: USER, password: PASSWORD, database: DB });
      await connection.query('create table if not exists prepared_t (id int, name text, at datetime, score double)');
      await connection.execute('insert into prepared_t values (?, ?, ?, ?)', [7, 'seven', new Date(Date.UTC(2025, 2, 4, 9, 30)), 1.5]);
      await connection.execute('insert into prepared_t values (?, ?, ?, ?)', [8, null, null, -2]);
      const [rows] = await connection.execute('select name from prepared_t where id = ?', [7]);
      expect(rows).toEqual([{ name: 'seven' }]);
      await connection.end();
    });
    const prepared = bodies(session, 'mysql.query').filter((body) => body.protocol === 'prepared');
    expect(prepared.map((body) => body.sql)).toEqual([
      'insert into prepared_t values (?, ?, ?, ?)',
      'insert into prepared_t values (?, ?, ?, ?)',
      'select name from prepared_t where id = ?',
    ]);
    expect(prepared[0]?.params).toEqual(['7', 'seven', expect.stringMatching(/^2025-03-04 /), '1.5']);
    expect(prepared[1]?.params).toEqual(['8', null, null, '-2']);
    expect(prepared[2]?.params).toEqual(['7']);
    expect(prepared[0]?.statementId).toEqual(expect.any(Number));
  });

  it('frames a statement that fills a whole packet (0xFFFFFF bytes, then the empty packet that ends it) and records its start with its size', async () => {
    // COM_QUERY's byte and the text make exactly 0xFFFFFF bytes: a full packet, so an empty one follows (below the server's 16 MiB max_allowed_packet).
    const head = "select length('";
    const tail = "') as n";
    const big = `${head}${'x'.repeat(0xff_ffff - 1 - head.length - tail.length)}${tail}`;
    let length: unknown;
    const session = await sessionOf(async () => {
      const connection = await mysql.createConnection({ host: through.address.host, port: through.address.port, user: USER, password: PASSWORD });
      const [rows] = await connection.query(big);
      length = (rows as Array<{ n: number }>)[0]?.n;
      await connection.query('select 1');
      await connection.end();
    });
    expect(length).toBe(big.length - head.length - tail.length);
    const [entry, after] = bodies(session, 'mysql.query');
    expect(entry).toMatchObject({ truncated: true, messageBytes: 0xff_ffff });
    expect(String(entry?.sql)).toMatch(/^select length\('xxxx/);
    expect(after).toMatchObject({ sql: 'select 1' });
  });
});

describe('clients that require TLS (terminated by the listener)', () => {
  it('connects `mariadb --ssl --ssl-verify-server-cert` trusting the local CA, over TLS, and records its statements', async () => {
    let run: Run | undefined;
    const session = await sessionOf(
      async () =>
        (run = await mariadb(
          through,
          ['--ssl', '--ssl-verify-server-cert', `--ssl-ca=${localTls.caFile}`, DB],
          'status\nselect 40 + 2 as answer;\nuse ' + OTHER_DB + ';\nselect database();\n',
        )),
    );
    expect(run?.code, run?.stderr).toBe(0);
    // The client's own report: the connection it has is TLS.
    expect(run?.stdout).toMatch(/SSL:\s+Cipher in use is \S+/);
    expect(run?.stdout).toContain('42');
    expect(bodies(session, 'mysql.handshake')[0]).toMatchObject({ dbUser: USER, database: DB });
    expect(bodies(session, 'mysql.query').map((body) => body.sql)).toEqual(expect.arrayContaining(['select 40 + 2 as answer', 'select database()']));
    expect(bodies(session, 'mysql.command')).toContainEqual({ command: 'initDb', database: OTHER_DB });
  });

  it('refuses the local certificate to a client that verifies it against other CAs, before anything reaches the broker', async () => {
    const before = new Set(broker.sessions().map((session) => session.id));
    const run = await mariadb(through, ['--ssl', '--ssl-verify-server-cert', '--ssl-ca=/etc/ssl/certs/ca-certificates.crt', '-e', 'select 1']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(/SSL|certificate/i);
    await until(() => broker.runtime.tunnels.connections === 0);
    // The tunnel opened (the greeting comes through it), but no handshake reached the broker's capture.
    const opened = broker.sessions().filter((session) => !before.has(session.id));
    for (const session of opened) expect(bodies(session, 'mysql.handshake')).toEqual([]);
  });

  it('verifies the listener with the ssl-ca that `access connect -- mariadb` writes into its option file', async () => {
    const home = await tempDir('mysql-home');
    const options = mysqlOptionFile('mysql', { user: USER }, {}, localTls);
    expect(options).toContain(`ssl-ca="${localTls.caFile}"`);
    await writeFile(path.join(home, 'my.cnf'), options ?? '', { mode: 0o600 });
    const child = spawn('mariadb', ['-h', through.address.host, '-P', String(through.address.port), `-p${PASSWORD}`, '--ssl-verify-server-cert', '-N', '-B'], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, MYSQL_HOME: home, HOME: home },
    });
    child.stdin.end('select current_user();\nstatus\n');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expect(code, stderr).toBe(0);
    expect(stdout).toMatch(new RegExp(`^${USER}@`));
    expect(stdout).toMatch(/Cipher in use is \S+/);
  });

  it('connects mysql2 with ssl: { ca } and records its prepared statements with their parameters', async () => {
    const ca = await readFile(localTls.caFile, 'utf8');
    const session = await sessionOf(async () => {
      const connection = await mysql.createConnection({
        host: through.address.host,
        port: through.address.port,
        user: USER,
        password: PASSWORD,
        database: DB,
        ssl: { ca },
      });
      const [cipher] = await connection.query("show session status like 'Ssl_cipher'");
      // The server's own leg is plaintext (the broker's); the client's TLS ends at the listener.
      expect(cipher).toEqual([{ Variable_name: 'Ssl_cipher', Value: '' }]);
      expect((connection as unknown as { connection: { stream: { encrypted?: boolean } } }).connection.stream.encrypted).toBe(true);
      const [rows] = await connection.execute('select ? * ? as p', [6, 7]);
      expect(rows).toEqual([{ p: 42 }]);
      await connection.end();
    });
    expect(bodies(session, 'mysql.query').find((body) => body.protocol === 'prepared')).toMatchObject({ sql: 'select ? * ? as p', params: ['6', '7'] });
  });

  it('ends a connection whose first packet is no MySQL handshake, and says why in the log', async () => {
    const socket = net.connect(through.address.port, through.address.host);
    socket.on('error', () => undefined);
    let greeted = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      greeted = Buffer.concat([greeted, chunk]);
    });
    await until(() => greeted.length > 4);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await until(() => logged.some((line) => line.includes('is not a MySQL handshake')));
    expect(logged.find((line) => line.includes('is not a MySQL handshake'))).toMatch(
      /closed: .*first packet \(sequence id 32, \d+ bytes\) is not a MySQL handshake/,
    );
  });
});

describe('fail closed on the MySQL stream', () => {
  it('ends the session at garbage after the handshake, records why, and the server never gets the chunk it came in', async () => {
    await admin.query(`CREATE TABLE ${DB}.capture_never (a int)`);
    const session = await sessionOf(async () => {
      const connection = await mysql.createConnection({ host: through.address.host, port: through.address.port, user: USER, password: PASSWORD, database: DB });
      connection.on('error', () => undefined);
      const stream = (connection as unknown as { connection: { stream: net.Socket } }).connection.stream;
      // One write: a well-formed INSERT, then a packet with sequence id 7 where a command must come.
      const packetOf = (seq: number, text: string): Buffer => {
        const payload = Buffer.from(`\x03${text}`, 'latin1');
        const header = Buffer.alloc(4);
        header.writeUIntLE(payload.length, 0, 3);
        header[3] = seq;
        return Buffer.concat([header, payload]);
      };
      stream.write(Buffer.concat([packetOf(0, 'insert into capture_never values (1)'), packetOf(7, 'garbage')]));
      await new Promise<void>((resolve) => stream.once('close', () => resolve()));
      connection.destroy();
    });
    expect(session.reason).toBe('unrecordable');
    const [refusal] = bodies(session, 'mysql.unrecordable');
    expect(refusal?.reason).toMatch(/sequence id 7 where a command/);
    // What the client asked for is logged; the server never received it.
    expect(bodies(session, 'mysql.query').map((body) => body.sql)).toContain('insert into capture_never values (1)');
    const [rows] = await admin.query(`SELECT count(*) AS n FROM ${DB}.capture_never`);
    expect(Number((rows as Array<{ n: number }>)[0]?.n)).toBe(0);
  });
});

describe('cuts', () => {
  it('kills the running statement on the server (KILL QUERY) when the grant is revoked mid-query, and audits it', async () => {
    // root has no password here: without a stored credential, the kill logs in as the session's user with none.
    const grant = await broker.grant('my-cut');
    const cut = await listen('my-cut');
    const marker = `sleep_${suffix}`;
    const running = (): Promise<number> =>
      admin
        .query(`SELECT count(*) AS n FROM information_schema.processlist WHERE info LIKE 'SELECT SLEEP(30) AS ${marker}%'`)
        .then(([rows]) => Number((rows as Array<{ n: number }>)[0]?.n));
    let failure: unknown;
    const session = await sessionOf(async () => {
      const connection = await mysql.createConnection({ host: cut.address.host, port: cut.address.port, user: 'root' });
      connection.on('error', () => undefined);
      const sleeping = connection.query(`SELECT SLEEP(30) AS ${marker}`).catch((error: unknown) => (failure = error));
      for (let tries = 0; (await running()) === 0; tries++) {
        if (tries > 600) throw new Error('the sleep never showed in the processlist');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await broker.runtime.service.revoke(principal('bob'), grant.id, 'INC-9 done');
      await sleeping;
      connection.destroy();
    });
    expect(failure).toBeInstanceOf(Error);
    expect(session.reason).toBe('grantRevoked');
    // The statement is gone from the server, not left sleeping after access ended.
    for (let tries = 0; (await running()) > 0; tries++) {
      if (tries > 600) throw new Error('the statement still runs on the server after the cut');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await until(() => bodies(session, 'mysql.killed').length > 0);
    expect(bodies(session, 'mysql.killed')[0]).toMatchObject({ dbUser: 'root', cut: 'grantRevoked', connectionId: expect.any(Number) });
  });
});

describe('credential injection (a stored login)', () => {
  let injected: TunnelListener;

  it('logs the mariadb CLI in with the stored password whatever it sends, and audits the user that ran the session', async () => {
    await broker.grant('my-inj');
    injected = await listen('my-inj');
    const inj = injected;
    let run: Run | undefined;
    // Someone else's name and a wrong password: the broker's stored login is what the server sees.
    const session = await sessionOf(
      async () => (run = await mariadb(inj, ['-N', '-B', '-e', 'select current_user(), database()'], '', ['-u', 'whoever', '-pguess'])),
    );
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout.trim()).toMatch(new RegExp(`^${USER}@\\S+\\t${DB}$`));
    expect(bodies(session, 'db.login')).toEqual([{ dbUser: USER, credential: '$ACC_TEST_PASSWORD', method: 'mysql_native_password', outcome: 'accepted' }]);
    expect(bodies(session, 'mysql.handshake')[0]).toMatchObject({ dbUser: USER, database: DB });
    expect(bodies(session, 'mysql.query').map((body) => body.sql)).toContain('select current_user(), database()');
  });

  it('logs `mariadb --ssl --ssl-verify-server-cert` in over the local TLS with the stored login, and records its statements', async () => {
    const inj = injected;
    let run: Run | undefined;
    const session = await sessionOf(
      async () =>
        (run = await mariadb(inj, ['--ssl', '--ssl-verify-server-cert', `--ssl-ca=${localTls.caFile}`, '-N', '-B'], 'select current_user();\nstatus\n', [
          '-u',
          'whoever',
          '-pguess',
        ])),
    );
    expect(run?.code, run?.stderr).toBe(0);
    expect(run?.stdout).toMatch(new RegExp(`^${USER}@`));
    expect(run?.stdout).toMatch(/Cipher in use is \S+/);
    expect(bodies(session, 'db.login')).toEqual([{ dbUser: USER, credential: '$ACC_TEST_PASSWORD', method: 'mysql_native_password', outcome: 'accepted' }]);
    expect(bodies(session, 'mysql.query').map((body) => body.sql)).toContain('select current_user()');
  });

  it('logs mysql2 with ssl: { ca } in without a password as the stored user', async () => {
    const inj = injected;
    const ca = await readFile(localTls.caFile, 'utf8');
    const session = await sessionOf(async () => {
      const connection = await mysql.createConnection({ host: inj.address.host, port: inj.address.port, user: 'nobody', ssl: { ca } });
      const [rows] = await connection.execute('select current_user() as u, ? as v', ['tls']);
      expect(rows).toEqual([{ u: expect.stringMatching(new RegExp(`^${USER}@`)), v: 'tls' }]);
      await connection.end();
    });
    expect(bodies(session, 'db.login')[0]).toMatchObject({ dbUser: USER, outcome: 'accepted' });
    expect(bodies(session, 'mysql.query').find((body) => body.protocol === 'prepared')).toMatchObject({
      sql: 'select current_user() as u, ? as v',
      params: ['tls'],
    });
  });

  it('logs mysql2 in without a password and records its prepared statements as the stored user', async () => {
    const inj = injected;
    const session = await sessionOf(async () => {
      const connection = await mysql.createConnection({ host: inj.address.host, port: inj.address.port, user: 'nobody' });
      const [rows] = await connection.execute('select ? + ? as s', [40, 2]);
      expect(rows).toEqual([{ s: 42 }]);
      await connection.end();
    });
    expect(bodies(session, 'mysql.handshake')[0]).toMatchObject({ dbUser: USER });
    expect(bodies(session, 'mysql.query').find((body) => body.protocol === 'prepared')).toMatchObject({ sql: 'select ? + ? as s', params: ['40', '2'] });
  });

  it('tells the client at once that the stored login is wrong, audits the refusal and cuts the tunnel', async () => {
    await broker.grant('my-bad');
    const bad = await listen('my-bad');
    let run: Run | undefined;
    const session = await sessionOf(async () => (run = await mariadb(bad, ['-e', 'select 1'])));
    expect(run?.code).not.toBe(0);
    expect(run?.stderr).toMatch(
      /ERROR 1045 \(28000\).*stored login for my-bad \(database user acc_user_\w+, password from \/etc\/access\/stale-password\) did not work/,
    );
    expect(run?.stderr).toContain('This is not your password');
    expect(run?.stderr).not.toContain('not-the-password');
    expect(session.reason).toBe('credentialRefused');
    const [login] = bodies(session, 'db.login');
    expect(login).toMatchObject({ dbUser: USER, outcome: 'refused', reason: expect.stringMatching(/Access denied/) });
  });

  it('kills the running statement of a password-protected user with the stored login when the grant is revoked', async () => {
    const grant = await broker.grant('my-inj-cut');
    const cut = await listen('my-inj-cut');
    const marker = `isleep_${suffix}`;
    const running = (): Promise<number> =>
      admin
        .query(`SELECT count(*) AS n FROM information_schema.processlist WHERE user = '${USER}' AND info LIKE 'SELECT SLEEP(30) AS ${marker}%'`)
        .then(([rows]) => Number((rows as Array<{ n: number }>)[0]?.n));
    const session = await sessionOf(async () => {
      const connection = await mysql.createConnection({ host: cut.address.host, port: cut.address.port, user: 'anyone', password: 'anything' });
      connection.on('error', () => undefined);
      const sleeping = connection.query(`SELECT SLEEP(30) AS ${marker}`).catch((error: unknown) => error);
      for (let tries = 0; (await running()) === 0; tries++) {
        if (tries > 600) throw new Error('the sleep never showed in the processlist');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await broker.runtime.service.revoke(principal('bob'), grant.id, 'INC-10 done');
      await sleeping;
      connection.destroy();
    });
    expect(session.reason).toBe('grantRevoked');
    for (let tries = 0; (await running()) > 0; tries++) {
      if (tries > 600) throw new Error('the statement still runs on the server after the cut');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await until(() => bodies(session, 'mysql.killed').length > 0);
    expect(bodies(session, 'mysql.killed')[0]).toMatchObject({ dbUser: USER, cut: 'grantRevoked' });
  });
});
