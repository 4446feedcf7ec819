// End to end with real processes: targets that fail under a live tunnel. A target process killed
// with SIGKILL mid-session, a target that accepts and then never reads or answers (a blackhole),
// and a Postgres target that accepts but never answers the TLS negotiation. For each: the CLI says
// what happened in words, the session is in the audit log with its end reason, and nothing waits
// longer than a named timeout (the resource's idleTimeout, TARGET_CONNECT_TIMEOUT_MS).
// A target that refuses the connection outright is covered by tunnel-refusals.test.ts.

import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGET_CONNECT_TIMEOUT_MS } from '../../broker/tunnel/dial.js';
import type { RequestView } from '../../shared/wire.js';
import { startDevBrokerProcess, tempDir, waitForMatch, type DevBrokerProcess } from '../helpers/processes.js';
import { BrokerApi, accessToken, FAULT_TEST_PEOPLE, signInEach, startListener, stopListener, type Person } from '../helpers/tunnel-broker.js';
import { closed, connectTcp, echoRoundTrip } from '../helpers/tunnel-targets.js';

/** idleTimeout of the blackhole resource: the named limit a stuck target is cut by. */
const BLACKHOLE_IDLE_S = 3;

/** An echo server in its own process, so the test can SIGKILL it; prints its port. */
const ECHO_PROCESS = `
const net = require('node:net');
const server = net.createServer((s) => { s.on('error', () => {}); s.pipe(s); });
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

let dir: string;
let broker: DevBrokerProcess;
let api: BrokerApi;
let alice: Person;
let dave: Person;
let echoProcess: ChildProcess;
let echoPort: number;
/** Accepts connections and never reads from them or writes to them. */
let blackhole: net.Server;
const held = new Set<net.Socket>();
const measured: Record<string, string> = {};

function startEchoProcess(): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['-e', ECHO_PROCESS], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve({ child, port: Number(chunk.toString().trim()) }));
    child.once('exit', (code) => reject(new Error(`the echo process exited with ${code}`)));
  });
}

beforeAll(async () => {
  dir = await tempDir('faults-target');
  ({ child: echoProcess, port: echoPort } = await startEchoProcess());
  blackhole = net.createServer((socket) => {
    socket.pause();
    socket.on('error', () => undefined);
    held.add(socket);
  });
  await new Promise<void>((resolve) => blackhole.listen(0, '127.0.0.1', resolve));
  const blackholePort = (blackhole.address() as net.AddressInfo).port;
  const config = path.join(dir, 'config.yaml');
  const resource = (name: string, kind: string, port: number, extra = ''): string =>
    `  ${name}:\n    kind: ${kind}\n    target: 127.0.0.1:${port}\n    requesters: [sg-eng]\n    approvers: [sg-dba]\n    autoApprove: [sg-eng]\n    maxDuration: 1h\n${extra}`;
  await writeFile(
    config,
    [
      'resources:',
      resource('mortal', 'tcp', echoPort),
      resource('blackhole', 'tcp', blackholePort, `    idleTimeout: ${BLACKHOLE_IDLE_S}s\n`),
      resource('pg-mute', 'postgres', blackholePort, '    targetTls: require\n    database: test\n    user: postgres\n'),
      FAULT_TEST_PEOPLE,
    ].join('\n'),
  );
  broker = await startDevBrokerProcess(['--data', path.join(dir, 'data'), '--config', config]);
  api = new BrokerApi(broker.url);
  [alice, dave] = await signInEach(broker.url, ['alice', 'dave']);
});

afterAll(async () => {
  await broker?.stop();
  echoProcess?.kill('SIGKILL');
  for (const socket of held) socket.destroy();
  await new Promise<void>((resolve) => (blackhole ? blackhole.close(() => resolve()) : resolve()));
  if (Object.keys(measured).length > 0) console.info(`faults-target measured: ${JSON.stringify(measured)}`);
});

async function grant(resource: string): Promise<void> {
  const view = await alice.json<RequestView>(['request', resource, '--for', '30m']);
  expect(view.state).toBe('approved');
}

describe('a target that fails under a live tunnel', () => {
  it('says the target closed the connection when its process is killed mid-session, and records targetClosed', async () => {
    await grant('mortal');
    const listening = await startListener(alice, 'mortal');
    const socket = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(socket, 'alive')).toBe('alive');
    const killedAt = Date.now();
    echoProcess.kill('SIGKILL');
    await closed(socket);
    measured['client closed after the target was SIGKILLed'] = `${((Date.now() - killedAt) / 1000).toFixed(1)}s`;
    await waitForMatch(listening.run.stderr, /#1 closed: the (target closed the connection|connection to the target failed)/);
    const session = await api.closedSession(await accessToken(dave), 'mortal');
    expect(['targetClosed', 'targetFailed']).toContain(session.endReason);
    // The listener outlives one failed connection; the next one is refused with the reason in words.
    const next = await connectTcp(listening.host, listening.port);
    await closed(next);
    await waitForMatch(
      listening.run.stderr,
      new RegExp(`#2 \\S+ refused: The broker cannot connect to mortal's target 127\\.0\\.0\\.1:${echoPort}: connect ECONNREFUSED`),
    );
    expect((await stopListener(listening)).code).toBe(0);
  });

  it("cuts a tunnel to a target that accepts and then never reads or answers after the resource's idleTimeout, and says so", async () => {
    await grant('blackhole');
    const listening = await startListener(alice, 'blackhole');
    const socket = await connectTcp(listening.host, listening.port);
    const start = Date.now();
    // More than every buffer on the way can hold: the writes stall against the blackhole's closed window.
    socket.write(Buffer.alloc(16 * 1024 * 1024, 1));
    await closed(socket);
    measured[`blackhole tunnel cut (idleTimeout ${BLACKHOLE_IDLE_S}s)`] = `${((Date.now() - start) / 1000).toFixed(1)}s`;
    await waitForMatch(listening.run.stderr, /#1 closed: idle too long/);
    const session = await api.closedSession(await accessToken(dave), 'blackhole');
    expect(session).toMatchObject({ endReason: 'idleTimeout' });
    expect(session.bytesUp).toBeGreaterThan(0);
    expect((await stopListener(listening)).code).toBe(0);
  });

  it('refuses a Postgres tunnel whose target never answers the TLS request after TARGET_CONNECT_TIMEOUT_MS, naming the target', async () => {
    await grant('pg-mute');
    const start = Date.now();
    const refused = await api.openTunnel(await accessToken(alice), 'pg-mute');
    measured[`mute postgres target refused (TARGET_CONNECT_TIMEOUT_MS ${TARGET_CONNECT_TIMEOUT_MS / 1000}s)`] = `${((Date.now() - start) / 1000).toFixed(1)}s`;
    expect(refused).toMatchObject({
      status: 502,
      code: expect.stringMatching(/^target_(tls_failed|unreachable)$/),
      message: expect.stringContaining('pg-mute'),
    });
    // No session was recorded for a tunnel that never opened.
    expect(await api.sessions(await accessToken(dave), 'pg-mute')).toEqual([]);
  });
});
