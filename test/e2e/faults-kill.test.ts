// End to end with real processes: the broker killed with SIGKILL while work is in flight, then
// restarted on the same port with the same --data. durability.test.ts kills it between steps of a
// request's life; this file kills it in the middle of them:
//   - during a burst of reviews: every review the broker acknowledged (200) is there after the
//     restart, every other request is exactly pending or approved (never half), the chain verifies;
//   - during a live tunnel: the CLI says the broker connection was lost, the session is closed at
//     restart (broker_restart), the listener reconnects, and the grant's expiry still cuts the new
//     tunnel at its absolute time;
//   - during a stream of Postgres queries (the audit log's batched writes): the chain verifies after
//     the restart, the recorded queries are an in-order prefix of what the client sent, and every
//     query whose answer the client saw is among them.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditShowResponse, RequestView } from '../../shared/wire.js';
import { connectPg } from '../helpers/pg-client.js';
import { freePort, startDevBrokerProcess, tempDir, waitForMatch, type DevBrokerProcess } from '../helpers/processes.js';
import { BrokerApi, accessToken, eventually, FAULT_TEST_PEOPLE, signInEach, startListener, stopListener, type Person } from '../helpers/tunnel-broker.js';
import { closed, connectTcp, echoRoundTrip, startEchoServer, type LoopbackServer } from '../helpers/tunnel-targets.js';

/** Requests reviewed at once when the broker dies. */
const BURST = 40;

let dir: string;
let port: number;
let config: string;
let broker: DevBrokerProcess;
let api: BrokerApi;
let echo: LoopbackServer;
let alice: Person;
let bob: Person;
let dave: Person;
const measured: Record<string, string> = {};

function startBroker(): Promise<DevBrokerProcess> {
  return startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', config], {}, { port });
}

async function crashAndRestart(): Promise<void> {
  const url = broker.url;
  await broker.kill();
  const start = Date.now();
  broker = await startBroker();
  measured['restart after SIGKILL'] = `${((Date.now() - start) / 1000).toFixed(1)}s`;
  expect(broker.url).toBe(url);
}

beforeAll(async () => {
  dir = await tempDir('faults-kill');
  port = await freePort();
  echo = await startEchoServer();
  config = path.join(dir, 'config.yaml');
  const resource = (name: string, kind: string, target: string, extra = ''): string =>
    `  ${name}:\n    kind: ${kind}\n    target: ${target}\n    requesters: [sg-eng]\n    approvers: [sg-dba]\n    maxDuration: 1h\n${extra}`;
  await writeFile(
    config,
    [
      'resources:',
      resource('reviewed', 'tcp', `127.0.0.1:${echo.port}`),
      resource('echo', 'tcp', `127.0.0.1:${echo.port}`, '    autoApprove: [sg-eng]\n'),
      resource('pg', 'postgres', '127.0.0.1:5432', '    autoApprove: [sg-eng]\n    database: test\n    user: postgres\n'),
      // The burst is one person's: the per-caller limits are not what this file is about.
      'limits:',
      `  requestsPerMinute: ${BURST * 2}`,
      `  maxPendingPerUser: ${BURST * 2}`,
      FAULT_TEST_PEOPLE,
    ].join('\n'),
  );
  broker = await startBroker();
  api = new BrokerApi(broker.url);
  [alice, bob, dave] = await signInEach(broker.url, ['alice', 'bob', 'dave']);
});

afterAll(async () => {
  await broker?.stop();
  await echo?.close();
  if (Object.keys(measured).length > 0) console.info(`faults-kill measured: ${JSON.stringify(measured)}`);
});

