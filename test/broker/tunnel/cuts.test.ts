// How a tunnel ends: at the grant's absolute expiry, on a revoke, when Graph no longer lists the
// user in a requester group, when idle, when the target ends or fails, on shutdown — each with its
// close code and reason, and each recorded in the session row.

import type net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CloseCode } from '../../../shared/close-codes.js';
import { principal, resource } from '../requests/harness.js';
import { echo, startTarget, startTunnelBroker, TunnelClient, until, type Target, type TunnelBroker } from './harness.js';

/** The membership re-check interval of this broker: short, so a removal shows within a test. */
const RECHECK_MS = 200;
const IDLE_MS = 300;
/** How long tunnels outlive the last confirmed membership while the directory fails: several re-checks. */
const GRACE_MS = 1_000;

let broker: TunnelBroker;
let echoTarget: Target;
/** Says "bye" and closes every connection once it receives "quit". */
let quitter: Target;
/** Resets the connection (RST) once it receives anything. */
let resetter: Target;
const clients: TunnelClient[] = [];

beforeAll(async () => {
  echoTarget = await startTarget(echo);
  quitter = await startTarget((socket) => socket.on('data', () => socket.end('bye')));
  resetter = await startTarget((socket) => socket.on('data', () => socket.resetAndDestroy()));
  // Plain bytes (kind tcp): these targets do not speak Postgres, so no query capture reads them.
  const at = (target: Target) => ({ kind: 'tcp' as const, target: { host: '127.0.0.1', port: target.port } });
  broker = await startTunnelBroker(
    [
      resource('prod-db', at(echoTarget)),
      resource('idle-db', { ...at(echoTarget), idleTimeoutMs: IDLE_MS }),
      resource('quitter', at(quitter)),
      resource('resetter', at(resetter)),
    ],
    { tunnel: { membershipRecheckMs: RECHECK_MS, membershipGraceMs: GRACE_MS } },
  );
});

afterEach(async () => {
  for (const client of clients.splice(0)) client.ws.terminate();
  await until(() => broker.runtime.tunnels.connections === 0);
});

afterAll(async () => {
  await broker.close();
  await Promise.all([echoTarget.close(), quitter.close(), resetter.close()]);
});

async function open(resourceName: string, token = 'good-alice'): Promise<TunnelClient> {
  const client = await TunnelClient.open(broker.wsBase, resourceName, token);
  clients.push(client);
  return client;
}

/** The session row once the broker has recorded the end. */
async function endedSession(id: string) {
  await until(() => broker.runtime.sessions.get(id)?.endedAt != null);
  return broker.runtime.sessions.get(id);
}

function latestSessionId(resourceName: string): string {
  return broker.sessions({ resource: resourceName, limit: 1 })[0]?.id as string;
}

