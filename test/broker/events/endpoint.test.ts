// /v1/events over a real socket: authentication during the HTTP upgrade (a refusal is an HTTP
// response, never an open WebSocket), the push of request changes as they commit, keepalive.

import net from 'node:net';
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { WebSocket } from 'ws';
import { CloseCode } from '../../../shared/close-codes.js';
import { EventsClient, startTestBroker, type TestBroker } from './broker-harness.js';

let broker: TestBroker;

beforeAll(async () => {
  broker = await startTestBroker();
});

afterAll(async () => {
  await broker.close();
});

/** Tries to open a WebSocket; resolves with the HTTP refusal, or fails the test if a socket opens. */
function refusedUpgrade(path: string, headers: Record<string, string>): Promise<{ status: number; body: unknown; opened: boolean }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${broker.wsBase}${path}`, { headers });
    let opened = false;
    ws.on('open', () => {
      opened = true;
      ws.terminate();
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')), opened }));
    });
    ws.on('error', (error) => {
      if (!opened) reject(error);
    });
  });
}

describe('GET /v1/events: the upgrade', () => {
  it('refuses a missing token with an HTTP 401 and a JSON code, and no WebSocket opens', async () => {
    const refused = await refusedUpgrade('/v1/events', {});
    expect(refused).toEqual({ status: 401, body: expect.objectContaining({ code: 'token_missing' }), opened: false });
  });

  it('refuses a token the verifier rejects with its code', async () => {
    const refused = await refusedUpgrade('/v1/events', { authorization: 'Bearer forged' });
    expect(refused).toMatchObject({ status: 401, body: { code: 'token_signature_invalid' }, opened: false });
  });

  it('answers an unknown WebSocket path with 404 before looking at the token', async () => {
    const refused = await refusedUpgrade('/v1/nowhere', {});
    expect(refused).toMatchObject({ status: 404, body: { code: 'not_found' }, opened: false });
  });

  it("fails closed with 503 when the caller's groups cannot be read", async () => {
    broker.directory.failing.add('outage');
    const refused = await refusedUpgrade('/v1/events', { authorization: 'Bearer good-outage' });
    expect(refused).toMatchObject({ status: 503, body: { code: 'directory_unavailable' }, opened: false });
  });

  it('writes the refusal as a plain HTTP/1.1 response with a WWW-Authenticate challenge', async () => {
    const url = new URL(broker.base);
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(url.port), url.hostname, () => {
        socket.write(
          'GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        );
      });
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw.startsWith('HTTP/1.1 401 Unauthorized\r\n')).toBe(true);
    expect(raw).toMatch(/\r\nWWW-Authenticate: Bearer error="invalid_token", error_description="token_missing"\r\n/);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))).toMatchObject({ code: 'token_missing' });
  });

  it('greets an accepted caller with hello', async () => {
    const client = new EventsClient(broker.wsBase, 'good-alice');
    expect(await client.next()).toEqual({ type: 'hello', oid: 'alice', upn: 'alice@contoso.com' });
    client.close();
  });
});

describe('GET /v1/events: what is pushed', () => {
  it('pushes the approval to the requester the moment it is made', async () => {
    const alice = await EventsClient.connect(broker.wsBase, 'good-alice');
    const created = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', reason: 'INC-1' });
    const id = (created.body as { id: string }).id;
    expect(await alice.next()).toMatchObject({ type: 'request', change: 'created', request: { id, state: 'pending' } });
    await broker.call('POST', `/v1/requests/${id}/review`, 'good-bob', { decision: 'approve' });
    expect(await alice.next()).toMatchObject({ type: 'request', change: 'review_recorded', request: { id } });
    expect(await alice.next()).toMatchObject({
      type: 'request',
      change: 'approved',
      request: { id, state: 'approved', reviews: [{ reviewer: { oid: 'bob' } }] },
    });
    alice.close();
  });

  it('pushes a denial with its reason to the requester', async () => {
    const alice = await EventsClient.connect(broker.wsBase, 'good-alice');
    const { body } = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db' });
    const id = (body as { id: string }).id;
    await alice.next(); // created
    await broker.call('POST', `/v1/requests/${id}/review`, 'good-bob', { decision: 'deny', comment: 'use the replica' });
    await alice.next(); // review_recorded
    expect(await alice.next()).toMatchObject({ change: 'denied', request: { id, state: 'denied', closeReason: 'use the replica' } });
    alice.close();
  });

  it('pushes new requests to an approver of the resource, and nothing about other resources', async () => {
    const bob = await EventsClient.connect(broker.wsBase, 'good-bob');
    await broker.call('POST', '/v1/requests', 'good-sam', { resource: 'secret-db' });
    const { body } = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db' });
    // The first message bob receives is the prod-db request: nothing came for secret-db before it.
    expect(await bob.next()).toMatchObject({ type: 'request', change: 'created', request: { id: (body as { id: string }).id, resource: 'prod-db' } });
    expect(bob.pending).toBe(0);
    bob.close();
  });

  it('closes the stream with tokenExpired when the token it was opened with expires', async () => {
    const client = await EventsClient.connect(broker.wsBase, 'short-alice');
    const code = await new Promise<number>((resolve) => client.ws.on('close', (c: number) => resolve(c)));
    expect(code).toBe(CloseCode.tokenExpired);
  });
});

describe('GET /v1/events: keepalive', () => {
  it('drops a peer that stops answering pings', async () => {
    const quick = await startTestBroker({ pingIntervalMs: 30 });
    try {
      // A raw client that completes the handshake and then never answers anything.
      const url = new URL(quick.base);
      const socket = net.connect(Number(url.port), url.hostname, () => {
        socket.write(
          'GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nAuthorization: Bearer good-alice\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        );
      });
      let head = '';
      socket.on('data', (d: Buffer) => (head += d.toString('latin1')));
      const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
      await vi.waitFor(() => expect(head).toMatch(/^HTTP\/1.1 101 /));
      await closed;
      await vi.waitFor(() => expect(quick.runtime.events.connections).toBe(0));
      expect(quick.log.lines.some((l) => l.message === 'events stream dropped: no pong')).toBe(true);
    } finally {
      await quick.close();
    }
  });

  it('keeps a peer that answers pings', async () => {
    // Client and broker share this process: an interval shorter than a busy machine's event-loop
    // stall would see the pong still queued behind the next tick and drop a live peer.
    const quick = await startTestBroker({ pingIntervalMs: 250 });
    try {
      const client = await EventsClient.connect(quick.wsBase, 'good-alice');
      let pings = 0;
      client.ws.on('ping', () => (pings += 1));
      await vi.waitFor(() => expect(pings).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
      expect(client.ws.readyState).toBe(WebSocket.OPEN);
      client.close();
    } finally {
      await quick.close();
    }
  });

  it('says goodbye with goingAway when the broker shuts down', async () => {
    const quick = await startTestBroker();
    const client = await EventsClient.connect(quick.wsBase, 'good-alice');
    const code = new Promise<number>((resolve) => client.ws.on('close', (c: number) => resolve(c)));
    await quick.close();
    expect(await code).toBe(CloseCode.goingAway);
  });
});