async function post(token: string, pathName: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${broker.url}${pathName}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

async function aliceRequests(): Promise<Map<string, RequestView>> {
  return new Map((await alice.json<RequestView[]>(['requests', '--all'])).map((r) => [r.id, r]));
}

async function verifyChain(): Promise<void> {
  const result = await dave.run(['audit', 'verify']);
  expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
}

describe('SIGKILL in the middle of the work', () => {
  it('loses no acknowledged review of a burst cut by the kill, and leaves no request half-reviewed', async () => {
    const aliceToken = await accessToken(alice);
    const ids: string[] = [];
    for (let i = 0; i < BURST; i++) {
      const created = await post(aliceToken, '/v1/requests', { resource: 'reviewed', duration: '30m', reason: `burst ${i}` });
      expect(created.status).toBe(201);
      ids.push((created.body as RequestView).id);
    }
    const bobToken = await accessToken(bob);
    const acknowledged = new Set<string>();
    let firstAnswer: () => void = () => undefined;
    const answered = new Promise<void>((resolve) => (firstAnswer = resolve));
    const reviews = ids.map(async (id) => {
      try {
        const res = await post(bobToken, `/v1/requests/${id}/review`, { decision: 'approve' });
        if (res.status === 200) acknowledged.add(id);
        firstAnswer();
      } catch {
        // Cut by the kill: not acknowledged, so either outcome is allowed.
      }
    });
    await answered;
    await broker.kill();
    await Promise.all(reviews);
    measured['reviews acknowledged before the kill'] = `${acknowledged.size} of ${BURST}`;
    expect(acknowledged.size).toBeGreaterThan(0);

    await crashAndRestart();

    const after = await aliceRequests();
    for (const id of ids) {
      const view = after.get(id);
      expect(view, `request ${id} is gone`).toBeDefined();
      if (acknowledged.has(id)) expect(view?.state, `acknowledged review of ${id}`).toBe('approved');
      // All or nothing: approved with its one review, or pending without any.
      if (view?.state === 'approved') expect(view.reviews.map((r) => r.decision)).toEqual(['approve']);
      else expect(view).toMatchObject({ state: 'pending', reviews: [] });
    }
    await verifyChain();
  });

  it("closes a live tunnel at the kill with words, records it at restart, reconnects, and still cuts at the grant's expiry", async () => {
    const view = await alice.json<RequestView>(['request', 'echo', '--for', '40s']);
    expect(view.state).toBe('approved');
    const expiresAt = Date.parse(view.expiresAt as string);
    const listening = await startListener(alice, 'echo');
    const socket = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(socket, 'before the kill')).toBe('before the kill');
    const kill = broker.kill();
    await closed(socket);
    await kill;
    await waitForMatch(
      listening.run.stderr,
      /#1 closed: the broker holding the tunnel went away \(the connection to it was lost\), so the connection was closed; still listening: the next connection opens a new tunnel/,
    );
    broker = await startBroker();

    const dying = await api.closedSession(await accessToken(dave), 'echo');
    expect(dying).toMatchObject({ endReason: 'broker_restart', requestId: view.id });

    const again = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(again, 'after the restart')).toBe('after the restart');
    // The restarted broker armed the grant's expiry: the new tunnel is cut at it, and the command ends 0.
    await closed(again);
    measured['tunnel cut after its expiry (restarted broker)'] = `${((Date.now() - expiresAt) / 1000).toFixed(1)}s late`;
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt);
    const result = await listening.run.done;
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/access expired at/);
    const cut = await api.closedSession(await accessToken(dave), 'echo', (s) => s.id !== dying.id);
    expect(cut).toMatchObject({ endReason: 'grantExpired' });
    await stopListener(listening).catch(() => undefined);
  });

  it('keeps the audit chain whole when killed during a stream of captured Postgres queries, with every query the client saw answered recorded, in order', async () => {
    const view = await alice.json<RequestView>(['request', 'pg', '--for', '10m']);
    expect(view.state).toBe('approved');
    const listening = await startListener(alice, 'pg');
    const client = await connectPg({ host: listening.host, port: listening.port, user: 'postgres', database: 'test', application_name: 'faults-kill' });
    client.on('error', () => undefined);
    let answered = 0;
    const stream = (async () => {
      for (let i = 0; ; i++) {
        try {
          await client.query(`select ${i} as n`);
          answered = i + 1;
        } catch {
          return;
        }
      }
    })();
    await eventually('a few hundred answered queries', async () => (answered >= 300 ? true : undefined));
    await broker.kill();
    await stream;
    await stopListener(listening).catch(() => undefined);
    broker = await startBroker();

    await verifyChain();
    const session = await api.closedSession(await accessToken(dave), 'pg');
    expect(session.endReason).toBe('broker_restart');
    const story = await api.get<AuditShowResponse>(await accessToken(dave), `/v1/audit/show/${encodeURIComponent(session.id)}?limit=50000`);
    const sqls = story.entries.filter((e) => e.type === 'pg.query').map((e) => String(e.body['sql']));
    const sent = sqls.filter((sql) => /^select \d+ as n$/.test(sql));
    measured['queries answered before the kill / recorded after restart'] = `${answered} / ${sent.length}`;
    expect(sent).toEqual(sent.map((_, i) => `select ${i} as n`));
    // Every statement whose answer the client saw is in the log (the one in flight at the kill may be too).
    expect(sent.length).toBeGreaterThanOrEqual(answered);
  });
});
