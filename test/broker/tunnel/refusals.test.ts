// /v1/tunnel refuses during the HTTP upgrade: every refusal is an HTTP error with a code from
// shared/errors.ts, in the order token → resource → grant → membership → limit → target, and no
// WebSocket ever opens.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TARGET_CONNECT_TIMEOUT_MS } from '../../../broker/tunnel/dial.js';
import { principal, resource } from '../requests/harness.js';
import { closedPort, echo, refusedTunnel, startTarget, startTunnelBroker, TunnelClient, type Target, type TunnelBroker } from './harness.js';

let broker: TunnelBroker;
let target: Target;
let downPort: number;

beforeAll(async () => {
  target = await startTarget(echo);
  downPort = await closedPort();
  broker = await startTunnelBroker([
    resource('prod-db', { target: { host: '127.0.0.1', port: target.port } }),
    resource('single', { target: { host: '127.0.0.1', port: target.port }, maxConnections: 1 }),
    resource('down-db', { target: { host: '127.0.0.1', port: downPort } }),
    resource('secret-db', { target: { host: '127.0.0.1', port: target.port }, requesters: ['sg-secret'], approvers: ['sg-dba'] }),
  ]);
});

afterAll(async () => {
  await broker.close();
  await target.close();
});

describe('GET /v1/tunnel: refusals before any WebSocket exists', () => {
  it('refuses a missing token with 401', async () => {
    expect(await refusedTunnel(broker.wsBase, 'prod-db', null)).toMatchObject({ status: 401, body: { code: 'token_missing' }, opened: false });
  });

  it('refuses an unknown resource with 404 unknown_resource, naming it', async () => {
    const refused = await refusedTunnel(broker.wsBase, 'nope-db', 'good-alice');
    expect(refused).toMatchObject({ status: 404, body: { code: 'unknown_resource', message: expect.stringContaining('"nope-db"') }, opened: false });
  });

  it('refuses a tunnel that names no resource with 400', async () => {
    expect(await refusedTunnel(broker.wsBase, null, 'good-alice')).toMatchObject({ status: 400, body: { code: 'bad_request' }, opened: false });
  });

  it('refuses a caller without a grant with 403 no_live_grant, saying how to request one', async () => {
    const refused = await refusedTunnel(broker.wsBase, 'prod-db', 'good-oscar');
    expect(refused).toMatchObject({ status: 403, opened: false, body: { code: 'no_live_grant' } });
    expect(refused.body.message).toContain('access request prod-db --for 1h --reason');
  });

  it("refuses a caller whose only grant is someone else's with 403", async () => {
    await broker.grant('prod-db', { requester: 'alice' });
    // carol approves, but holds no grant herself.
    expect(await refusedTunnel(broker.wsBase, 'prod-db', 'good-carol')).toMatchObject({ status: 403, body: { code: 'no_live_grant' }, opened: false });
  });

  it('refuses an expired grant with 403, saying it expired', async () => {
    // sam's grant on secret-db, 1 ms long: expired by the time the tunnel is asked for.
    const view = await broker.grant('secret-db', { requester: 'sam', duration: '1ms' });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const refused = await refusedTunnel(broker.wsBase, 'secret-db', 'good-sam');
    expect(refused).toMatchObject({ status: 403, body: { code: 'no_live_grant' }, opened: false });
    expect(refused.body.message).toContain(`request ${view.id} was granted and the grant expired`);
  });

  it('refuses a pending request with 403, saying it still waits for approval', async () => {
    const waiting = await broker.runtime.service.create(principal('sam'), { resource: 'secret-db', duration: '1h' });
    expect(waiting.state).toBe('pending');
    const refused = await refusedTunnel(broker.wsBase, 'secret-db', 'good-sam');
    expect(refused).toMatchObject({ status: 403, body: { code: 'no_live_grant' } });
    expect(refused.body.message).toContain(`request ${waiting.id} is still pending`);
  });

  it('refuses a grant holder Graph no longer lists in a requester group with 403, reading Graph now', async () => {
    await broker.grant('prod-db', { requester: 'alice' });
    // The cache still says sg-eng; Graph (fresh) says nothing.
    broker.directory.cached.set('alice', broker.directory.current.get('alice') ?? []);
    broker.directory.current.set('alice', []);
    try {
      const refused = await refusedTunnel(broker.wsBase, 'prod-db', 'good-alice');
      expect(refused).toMatchObject({ status: 403, body: { code: 'not_a_requester', message: expect.stringContaining('sg-eng') }, opened: false });
    } finally {
      broker.directory.current.set('alice', broker.directory.cached.get('alice') ?? []);
      broker.directory.cached.delete('alice');
    }
  });

  it('fails closed with 503 when Graph cannot answer', async () => {
    await broker.grant('prod-db', { requester: 'alice' });
    broker.directory.failing.add('alice');
    try {
      expect(await refusedTunnel(broker.wsBase, 'prod-db', 'good-alice')).toMatchObject({
        status: 503,
        body: { code: 'directory_unavailable' },
        opened: false,
      });
    } finally {
      broker.directory.failing.delete('alice');
    }
  });

  it('refuses a workload without a grant with 403', async () => {
    expect(await refusedTunnel(broker.wsBase, 'prod-db', 'app-robot')).toMatchObject({ status: 403, body: { code: 'no_live_grant' }, opened: false });
  });

  it("refuses a tunnel above the resource's maxConnections with 429, naming the limit", async () => {
    await broker.grant('single', { requester: 'alice' });
    const first = await TunnelClient.open(broker.wsBase, 'single');
    const refused = await refusedTunnel(broker.wsBase, 'single', 'good-alice');
    expect(refused).toMatchObject({ status: 429, body: { code: 'too_many_connections', message: expect.stringContaining('maxConnections 1') }, opened: false });
    first.ws.close();
    await first.closed;
    // The slot is free again once the first tunnel has closed.
    const again = await TunnelClient.open(broker.wsBase, 'single');
    again.ws.close();
    await again.closed;
  });

  it('refuses a target that is down with 502 target_unreachable naming host:port and the error, at once', async () => {
    await broker.grant('down-db', { requester: 'alice' });
    const refused = await refusedTunnel(broker.wsBase, 'down-db', 'good-alice');
    expect(refused).toMatchObject({ status: 502, body: { code: 'target_unreachable' }, opened: false });
    expect(refused.body.message).toContain(`127.0.0.1:${downPort}`);
    expect(refused.body.message).toContain('ECONNREFUSED');
    // A refused connection is reported as it happens, not after the connect timeout.
    expect(refused.ms).toBeLessThan(TARGET_CONNECT_TIMEOUT_MS);
    // The failed dial gave its slot back and recorded no session.
    expect(broker.sessions({ resource: 'down-db' })).toEqual([]);
  });
});
