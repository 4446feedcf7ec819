// End to end with real processes: Microsoft Graph down or hung while people request, review and
// hold live sessions. The dev broker runs with ACCESS_DEV_GRAPH_FAULTS (broker/devtenant/graph-faults.ts),
// a file this test writes `down` or `stall` into. Every decision fails closed with
// `directory_unavailable` in words a person reads, a hung Graph ends within the broker's deadline
// (not the CLI's own timeout), a live tunnel is cut once its user's membership has gone unconfirmed
// for the membership grace (4115, recorded as membershipUnconfirmed), and once Graph answers
// again everything works and the audit chain verifies.

import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHARED_READ_MS } from '../../broker/identity/cached-directory.js';
import { DIRECTORY_READ_DEADLINE_MS } from '../../broker/identity/deadline-directory.js';
import { DEFAULT_HTTP_TIMEOUT_MS } from '../../shared/http-transport.js';
import type { AuditSessionView, RequestView } from '../../shared/wire.js';
import { startDevBrokerProcess, tempDir, waitForMatch, type DevBrokerProcess } from '../helpers/processes.js';
import { BrokerApi, accessToken, FAULT_TEST_PEOPLE, signInEach, startListener, stopListener, type Listening, type Person } from '../helpers/tunnel-broker.js';
import { closed, connectTcp, echoRoundTrip, startEchoServer, type LoopbackServer } from '../helpers/tunnel-targets.js';

/** membershipRecheckSeconds and membershipGraceSeconds of this file's broker. */
const RECHECK_S = 1;
const GRACE_S = 3;

const CONFIG = `
groupCacheSeconds: 0
membershipRecheckSeconds: ${RECHECK_S}
membershipGraceSeconds: ${GRACE_S}
resources:
  echo:
    kind: tcp
    target: 127.0.0.1:ECHO_PORT
    requesters: [sg-eng]
    approvers: [sg-dba]
    autoApprove: [sg-eng]
    maxDuration: 1h
  gated:
    kind: tcp
    target: 127.0.0.1:ECHO_PORT
    requesters: [sg-eng]
    approvers: [sg-dba]
    maxDuration: 1h
${FAULT_TEST_PEOPLE}`;

let dir: string;
let faultFile: string;
let echo: LoopbackServer;
let broker: DevBrokerProcess;
let api: BrokerApi;
let alice: Person;
let bob: Person;
let dave: Person;
/** What this file measured, printed at the end for the record (never asserted as a threshold). */
const measured: Record<string, string> = {};

async function graph(state: 'down' | 'stall' | 'ok'): Promise<void> {
  await writeFile(faultFile, state === 'ok' ? '' : state);
}

beforeAll(async () => {
  dir = await tempDir('faults-graph');
  faultFile = path.join(dir, 'graph-fault');
  await graph('ok');
  echo = await startEchoServer();
  const config = path.join(dir, 'config.yaml');
  await writeFile(config, CONFIG.replaceAll('ECHO_PORT', String(echo.port)));
  broker = await startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', config], { ACCESS_DEV_GRAPH_FAULTS: faultFile });
  api = new BrokerApi(broker.url);
  [alice, bob, dave] = await signInEach(broker.url, ['alice', 'bob', 'dave']);
});

afterAll(async () => {
  await graph('ok').catch(() => undefined);
  await broker?.stop();
  await echo?.close();
  if (Object.keys(measured).length > 0) console.info(`faults-graph measured: ${JSON.stringify(measured)}`);
});

/** Time a promise takes, in seconds with one decimal. */
async function timed<T>(what: string, work: Promise<T>): Promise<T> {
  const start = Date.now();
  const result = await work;
  measured[what] = `${((Date.now() - start) / 1000).toFixed(1)}s`;
  return result;
}

async function pending(person: Person, resource: string): Promise<RequestView> {
  const view = await person.json<RequestView>(['request', resource, '--for', '30m', '--no-wait']);
  expect(view.state).toBe('pending');
  return view;
}

async function liveTunnel(): Promise<{ listening: Listening; socket: import('node:net').Socket }> {
  await alice.json<RequestView>(['request', 'echo', '--for', '30m']);
  const listening = await startListener(alice, 'echo');
  const socket = await connectTcp(listening.host, listening.port);
  expect(await echoRoundTrip(socket, 'before the outage')).toBe('before the outage');
  return { listening, socket };
}