describe('tunnel cuts', () => {
  it("closes with 4110 at the grant's absolute expiry, not a grant-length after the tunnel opened", async () => {
    const grant = await broker.grant('prod-db', { duration: '1500ms' });
    const expiresAt = Date.parse(grant.expiresAt as string);
    // Opened well into the grant: a timer of "duration after open" would fire ~700 ms too late.
    await new Promise((resolve) => setTimeout(resolve, 700));
    const client = await open('prod-db');
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.grantExpired);
    expect(closed.reason).toBe(`access expired at ${new Date(expiresAt).toISOString()}`);
    expect(closed.at).toBeGreaterThanOrEqual(expiresAt);
    expect(closed.at - expiresAt).toBeLessThan(500);
    const session = await endedSession(latestSessionId('prod-db'));
    expect(session).toMatchObject({ reason: 'grantExpired', detail: closed.reason, requestId: grant.id });
  });

  it('closes every tunnel of a revoked grant with 4111 and "revoked by …: reason" at once', async () => {
    const grant = await broker.grant('prod-db');
    const first = await open('prod-db');
    const second = await open('prod-db');
    const revokedAt = Date.now();
    await broker.runtime.service.revoke(principal('bob'), grant.id, 'INC-4211 closed');
    const [a, b] = await Promise.all([first.closed, second.closed]);
    for (const closed of [a, b]) {
      expect(closed).toMatchObject({ code: CloseCode.grantRevoked, reason: 'revoked by bob@contoso.com: INC-4211 closed' });
      expect(closed.at - revokedAt).toBeLessThan(1000);
    }
    expect(await endedSession(latestSessionId('prod-db'))).toMatchObject({ reason: 'grantRevoked', detail: 'revoked by bob@contoso.com: INC-4211 closed' });
  });

  it('cuts a long revoke reason to 123 bytes of valid UTF-8', async () => {
    const grant = await broker.grant('prod-db');
    const client = await open('prod-db');
    await broker.runtime.service.revoke(principal('bob'), grant.id, `Zugriff entzogen — ${'ü'.repeat(200)}`);
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.grantRevoked);
    expect(Buffer.byteLength(closed.reason)).toBeLessThanOrEqual(123);
    expect(closed.reason).toMatch(/^revoked by bob@contoso\.com: Zugriff entzogen — ü+…$/);
  });

  it('cuts with 1001 a tunnel whose session another broker closed (this broker was judged lost), recording the end once', async () => {
    await broker.grant('prod-db');
    const client = await open('prod-db');
    const id = latestSessionId('prod-db');
    // What a peer's reconciliation writes (broker-presence.ts) while this broker's tunnel still relays.
    broker.runtime.sessions.close(id, { endedAt: Date.now(), bytesUp: 0, bytesDown: 0, reason: 'broker_lost', detail: 'closed by a peer' });
    expect(broker.runtime.tunnels.cutClosedElsewhere()).toBe(1);
    const closed = await client.closed;
    expect(closed).toMatchObject({ code: CloseCode.goingAway, reason: 'this broker lost touch with the others; connect again' });
    expect(broker.runtime.sessions.get(id)).toMatchObject({ reason: 'broker_lost', detail: 'closed by a peer' });
    expect(broker.runtime.audit.queries.show(id).entries.filter((e) => e.type === 'session.closed')).toHaveLength(1);
  });

  it('closes with 4112 when the periodic re-check finds the user gone from the requester groups', async () => {
    await broker.grant('prod-db');
    const client = await open('prod-db');
    broker.directory.current.set('alice', []);
    try {
      const closed = await client.closed;
      expect(closed).toMatchObject({ code: CloseCode.membershipLost, reason: 'you are no longer in a group allowed to use prod-db' });
      expect(await endedSession(latestSessionId('prod-db'))).toMatchObject({ reason: 'membershipLost' });
    } finally {
      broker.directory.current.set('alice', [{ id: 'g-eng', displayName: 'sg-eng' }]);
    }
  });

  it('keeps a tunnel through failed re-checks for the membership grace, then closes it with 4115', async () => {
    await broker.grant('prod-db');
    const client = await open('prod-db');
    const openedAt = Date.now();
    broker.directory.failing.add('alice');
    try {
      const closed = await client.closed;
      expect(closed).toMatchObject({
        code: CloseCode.membershipUnconfirmed,
        reason: 'your group membership could not be confirmed for 1s (the directory is unavailable)',
      });
      expect(closed.at - openedAt).toBeGreaterThanOrEqual(GRACE_MS);
      const failures = broker.log.lines.filter((l) => l.message === 'tunnel membership re-check failed' && l.fields['oid'] === 'alice');
      expect(failures.length).toBeGreaterThan(1);
      expect(await endedSession(latestSessionId('prod-db'))).toMatchObject({ reason: 'membershipUnconfirmed', detail: closed.reason });
    } finally {
      broker.directory.failing.delete('alice');
    }
  });

  it('closes a tunnel at the grace even when the directory never answers (a stalled Graph)', async () => {
    await broker.grant('prod-db');
    const client = await open('prod-db');
    const openedAt = Date.now();
    let answer = (): void => undefined;
    broker.directory.gate = new Promise<void>((resolve) => (answer = resolve));
    try {
      const closed = await client.closed;
      expect(closed.code).toBe(CloseCode.membershipUnconfirmed);
      expect(closed.at - openedAt).toBeGreaterThanOrEqual(GRACE_MS);
    } finally {
      broker.directory.gate = null;
      answer();
    }
  });

  it('keeps a tunnel whose re-checks succeed again within the grace', async () => {
    await broker.grant('prod-db');
    const client = await open('prod-db');
    const failed = (): number => broker.log.lines.filter((l) => l.message === 'tunnel membership re-check failed' && l.fields['oid'] === 'alice').length;
    const before = failed();
    broker.directory.failing.add('alice');
    await until(() => failed() > before);
    broker.directory.failing.delete('alice');
    // Well past the grace counted from the tunnel's opening: the successful re-check reset it.
    await new Promise((resolve) => setTimeout(resolve, GRACE_MS + 3 * RECHECK_MS));
    client.ws.send(Buffer.from('still here'));
    expect((await client.receive(10)).toString()).toBe('still here');
  });

  it("closes with 4113 after the resource's idle timeout without bytes", async () => {
    await broker.grant('idle-db');
    const client = await open('idle-db');
    // Traffic keeps it open: an echo half-way through the idle time resets the clock.
    await new Promise((resolve) => setTimeout(resolve, IDLE_MS / 2));
    client.ws.send(Buffer.from('ping'));
    await client.receive(4);
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.idleTimeout);
    expect(closed.reason).toContain('no bytes either way');
    expect(await endedSession(latestSessionId('idle-db'))).toMatchObject({ reason: 'idleTimeout', bytesUp: 4, bytesDown: 4 });
  });

  it('closes with 4100 when the target ends the connection, after delivering what it sent', async () => {
    await broker.grant('quitter');
    const client = await open('quitter');
    client.ws.send(Buffer.from('quit'));
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.targetClosed);
    expect(Buffer.concat(client.received).toString()).toBe('bye');
    expect(await endedSession(latestSessionId('quitter'))).toMatchObject({ reason: 'targetClosed', bytesUp: 4, bytesDown: 3 });
  });

  it('closes with 4101 when the target fails, naming the error', async () => {
    await broker.grant('resetter');
    const client = await open('resetter');
    client.ws.send(Buffer.from('hello'));
    const closed = await client.closed;
    expect(closed.code).toBe(CloseCode.targetFailed);
    expect(closed.reason).toContain('ECONNRESET');
    expect(await endedSession(latestSessionId('resetter'))).toMatchObject({ reason: 'targetFailed' });
  });

  it('closes a tunnel whose client sends a text frame with 1008: the tunnel carries bytes', async () => {
    await broker.grant('prod-db');
    const client = await open('prod-db');
    client.ws.send('SELECT 1');
    expect(await client.closed).toMatchObject({ code: CloseCode.policyViolation });
  });

  it('logs one line when a tunnel opens and one when it closes, with the bytes', async () => {
    await broker.grant('prod-db');
    const client = await open('prod-db');
    const id = latestSessionId('prod-db');
    client.ws.send(Buffer.alloc(1000));
    await client.receive(1000);
    client.ws.close();
    await endedSession(id);
    const lines = broker.log.lines.filter((l) => l.fields['session'] === id);
    expect(lines.map((l) => l.message)).toEqual(['tunnel opened', 'tunnel closed']);
    expect(lines[1]?.fields).toMatchObject({ reason: 'clientClosed', bytesUp: 1000, bytesDown: 1000, user: 'alice@contoso.com', resource: 'prod-db' });
  });
});

