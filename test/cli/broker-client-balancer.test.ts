// The CLI's REST client behind a load balancer with one broker down: real HTTP servers behind a real
// round-robin TCP forwarder (test/helpers/round-robin.ts) that, like a balancer that has not noticed
// yet, keeps sending connections to the dead one. Reads go through on another attempt; an action
// that may have reached the dead broker is not sent twice and says how to find out what happened.

import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerClient } from '../../cli/broker-client.js';
import { AccessError } from '../../shared/errors.js';
import { HttpTransport } from '../../shared/http-transport.js';
import { type RoundRobin, startRoundRobin } from '../helpers/round-robin.js';

const closers: Array<() => Promise<void>> = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

interface Backend {
  port: number;
  /** "METHOD path" of every request this backend received. */
  seen: string[];
}

async function backend(answer: (req: IncomingMessage, res: ServerResponse) => void): Promise<Backend> {
  const seen: string[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    answer(req, res);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  closers.push(async () => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, seen };
}

function json(status: number, body: unknown): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
}

/** A live broker: answers every call with 200 and what it was asked. */
const live = (): Promise<Backend> => backend((req, res) => json(200, { served: `${req.method} ${req.url}` })(req, res));

/** The balancer's own 503 page (no `{code, message}`), as HAProxy sends for a backend it cannot use. */
const balancer503 = (): Promise<Backend> =>
  backend((_req, res) => {
    res.writeHead(503, { 'content-type': 'text/html' });
    res.end('<html><body><h1>503 Service Unavailable</h1>No server is available to handle this request.</body></html>');
  });

/** A port nothing listens on: the dead broker. */
async function deadPort(): Promise<number> {
  const gone = await backend(() => undefined);
  await closers.pop()?.();
  return gone.port;
}

async function balance(ports: number[]): Promise<RoundRobin> {
  const lb = await startRoundRobin(ports);
  closers.push(() => lb.close());
  return lb;
}

const client = (url: string): BrokerClient => new BrokerClient(url, new HttpTransport(), async () => 'token');

const UNSURE = 'the request for prod-db may or may not have been made — `access requests` lists it if it was';

describe('BrokerClient behind a load balancer with one broker down', () => {
  it('reads through another broker when the first connection goes to a dead one (reset by the balancer)', async () => {
    const dead = await deadPort();
    const alive = await live();
    const lb = await balance([dead, alive.port]);
    expect(await client(lb.url).get('/v1/requests')).toEqual({ served: 'GET /v1/requests' });
    expect(lb.routed).toEqual([dead, alive.port]);
    expect(alive.seen).toEqual(['GET /v1/requests']);
  });

  it("reads through another broker after the balancer's 503, on a new connection", async () => {
    const unavailable = await balancer503();
    const alive = await live();
    const lb = await balance([unavailable.port, alive.port]);
    expect(await client(lb.url).get('/v1/whoami')).toEqual({ served: 'GET /v1/whoami' });
    // Had the retry reused the kept-alive connection, it would have met the same 503 again.
    expect(lb.routed).toEqual([unavailable.port, alive.port]);
    expect([unavailable.seen, alive.seen]).toEqual([['GET /v1/whoami'], ['GET /v1/whoami']]);
  });

  it('sends an action to another broker when the first answered shutting_down (it acted on nothing)', async () => {
    const draining = await backend(json(503, { code: 'shutting_down', message: 'the broker is shutting down — try again in a moment' }));
    const alive = await live();
    const lb = await balance([draining.port, alive.port]);
    expect(await client(lb.url).post('/v1/requests', { resource: 'prod-db' }, UNSURE)).toEqual({ served: 'POST /v1/requests' });
    expect([draining.seen, alive.seen]).toEqual([['POST /v1/requests'], ['POST /v1/requests']]);
  });

  it('does not send an action again when the connection was lost: it says it may or may not have been done, and how to check', async () => {
    const dead = await deadPort();
    const alive = await live();
    const lb = await balance([dead, alive.port]);
    const error = (await client(lb.url)
      .post('/v1/requests', { resource: 'prod-db' }, UNSURE)
      .catch((e: unknown) => e)) as AccessError;
    expect(error).toBeInstanceOf(AccessError);
    expect(error.code).toBe('broker_unreachable');
    expect(error.message).toBe(
      `the broker at ${lb.url} did not answer POST /v1/requests (ECONNRESET): the request for prod-db may or may not have been made — \`access requests\` lists it if it was. Check before you try again.`,
    );
    expect(lb.routed).toEqual([dead]);
    expect(alive.seen).toEqual([]);
  });

  it("does not send an action again after the balancer's 503", async () => {
    const unavailable = await balancer503();
    const alive = await live();
    const lb = await balance([unavailable.port, alive.port]);
    const error = (await client(lb.url)
      .post('/v1/requests/r1/cancel', {}, 'r1 may or may not have been cancelled — `access requests --all` shows its state')
      .catch((e: unknown) => e)) as AccessError;
    expect(error.message).toContain('(HTTP 503 from the load balancer): r1 may or may not have been cancelled — `access requests --all` shows its state');
    expect(alive.seen).toEqual([]);
  });

  it.each([
    [401, { code: 'token_expired', message: 'the access token has expired — run `access login`' }],
    [403, { code: 'forbidden', message: 'not for you' }],
    [404, { code: 'request_not_found', message: 'no request r1' }],
    [409, { code: 'already_reviewed', message: 'you already reviewed r1' }],
  ])("never repeats the broker's own refusal (%i)", async (status, body) => {
    const refusing = await backend(json(status, body));
    const alive = await live();
    const lb = await balance([refusing.port, alive.port]);
    const error = (await client(lb.url)
      .get('/v1/requests/r1')
      .catch((e: unknown) => e)) as AccessError;
    expect([error.code, error.message]).toEqual([body.code, body.message]);
    expect(alive.seen).toEqual([]);
  });

  it('gives up after three attempts with one message naming the broker URL and what happened', async () => {
    const lb = await balance([await deadPort(), await deadPort()]);
    const error = (await client(lb.url)
      .get('/v1/requests')
      .catch((e: unknown) => e)) as AccessError;
    expect(error.code).toBe('broker_unreachable');
    expect(error.message).toBe(`cannot reach the broker at ${lb.url} (ECONNRESET, 3 attempts) — is it running? Check the URL, or pass --broker URL`);
    expect(lb.routed).toHaveLength(3);
  });

  it('tries a refused action again too (nothing was sent), then says the broker cannot be reached', async () => {
    const url = `http://127.0.0.1:${await deadPort()}`;
    const error = (await client(url)
      .post('/v1/requests', { resource: 'prod-db' }, UNSURE)
      .catch((e: unknown) => e)) as AccessError;
    expect(error.message).toBe(`cannot reach the broker at ${url} (ECONNREFUSED, 3 attempts) — is it running? Check the URL, or pass --broker URL`);
  });

  it('stops waiting between attempts when the call is abandoned (Ctrl-C), with the signal’s reason', async () => {
    const lb = await balance([await deadPort()]);
    const abort = new AbortController();
    const call = client(lb.url)
      .get('/v1/requests', { signal: abort.signal })
      .catch((e: unknown) => e);
    // Aborted once the first attempt has met the dead broker: during the pause before the second.
    while (lb.routed.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    abort.abort(new Error('interrupted'));
    expect(((await call) as Error).message).toBe('interrupted');
    expect(lb.routed.length).toBeLessThan(3);
  });
});
