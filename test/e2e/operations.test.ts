// Running the broker as an operator does, with real processes: `access-broker dev --metrics 0
// --log-format json` through a whole flow (a request, a person's approval, a tunnel carrying
// bytes, a revoke), then `/metrics` scraped and its values checked; every stderr line a JSON
// object; `access-broker backup` of the live database; and SIGTERM draining a broker with a live
// tunnel, first until the tunnel ends on its own, then up to a short drain timeout after which the
// tunnel is cut with 1001 and the CLI says the broker is shutting down.

import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type net from 'node:net';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestView } from '../../shared/wire.js';
import { runBroker, startDevBrokerProcess, tempDir, waitForMatch, type DevBrokerProcess } from '../helpers/processes.js';
import { accessToken, BrokerApi, signIn, startListener, type Listening, type Person } from '../helpers/tunnel-broker.js';
import { closed, connectTcp, echoRoundTrip, startEchoServer, type LoopbackServer } from '../helpers/tunnel-targets.js';

/** A resource that needs a person's approval (no autoApprove), on the test's echo server. */
function config(echoPort: number): string {
  return [
    'resources:',
    '  echo:',
    '    kind: tcp',
    `    target: 127.0.0.1:${echoPort}`,
    '    requesters: [sg-eng]',
    '    approvers: [sg-dba]',
    '    maxDuration: 1h',
    'auditors: [sg-audit]',
    'devTenant:',
    '  groups: [{ name: sg-eng }, { name: sg-dba }, { name: sg-audit }]',
    '  users:',
    '    - { upn: alice@contoso.dev, name: Alice, groups: [sg-eng] }',
    '    - { upn: bob@contoso.dev, name: Bob, groups: [sg-dba] }',
    '    - { upn: dave@contoso.dev, name: Dave, groups: [sg-audit] }',
    '',
  ].join('\n');
}

interface LogLine {
  time: string;
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** The broker's stderr as JSON lines; throws naming the first line that is not one. */
function logLines(broker: DevBrokerProcess): LogLine[] {
  return broker
    .stderr()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      try {
        return JSON.parse(line) as LogLine;
      } catch {
        throw new Error(`a stderr line of the broker is not JSON: ${line}`);
      }
    });
}

/** One sample of a Prometheus text exposition: `name{a="b",…} value`, matched on the labels given. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(url: string): Promise<{ status: number; contentType: string | null; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  return { status: res.status, contentType: res.headers.get('content-type'), text: await res.text() };
}

/** Resolves with the exit code once the process has exited. */
function exited(broker: DevBrokerProcess): Promise<number | null> {
  if (broker.child.exitCode !== null) return Promise.resolve(broker.child.exitCode);
  return new Promise((resolve) => broker.child.once('exit', (code) => resolve(code)));
}

let echo: LoopbackServer;
let dir: string;
const brokers: DevBrokerProcess[] = [];

/** A dev broker on the echo config with `args`, and alice (requester) and bob (approver) signed in to it. */
async function startBroker(name: string, args: string[]): Promise<{ broker: DevBrokerProcess; dataDir: string; alice: Person; bob: Person }> {
  const home = await tempDir(name);
  const configFile = path.join(home, 'broker.yaml');
  await writeFile(configFile, config(echo.port));
  const dataDir = path.join(home, 'data');
  const broker = await startDevBrokerProcess(['--data', dataDir, '--config', configFile, '--log-format', 'json', ...args]);
  brokers.push(broker);
  const [alice, bob] = await Promise.all([
    signIn(broker.url, 'alice@contoso.dev', await tempDir(`${name}-alice`)),
    signIn(broker.url, 'bob@contoso.dev', await tempDir(`${name}-bob`)),
  ]);
  return { broker, dataDir, alice, bob };
}

/** alice asks for echo, bob approves: the approved request. */
async function approvedGrant(alice: Person, bob: Person): Promise<RequestView> {
  const asked = await alice.json<RequestView>(['request', 'echo', '--for', '30m', '--reason', 'INC-13 metrics', '--no-wait']);
  expect(asked.state).toBe('pending');
  const approved = await bob.json<RequestView>(['approve', asked.id]);
  expect(approved.state).toBe('approved');
  return approved;
}

beforeAll(async () => {
  echo = await startEchoServer();
  dir = await tempDir('operations');
});

afterAll(async () => {
  for (const broker of brokers) await broker.stop();
  await echo?.close();
});

