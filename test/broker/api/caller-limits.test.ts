// Per-caller limits over HTTP and WebSocket upgrades on a real socket: one person cannot flood the
// request table or the approvers' queue, hold unbounded event streams, or keep failing token checks;
// each refusal is a 429 with a stable code (and Retry-After when waiting helps), and other people
// are not affected.

import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { AUTH_FAILURE_LIMIT, REQUEST_CREATION_LIMIT } from '../../../shared/limits.js';
import { EventsClient, startTestBroker, type TestBroker } from '../events/broker-harness.js';

let broker: TestBroker | null = null;

afterEach(async () => {
  await broker?.close();
  broker = null;
});

/** An upgrade to /v1/events: the HTTP status it was refused with, or 101 when it opened. */
function eventsUpgrade(base: string, token: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base}/v1/events`, { headers: { authorization: `Bearer ${token}` } });
    ws.once('open', () => {
      ws.close();
      resolve({ status: 101, body: null });
    });
    ws.once('unexpected-response', (_req, res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    ws.once('error', reject);
  });
}

describe('per-caller limits', () => {
  it(`answers 429 rate_limited with Retry-After to a person creating more than ${REQUEST_CREATION_LIMIT.burst} requests at once, and not to others`, async () => {
    broker = await startTestBroker({ limits: { maxPendingPerUser: 1000 } });
    for (let i = 0; i < REQUEST_CREATION_LIMIT.burst; i++) {
      expect((await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db' })).status).toBe(201);
    }
    const refused = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db' });
    expect(refused).toMatchObject({
      status: 429,
      body: { code: 'rate_limited', message: expect.stringContaining(`at most ${REQUEST_CREATION_LIMIT.burst} at once`) },
    });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // Refused attempts count too: a person with no rights cannot flood the audit log either.
    for (let i = 0; i < REQUEST_CREATION_LIMIT.burst; i++) await broker.call('POST', '/v1/requests', 'good-mallory', { resource: 'prod-db' });
    expect((await broker.call('POST', '/v1/requests', 'good-mallory', { resource: 'prod-db' })).status).toBe(429);
    expect((await broker.call('POST', '/v1/requests', 'good-oscar', { resource: 'prod-db' })).status).toBe(201);
  });

  it('answers 429 too_many_pending to a person holding the most pending requests, until one is withdrawn', async () => {
    broker = await startTestBroker({ limits: { maxPendingPerUser: 3 } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db' });
      expect(res.status).toBe(201);
      ids.push((res.body as { id: string }).id);
    }
    const refused = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'two-key' });
    expect(refused).toMatchObject({ status: 429, body: { code: 'too_many_pending', message: expect.stringContaining('(3)') } });
    expect((await broker.call('POST', `/v1/requests/${ids[0]}/cancel`, 'good-alice', {})).status).toBe(200);
    expect((await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'two-key' })).status).toBe(201);
  });

  it(`answers 429 too_many_failed_sign_ins with Retry-After to an address after ${AUTH_FAILURE_LIMIT.burst} failed token checks, while a token that verifies still passes`, async () => {
    broker = await startTestBroker();
    for (let i = 0; i < AUTH_FAILURE_LIMIT.burst; i++) {
      expect((await broker.call('GET', '/v1/whoami', `forged-${i}`)).status).toBe(401);
    }
    const refused = await broker.call('GET', '/v1/whoami', 'forged-again');
    expect(refused).toMatchObject({ status: 429, body: { code: 'too_many_failed_sign_ins' } });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    // The upgrade path is the same gate.
    expect(await eventsUpgrade(broker.wsBase, 'forged-ws')).toMatchObject({ status: 429, body: { code: 'too_many_failed_sign_ins' } });
    // Someone else at the same address, with a token that verifies, is not locked out.
    expect((await broker.call('GET', '/v1/whoami', 'good-alice')).status).toBe(200);
  });

  it('refuses an event stream above the per-person cap with 429 too_many_streams, and opens one again once a stream closes', async () => {
    broker = await startTestBroker({ limits: { maxEventStreamsPerUser: 2 } });
    const first = await EventsClient.connect(broker.wsBase, 'good-alice');
    const second = await EventsClient.connect(broker.wsBase, 'good-alice');
    expect(await eventsUpgrade(broker.wsBase, 'good-alice')).toMatchObject({
      status: 429,
      body: { code: 'too_many_streams', message: expect.stringContaining('(2)') },
    });
    expect((await eventsUpgrade(broker.wsBase, 'good-bob')).status).toBe(101);
    const closed = new Promise((resolve) => first.ws.once('close', resolve));
    first.close();
    await closed;
    // The server side notices the close a moment later.
    let status = 0;
    for (let i = 0; i < 50 && status !== 101; i++) {
      status = (await eventsUpgrade(broker.wsBase, 'good-alice')).status;
      if (status !== 101) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(status).toBe(101);
    second.close();
  });
});
