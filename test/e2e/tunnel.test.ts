// End to end with real processes and real clients: `access-broker dev` (test/fixtures/tunnel.yaml)
// and `access connect`, in front of the machine's PostgreSQL and MariaDB and the test's own sshd.
// psql run by `access connect pg -- psql`, the pg driver through a listener (queries, COPY of 50 MB
// each way, 20 connections at once), the mariadb client with MYSQL_HOST/MYSQL_TCP_PORT, and OpenSSH
// with `ProxyCommand=access connect ssh-test --stdio`. The auditor's view of each session (bytes,
// how it ended) shows the bytes really crossed the broker.

import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditSessionView } from '../../shared/wire.js';
import { CopyIn, CopyOut, connectPg, type PgClient } from '../helpers/pg-client.js';
import { ACCESS_BIN, tempDir, waitForMatch } from '../helpers/processes.js';
import { accessToken, eventually, grant, runProgram, startListener, stopListener, type Listening, type Person } from '../helpers/tunnel-broker.js';
import { startTunnelWorld, type TunnelWorld } from '../helpers/tunnel-world.js';

/** Rows of the COPY tests; each row is 1000 characters, so about 50 MB each way. */
const COPY_ROWS = 50_000;
const ROW_CHARS = 1000;
/** The pg resource's maxConnections (the default): all of them at once. */
const PARALLEL = 20;
/**
 * How a session a client ended is recorded: the client's close, or the server's own close when
 * it answered the client's goodbye (psql's Terminate) before the close frame reached the broker.
 */
const ORDINARY_ENDS = ['clientClosed', 'targetClosed'];

let world: TunnelWorld;
let alice: Person;
let auditorToken: string;

beforeAll(async () => {
  world = await startTunnelWorld({ people: ['alice', 'dave'], sshd: true });
  alice = world.people.alice;
  auditorToken = await accessToken(world.people.dave);
  for (const resource of ['pg', 'mysql', 'ssh-test']) await grant(alice, resource, '30m');
});

afterAll(async () => {
  await world?.stop();
});

/** The newest session of `resource` opened at or after `after`, once it has closed, as the auditor sees it. */
function closedSession(resource: string, after: number): Promise<AuditSessionView> {
  return world.api.closedSession(auditorToken, resource, (s) => Date.parse(s.openedAt) >= after);
}

/** Waits until no tunnel to `resource` is open, so a test can count on every connection slot. */
function noOpenSessions(resource: string): Promise<true> {
  return eventually(`every ${resource} session to close`, async () =>
    (await world.api.sessions(auditorToken, resource)).every((s) => s.closedAt !== null) ? true : undefined,
  );
}

function pgThrough(listening: Listening, applicationName: string): Promise<PgClient> {
  return connectPg({ host: listening.host, port: listening.port, user: 'postgres', database: 'test', application_name: applicationName });
}