describe('a whole flow, then /metrics and the JSON log', () => {
  let broker: DevBrokerProcess;
  let dataDir: string;
  let alice: Person;
  let bob: Person;
  let metricsUrl: string;
  let grant: RequestView;
  let listening: Listening;
  let socket: net.Socket;
  const text = 'bytes through the tunnel, counted each way';

  beforeAll(async () => {
    ({ broker, dataDir, alice, bob } = await startBroker('metrics', ['--metrics', '0']));
    const line = logLines(broker).find((entry) => entry.msg === 'metrics listening');
    metricsUrl = String(line?.url);
  });

  it('serves /metrics on its own loopback listener, not on the broker port', async () => {
    expect(metricsUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const scraped = await scrape(metricsUrl);
    expect(scraped.status).toBe(200);
    expect(scraped.contentType).toMatch(/^text\/plain; version=0\.0\.4/);
    expect((await fetch(`${broker.url}/metrics`)).status).toBe(404);
  });

  it('counts an open tunnel, its live grant and its bytes while it is open', async () => {
    grant = await approvedGrant(alice, bob);
    listening = await startListener(alice, 'echo');
    socket = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(socket, text)).toBe(text);
    const { text: metrics } = await scrape(metricsUrl);
    expect(sample(metrics, 'access_tunnels_open', { resource: 'echo' })).toBe(1);
    expect(sample(metrics, 'access_grants_live', { resource: 'echo' })).toBe(1);
    expect(sample(metrics, 'access_requests_open', { resource: 'echo', state: 'approved' })).toBe(1);
    expect(sample(metrics, 'access_tunnel_bytes_total', { resource: 'echo', direction: 'up' })).toBe(Buffer.byteLength(text));
  });

  it('after the revoke: transitions by state, the decision time, the cut by reason, the bytes each way, Graph and store calls', async () => {
    const revoked = await bob.run(['revoke', grant.id, '--reason', 'done with the metrics test']);
    expect(revoked.code, revoked.stderr).toBe(0);
    await closed(socket);
    await listening.run.done;

    const { text: metrics } = await scrape(metricsUrl);
    const bytes = Buffer.byteLength(text);
    expect(sample(metrics, 'access_requests_total', { resource: 'echo', state: 'pending' })).toBe(1);
    expect(sample(metrics, 'access_requests_total', { resource: 'echo', state: 'approved' })).toBe(1);
    expect(sample(metrics, 'access_requests_total', { resource: 'echo', state: 'revoked' })).toBe(1);
    expect(sample(metrics, 'access_request_decision_seconds_count', { resource: 'echo', decision: 'approved' })).toBe(1);
    expect(sample(metrics, 'access_tunnels_open', { resource: 'echo' })).toBeUndefined();
    expect(sample(metrics, 'access_grants_live', { resource: 'echo' })).toBeUndefined();
    expect(sample(metrics, 'access_tunnel_closed_total', { resource: 'echo', reason: 'grantRevoked' })).toBe(1);
    expect(sample(metrics, 'access_tunnel_bytes_total', { resource: 'echo', direction: 'up' })).toBe(bytes);
    expect(sample(metrics, 'access_tunnel_bytes_total', { resource: 'echo', direction: 'down' })).toBe(bytes);
    // Membership was read from the dev tenant's Graph at the request, the approval and the tunnel's opening.
    expect(sample(metrics, 'access_graph_requests_total', { status: '200' })).toBeGreaterThanOrEqual(3);
    expect(sample(metrics, 'access_graph_request_duration_seconds_count')).toBeGreaterThanOrEqual(3);
    expect(sample(metrics, 'access_graph_errors_total')).toBe(0);
    // Creation, approval and revoke each committed one transaction.
    expect(sample(metrics, 'access_store_operation_duration_seconds_count', { store: 'requests', operation: 'transaction' })).toBeGreaterThanOrEqual(3);
    expect(sample(metrics, 'access_store_operation_duration_seconds_count', { store: 'sessions', operation: 'open' })).toBe(1);
    expect(sample(metrics, 'access_audit_pending_entries')).toBeGreaterThanOrEqual(0);
    expect(sample(metrics, 'access_audit_append_lag_seconds')).toBeGreaterThanOrEqual(0);
    // And the process's own, for the same dashboards as any Node service.
    expect(sample(metrics, 'process_resident_memory_bytes')).toBeGreaterThan(0);
  });

  it('writes every log line as one JSON object with time, level, msg and the fields', () => {
    const lines = logLines(broker);
    for (const line of lines) {
      expect(Number.isNaN(Date.parse(line.time))).toBe(false);
      expect(['info', 'warn', 'error']).toContain(line.level);
      expect(typeof line.msg).toBe('string');
    }
    expect(lines.find((line) => line.msg === 'tunnel closed')).toMatchObject({
      level: 'info',
      resource: 'echo',
      reason: 'grantRevoked',
      bytesUp: Buffer.byteLength(text),
    });
  });

  it('backs up the live database to a checked copy, and refuses to overwrite it without --force', async () => {
    const file = path.join(dir, 'access-backup.db');
    const first = await runBroker(['backup', file, '--data', dataDir]);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toMatch(
      /^backed up to .*access-backup\.db \(\d+ bytes, schema version \d+\)\nchecked: integrity ok; audit chain ok \(\d+ entries, head \d+ [0-9a-f]{64}\)\n$/,
    );
    const copy = new Sqlite(file, { readonly: true });
    try {
      expect(copy.prepare('SELECT state FROM requests WHERE id = ?').get(grant.id)).toEqual({ state: 'revoked' });
    } finally {
      copy.close();
    }

    const again = await runBroker(['backup', file, '--data', dataDir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists — name another file, or pass --force to replace it');
    const forced = await runBroker(['backup', file, '--data', dataDir, '--force']);
    expect(forced.code, forced.stderr).toBe(0);

    const missing = await runBroker(['backup', path.join(dir, 'other.db'), '--data', path.join(dir, 'no-such-data')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('there is no broker database at');
    expect(existsSync(path.join(dir, 'other.db'))).toBe(false);
  });
});

describe('SIGTERM drains', () => {
  it('stops accepting at once, lets a live tunnel carry bytes until it ends on its own, then exits 0', async () => {
    const { broker, alice, bob } = await startBroker('drain', ['--drain-timeout', '10m']);
    const api = new BrokerApi(broker.url);
    await approvedGrant(alice, bob);
    const listening = await startListener(alice, 'echo');
    const socket = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(socket, 'before')).toBe('before');

    broker.child.kill('SIGTERM');
    await waitForMatch(broker.stderr, /"msg":"draining: new requests and tunnels are refused, open tunnels may finish"/);
    // Not ready and not taking tunnels: a new connection is refused outright or answered 503.
    const ready = await fetch(`${broker.url}/readyz`).then(
      (res) => res.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(ready);
    await expect(api.openTunnel(await accessToken(alice), 'echo')).rejects.toThrow();
    // The open tunnel still relays.
    expect(await echoRoundTrip(socket, 'during the drain')).toBe('during the drain');

    socket.destroy();
    listening.run.child.kill('SIGINT');
    expect(await exited(broker)).toBe(0);
    const msgs = logLines(broker).map((line) => line.msg);
    expect(msgs).toContain('drained: no tunnel is open');
    expect(msgs).not.toContain('drain timeout reached: cutting the open tunnels');
  });

  it('cuts the tunnels still open at the drain timeout with "the broker is shutting down", records them, closes the store and exits 0', async () => {
    const { broker, dataDir, alice, bob } = await startBroker('drain-cut', ['--drain-timeout', '1s']);
    await approvedGrant(alice, bob);
    const listening = await startListener(alice, 'echo');
    const socket = await connectTcp(listening.host, listening.port);
    expect(await echoRoundTrip(socket, 'hello')).toBe('hello');

    broker.child.kill('SIGTERM');
    await closed(socket);
    expect(await exited(broker)).toBe(0);
    expect(logLines(broker).find((line) => line.msg === 'drain timeout reached: cutting the open tunnels')).toMatchObject({ level: 'warn', tunnels: 1 });
    await waitForMatch(listening.run.stderr, /the broker is shutting down/);
    listening.run.child.kill('SIGINT');
    await listening.run.done;

    // The store was closed cleanly: no WAL left behind, and the session is recorded as cut by the shutdown.
    expect(existsSync(path.join(dataDir, 'access.db-wal'))).toBe(false);
    const db = new Sqlite(path.join(dataDir, 'access.db'), { readonly: true });
    try {
      expect(db.prepare("SELECT end_reason FROM sessions WHERE resource = 'echo'").all()).toEqual([{ end_reason: 'goingAway' }]);
    } finally {
      db.close();
    }
  });
});
