// The Graph client over HttpTransport: requests reach the transport (here a loopback origin
// served over plain HTTP), carry the token, and are retried only when the server says when.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_GRAPH_RETRY_BUDGET_MS,
  graphClientOverTransport,
  MAX_GRAPH_RETRIES,
  retryAfterMs,
  type GraphCall,
  type GraphRetryOptions,
} from '../../shared/graph-middleware.js';
import { HttpTransport } from '../../shared/http-transport.js';

interface Seen {
  url: string;
  authorization: string | undefined;
}

let server: http.Server;
let seen: Seen[];
let answers: Array<{ status: number; headers?: Record<string, string>; body?: unknown }>;
let origin: string;

beforeEach(async () => {
  seen = [];
  answers = [];
  server = http.createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    const answer = answers.shift() ?? { status: 200, body: { ok: true } };
    res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
    res.end(JSON.stringify(answer.body ?? { error: { code: 'x', message: 'y' } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function client(retry: GraphRetryOptions = {}): ReturnType<typeof graphClientOverTransport> {
  const transport = new HttpTransport({ plaintextOrigins: [origin] });
  return graphClientOverTransport(transport, async () => 'token-1', `${origin}/graph`, retry);
}

/** A sleep that records each wait and returns at once, so budget tests do not wait in real time. */
function recordingSleep(): { waits: number[]; sleep: (ms: number) => Promise<void> } {
  const waits: number[] = [];
  return { waits, sleep: async (ms) => void waits.push(ms) };
}

describe('graphClientOverTransport', () => {
  it('sends the call through the transport with the bearer token under the base URL', async () => {
    await expect(client().api('/users/a@b.c').get()).resolves.toEqual({ ok: true });
    expect(seen).toEqual([{ url: '/graph/v1.0/users/a@b.c', authorization: 'Bearer token-1' }]);
  });

  it('retries a 429 that names a short Retry-After', async () => {
    answers.push({ status: 429, headers: { 'retry-after': '0' } });
    await expect(client().api('/groups').get()).resolves.toEqual({ ok: true });
    expect(seen).toHaveLength(2);
  });

  it(`gives up after ${MAX_GRAPH_RETRIES} retries`, async () => {
    for (let i = 0; i <= MAX_GRAPH_RETRIES; i++) answers.push({ status: 503, headers: { 'retry-after': '0' } });
    await expect(client().api('/groups').get()).rejects.toMatchObject({ statusCode: 503 });
    expect(seen).toHaveLength(MAX_GRAPH_RETRIES + 1);
  });

  it('reports an outage without Retry-After at once, without retrying', async () => {
    answers.push({ status: 503, body: { error: { code: 'serviceNotAvailable', message: 'down' } } });
    await expect(client().api('/groups').get()).rejects.toMatchObject({ statusCode: 503, code: 'serviceNotAvailable' });
    expect(seen).toHaveLength(1);
  });

  it('does not wait out a Retry-After longer than the budget', async () => {
    answers.push({ status: 429, headers: { 'retry-after': '120' } });
    const { waits, sleep } = recordingSleep();
    await expect(client({ sleep }).api('/groups').get()).rejects.toMatchObject({ statusCode: 429 });
    expect(seen).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it(`waits out Retry-After answers that fit in the budget (default ${DEFAULT_GRAPH_RETRY_BUDGET_MS} ms), with jitter on top`, async () => {
    answers.push({ status: 429, headers: { 'retry-after': '3' } }, { status: 429, headers: { 'retry-after': '4' } });
    const { waits, sleep } = recordingSleep();
    await expect(
      client({ sleep, random: () => 0.5 })
        .api('/groups')
        .get(),
    ).resolves.toEqual({ ok: true });
    expect(seen).toHaveLength(3);
    // Each wait is Retry-After plus 10 % (half of the 20 % jitter): never shorter than Graph asked.
    expect(waits).toEqual([3300, 4400]);
  });

  it('fails closed once the next Retry-After would overrun the budget, after the waits that fit', async () => {
    answers.push({ status: 429, headers: { 'retry-after': '6' } }, { status: 429, headers: { 'retry-after': '6' } });
    const { waits, sleep } = recordingSleep();
    await expect(
      client({ sleep, random: () => 0, retryBudgetMs: 10_000 })
        .api('/groups')
        .get(),
    ).rejects.toMatchObject({ statusCode: 429 });
    expect(seen).toHaveLength(2);
    expect(waits).toEqual([6000]);
  });

  it('never lets jitter push the total wait past the budget', async () => {
    answers.push({ status: 429, headers: { 'retry-after': '10' } });
    const { waits, sleep } = recordingSleep();
    await expect(
      client({ sleep, random: () => 0.99, retryBudgetMs: 10_000 })
        .api('/groups')
        .get(),
    ).resolves.toEqual({ ok: true });
    expect(waits).toEqual([10_000]);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2030-01-01T00:00:00Z');
    expect(retryAfterMs('7', now)).toBe(7000);
    expect(retryAfterMs('Tue, 01 Jan 2030 00:00:05 GMT', now)).toBe(5000);
    expect(retryAfterMs('soon', now)).toBeNull();
    expect(retryAfterMs(null, now)).toBeNull();
  });

  it('tells the observer about every exchange, each retry of a throttled call included, with its status', async () => {
    answers.push({ status: 429, headers: { 'retry-after': '1' } }, { status: 404 });
    const calls: GraphCall[] = [];
    const transport = new HttpTransport({ plaintextOrigins: [origin] });
    const observed = graphClientOverTransport(
      transport,
      async () => 'token-1',
      `${origin}/graph`,
      recordingSleep(),
      (call) => calls.push(call),
    );
    await expect(observed.api('/users/x/checkMemberGroups').post({ groupIds: [] })).rejects.toMatchObject({ statusCode: 404 });
    expect(calls.map((call) => call.status)).toEqual([429, 404]);
    for (const call of calls) expect(call.durationMs).toBeGreaterThanOrEqual(0);
  });

  it('tells the observer about an exchange that got no answer as status null', async () => {
    const calls: GraphCall[] = [];
    // A port nothing listens on: the connection is refused.
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    const transport = new HttpTransport({ plaintextOrigins: [origin] });
    const observed = graphClientOverTransport(
      transport,
      async () => 'token-1',
      `${origin}/graph`,
      {},
      (call) => calls.push(call),
    );
    await expect(observed.api('/groups').get()).rejects.toBeDefined();
    expect(calls.map((call) => call.status)).toEqual([null]);
    server = http.createServer();
  });
});