describe('Graph down', () => {
  it('refuses a review with directory_unavailable (exit 1, in words), and the request stays pending', async () => {
    const view = await pending(alice, 'gated');
    await graph('down');
    try {
      const result = await timed('review refused while Graph is down', bob.run(['approve', view.id]));
      expect(result.code).toBe(1);
      expect(result.stderr).toMatch(/Microsoft Graph/);
      expect(result.stderr).not.toMatch(/\n\s+at /);
      const api503 = await fetch(`${broker.url}/v1/requests/${view.id}/review`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await accessToken(bob)}`, 'content-type': 'application/json' },
        body: JSON.stringify({ decision: 'approve' }),
      });
      expect(api503.status).toBe(503);
      expect(await api503.json()).toMatchObject({ code: 'directory_unavailable' });
    } finally {
      await graph('ok');
    }
    expect(await stateOf(view.id)).toBe('pending');
    // Graph is back: the same review goes through.
    expect((await bob.run(['approve', view.id])).code).toBe(0);
  });

  it('refuses a new request with directory_unavailable and stores nothing', async () => {
    const before = await alice.json<RequestView[]>(['requests', '--all']);
    await graph('down');
    let result;
    try {
      result = await alice.run(['request', 'gated', '--for', '30m', '--no-wait']);
    } finally {
      await graph('ok');
    }
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/Microsoft Graph/);
    expect(await alice.json<RequestView[]>(['requests', '--all'])).toEqual(before);
  });

  it('refuses a new tunnel connection at once, and cuts a live one with 4115 once the grace has passed', async () => {
    const { listening, socket } = await liveTunnel();
    await graph('down');
    try {
      // Past the window in which a new connection may take the live tunnel's read as its own.
      await new Promise((resolve) => setTimeout(resolve, SHARED_READ_MS + 100));
      const start = Date.now();
      const second = await connectTcp(listening.host, listening.port);
      await closed(second);
      await waitForMatch(listening.run.stderr, /#2 \S+ refused: .*Microsoft Graph/);
      await closed(socket);
      measured['live tunnel cut after Graph went down'] = `${((Date.now() - start) / 1000).toFixed(1)}s (grace ${GRACE_S}s, re-check ${RECHECK_S}s)`;
      await waitForMatch(listening.run.stderr, /#1 closed: your group membership could not be confirmed for 3s \(the directory is unavailable\)/);
    } finally {
      await graph('ok');
    }
    const session = await auditedSession();
    expect(session).toMatchObject({ endReason: 'membershipUnconfirmed' });
    // Graph is back: the listener admits a new connection.
    const third = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(third, 'after the outage')).toBe('after the outage');
    third.end();
    expect((await stopListener(listening)).code).toBe(0);
  });
});

describe('Graph hung (answers nothing)', () => {
  it("ends a review with directory_unavailable within the broker's deadline, before the CLI would give up on the broker", async () => {
    const view = await pending(alice, 'gated');
    await graph('stall');
    let result;
    try {
      result = await timed('review refused while Graph hangs', bob.run(['approve', view.id]));
    } finally {
      await graph('ok');
    }
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`did not answer a membership read for user`);
    expect(result.stderr).toContain(`within ${DIRECTORY_READ_DEADLINE_MS / 1000}s`);
    expect(DIRECTORY_READ_DEADLINE_MS).toBeLessThan(DEFAULT_HTTP_TIMEOUT_MS);
    expect(await stateOf(view.id)).toBe('pending');
  });

  it('cuts a live tunnel once the grace has passed even though no re-check ever comes back', async () => {
    const { listening, socket } = await liveTunnel();
    await graph('stall');
    try {
      const start = Date.now();
      await closed(socket);
      measured['live tunnel cut after Graph hung'] = `${((Date.now() - start) / 1000).toFixed(1)}s (grace ${GRACE_S}s)`;
      await waitForMatch(listening.run.stderr, /#1 closed: your group membership could not be confirmed/);
    } finally {
      await graph('ok');
    }
    expect(await auditedSession()).toMatchObject({ endReason: 'membershipUnconfirmed' });
    expect((await stopListener(listening)).code).toBe(0);
  });
});

describe('after the outages', () => {
  it('verifies the audit chain', async () => {
    const result = await dave.run(['audit', 'verify']);
    expect(result.code, result.stderr).toBe(0);
  });
});

/** The state of alice's request `id` now. */
async function stateOf(id: string): Promise<string | undefined> {
  return (await alice.json<RequestView[]>(['requests', '--all'])).find((r) => r.id === id)?.state;
}

/** The newest closed echo session, as the auditor sees it (Graph must be up: auditors are checked too). */
async function auditedSession(): Promise<AuditSessionView> {
  return api.closedSession(await accessToken(dave), 'echo');
}