describe('broker shutdown', () => {
  it('closes open tunnels with 1001 and records them as goingAway', async () => {
    const own = await startTunnelBroker([resource('prod-db', { target: { host: '127.0.0.1', port: echoTarget.port } })]);
    await own.grant('prod-db');
    const client = await TunnelClient.open(own.wsBase, 'prod-db');
    const socket = echoTarget.sockets.at(-1) as net.Socket;
    const targetClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    const [session] = own.sessions();
    let recorded: unknown;
    const closing = own.runtime.tunnels.onSession((event) => {
      if (event.type === 'closed') recorded = event.session;
    });
    await own.close();
    closing();
    expect(await client.closed).toMatchObject({ code: CloseCode.goingAway });
    await targetClosed;
    expect(recorded).toMatchObject({ id: session?.id, reason: 'goingAway' });
  });

  it('drains: waits while a tunnel is open, and resolves as soon as the last one closes, without cutting it', async () => {
    const own = await startTunnelBroker([resource('prod-db', { target: { host: '127.0.0.1', port: echoTarget.port } })]);
    try {
      await own.grant('prod-db');
      const client = await TunnelClient.open(own.wsBase, 'prod-db');
      let drained: { open: number } | null = null;
      const draining = own.runtime.tunnels.drain(3_600_000).then((result) => {
        drained = result;
      });
      // Still open and still relaying while the drain waits.
      client.ws.send(Buffer.from('ping'));
      expect((await client.receive(4)).toString()).toBe('ping');
      expect(drained).toBeNull();
      client.ws.close(1000);
      await draining;
      expect(drained).toEqual({ open: 0 });
      expect(await client.closed).toMatchObject({ code: 1000 });
    } finally {
      await own.close();
    }
  });

  it('drains up to its timeout and says how many tunnels are still open', async () => {
    const own = await startTunnelBroker([resource('prod-db', { target: { host: '127.0.0.1', port: echoTarget.port } })]);
    try {
      await own.grant('prod-db');
      await TunnelClient.open(own.wsBase, 'prod-db');
      expect(await own.runtime.tunnels.drain(50)).toEqual({ open: 1 });
    } finally {
      await own.close();
    }
  });
});
