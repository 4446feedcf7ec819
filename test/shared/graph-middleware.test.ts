// The Graph client over HttpTransport: requests reach the transport (here a loopback origin
// served over plain HTTP), carry the token, and are retried only when the server says when.

import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { graphClientOverTransport, MAX_GRAPH_RETRIES } from '../../shared/graph-middleware.js';
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

function client(): ReturnType<typeof graphClientOverTransport> {
  const transport = new HttpTransport({ plaintextOrigins: [origin] });
  return graphClientOverTransport(transport, async () => 'token-1', `${origin}/graph`);
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

  it('does not wait out a long Retry-After', async () => {
    answers.push({ status: 429, headers: { 'retry-after': '120' } });
    await expect(client().api('/groups').get()).rejects.toMatchObject({ statusCode: 429 });
    expect(seen).toHaveLength(1);
  });
});