describe('psql through `access connect pg -- psql`', () => {
  it("runs psql against the resource's database as its user, over TCP through the tunnel, and ends with psql's exit code", async () => {
    const started = Date.now();
    const ok = await alice.run([
      'connect',
      'pg',
      '--',
      'psql',
      '-X',
      '-At',
      '-c',
      "select current_user || '@' || current_database() || ' from ' || host(inet_client_addr())",
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout.trim()).toBe('postgres@test from 127.0.0.1');
    expect(ok.stderr).toMatch(/Tunnel to pg \(postgres\) on 127\.0\.0\.1:\d+ — access until .*; running psql/);
    const session = await closedSession('pg', started);
    expect(session).toMatchObject({ user: { upn: 'alice@contoso.dev' }, target: '127.0.0.1:5432' });
    expect(ORDINARY_ENDS).toContain(session.endReason);
    expect(session.bytesUp).toBeGreaterThan(0);
    expect(session.bytesDown).toBeGreaterThan(0);

    const failed = await alice.run(['connect', 'pg', '--', 'psql', '-X', '-At', '-c', 'select 1/0']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('ERROR:  division by zero');
  });
});

describe('the pg driver through one `access connect pg` listener', () => {
  it(`holds ${PARALLEL} connections open at once, each its own tunnel and server backend, and answers each its own query`, async () => {
    await noOpenSessions('pg');
    const listening = await startListener(alice, 'pg');
    const app = `access-e2e-parallel-${process.pid}`;
    const clients = await Promise.all(Array.from({ length: PARALLEL }, () => pgThrough(listening, app)));

    const seen = await clients[0]?.query<{ n: number }>('select count(*)::int as n from pg_stat_activity where application_name = $1', [app]);
    expect(seen?.rows[0]?.n).toBe(PARALLEL);
    const answers = await Promise.all(
      clients.map((client, i) => client.query<{ doubled: number; pid: number }>('select $1::int * 2 as doubled, pg_backend_pid() as pid, pg_sleep(0.2)', [i])),
    );
    expect(answers.map((a) => a.rows[0]?.doubled)).toEqual(clients.map((_, i) => i * 2));
    expect(new Set(answers.map((a) => a.rows[0]?.pid)).size).toBe(PARALLEL);

    await Promise.all(clients.map((client) => client.end()));
    expect((await stopListener(listening)).code).toBe(0);
    expect(listening.run.stderr().match(/#\d+ \S+ open/g)).toHaveLength(PARALLEL);
  });

  it('runs queries, reads a 50 MB COPY TO STDOUT byte for byte, and stores a 50 MB COPY FROM STDIN row for row', async () => {
    const started = Date.now();
    const listening = await startListener(alice, 'pg');
    const client = await pgThrough(listening, 'access-e2e-copy');

    const sum = await client.query<{ total: string }>('select sum(n)::text as total from generate_series(1, $1::int) as n', [1000]);
    expect(sum.rows[0]?.total).toBe('500500');

    const row = `${'x'.repeat(ROW_CHARS)}\n`;
    const expected = createHash('sha256');
    for (let i = 0; i < COPY_ROWS; i++) expected.update(row);
    const received = createHash('sha256');
    let bytesOut = 0;
    const out = new CopyOut(`COPY (SELECT repeat('x', ${ROW_CHARS}) FROM generate_series(1, ${COPY_ROWS})) TO STDOUT`, (chunk) => {
      received.update(chunk);
      bytesOut += chunk.length;
    });
    client.query(out);
    expect(await out.done).toBe(COPY_ROWS);
    expect(bytesOut).toBe(COPY_ROWS * row.length);
    expect(received.digest('hex')).toBe(expected.digest('hex'));

    await client.query('create temp table copied_in (n int, payload text)');
    function* rows(): Generator<Buffer> {
      const payload = 'y'.repeat(ROW_CHARS);
      for (let n = 1; n <= COPY_ROWS; n += 100) {
        yield Buffer.from(Array.from({ length: 100 }, (_, i) => `${n + i}\t${payload}\n`).join(''));
      }
    }
    const copyIn = new CopyIn('COPY copied_in FROM STDIN', rows());
    client.query(copyIn);
    expect(await copyIn.done).toBe(COPY_ROWS);
    const stored = await client.query<{ rows: number; chars: string; total: string }>(
      'select count(*)::int as rows, sum(length(payload))::text as chars, sum(n)::text as total from copied_in',
    );
    expect(stored.rows[0]).toEqual({ rows: COPY_ROWS, chars: String(COPY_ROWS * ROW_CHARS), total: String((COPY_ROWS * (COPY_ROWS + 1)) / 2) });
    await client.end();

    // One connection, one line when it closed, with both 50 MB in its counts; the broker counted the same.
    const closedLine = await waitForMatch(listening.run.stderr, /#1 closed: the client closed the connection — (\d+) MB up, (\d+) MB down/);
    expect(Number(closedLine[1])).toBeGreaterThanOrEqual(50);
    expect(Number(closedLine[2])).toBeGreaterThanOrEqual(50);
    expect((await stopListener(listening)).code).toBe(0);
    const session = await closedSession('pg', started);
    expect(session.bytesUp).toBeGreaterThan(COPY_ROWS * ROW_CHARS);
    expect(session.bytesDown).toBeGreaterThan(COPY_ROWS * ROW_CHARS);
  });
});

describe('the MariaDB client through `access connect mysql -- mysql`', () => {
  it('connects over TCP to MYSQL_HOST:MYSQL_TCP_PORT (the tunnel), runs the query, and passes the exit code through', async () => {
    const started = Date.now();
    const query = "select 'through the tunnel', substring_index(host, ':', 1) from information_schema.processlist where id = connection_id()";
    const ok = await alice.run(['connect', 'mysql', '--', 'mysql', '-u', 'root', '--batch', '--skip-column-names', '-e', query]);
    expect(ok.code, ok.stderr).toBe(0);
    // A connection over the Unix socket would show "localhost" here.
    expect(ok.stdout.trim()).toBe('through the tunnel\t127.0.0.1');
    const session = await closedSession('mysql', started);
    expect(session).toMatchObject({ target: '127.0.0.1:3306' });
    expect(ORDINARY_ENDS).toContain(session.endReason);
    expect(session.bytesDown).toBeGreaterThan(0);

    const failed = await alice.run(['connect', 'mysql', '--', 'mysql', '-u', 'root', '-e', 'select no_such_column']);
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain("Unknown column 'no_such_column'");
  });
});

describe('OpenSSH with ProxyCommand=`access connect ssh-test --stdio`', () => {
  it("logs in to the test's sshd through the tunnel, checks its host key, runs a remote command and returns its exit status", async (ctx) => {
    const { sshd } = world;
    if ('unavailable' in sshd) {
      console.warn(`skipping the OpenSSH test: ${sshd.unavailable}`);
      ctx.skip(sshd.unavailable);
      return;
    }
    const started = Date.now();
    const knownHosts = path.join(await tempDir('known-hosts'), 'known_hosts');
    // The host key is checked under the alias: only the test's sshd, reached through the tunnel, has it.
    await writeFile(knownHosts, `ssh-test ${sshd.hostKeyPublic}\n`);
    const proxy = `'${process.execPath}' '${ACCESS_BIN}' connect ssh-test --stdio`;
    const result = await runProgram(
      'ssh',
      [
        '-F',
        '/dev/null',
        '-i',
        sshd.keyFile,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'BatchMode=yes',
        '-o',
        'StrictHostKeyChecking=yes',
        '-o',
        `UserKnownHostsFile=${knownHosts}`,
        '-o',
        `ProxyCommand=${proxy}`,
        `${sshd.user}@ssh-test`,
        'echo "hello from $(whoami) over ssh"; exit 7',
      ],
      { ACCESS_HOME: alice.home, ...alice.env },
    );
    expect(result.code, `${result.stderr}\n${sshd.output()}`).toBe(7);
    expect(result.stdout).toBe(`hello from ${sshd.user} over ssh\n`);
    const session = await closedSession('ssh-test', started);
    expect(session).toMatchObject({ user: { upn: 'alice@contoso.dev' }, target: `127.0.0.1:${sshd.port}` });
    expect(ORDINARY_ENDS).toContain(session.endReason);
    expect(session.bytesUp).toBeGreaterThan(0);
    expect(session.bytesDown).toBeGreaterThan(0);
  });
});
