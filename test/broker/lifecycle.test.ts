// What a broker's listener answers before it can serve, while it serves and while it stops, over a
// real socket: every request gets an answer, /healthz says the process is up, /readyz whether the
// broker and the parts it needs answer.

import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { assembleBroker, type AssembledBroker } from '../../broker/assemble.js';
import { openDatabase } from '../../broker/store/database.js';
import { Lifecycle, type Servable } from '../../broker/lifecycle.js';
import type { ReadinessCheck } from '../../broker/readiness.js';
import { AccessError } from '../../shared/errors.js';
import { FakeDirectory, config, principal, recordingLog } from './requests/harness.js';

const signIn = {
  tenantId: 't1',
  authority: 'https://login.microsoftonline.com/t1',
  clientId: 'cli',
  scopes: ['api://x/user_impersonation'],
  brokerVersion: 'test',
};
const verifier = {
  async verify(token: string) {
    if (token.startsWith('good-')) return principal(token.slice(5));
    throw new AccessError('token_signature_invalid', 'the token signature does not verify');
  },
};

function assemble(readiness: ReadinessCheck[] = []): AssembledBroker {
  return assembleBroker({ config: config(), signIn, verifier, directory: new FakeDirectory(), log: recordingLog(), db: openDatabase(':memory:'), readiness });
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A server fronted by a fresh lifecycle (starting: nothing served yet). */
async function listening(): Promise<{ lifecycle: Lifecycle; base: string }> {
  const server = http.createServer();
  const lifecycle = new Lifecycle(recordingLog());
  lifecycle.attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => lifecycle.close());
  return { lifecycle, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

async function get(url: string): Promise<{ status: number; headers: Headers; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> };
}

describe('Lifecycle', () => {
  it('answers a request sent while the broker is starting with 503 not_ready and Retry-After', async () => {
    const { base } = await listening();
    const { status, headers, body } = await get(`${base}/v1/config`);
    expect(status).toBe(503);
    expect(headers.get('retry-after')).toMatch(/^\d+$/);
    expect(body).toMatchObject({ code: 'not_ready', message: expect.stringContaining('starting') });
  });

  it('refuses a WebSocket upgrade while the broker is starting with 503 not_ready', async () => {
    const { base } = await listening();
    const status = await new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`${base.replace('http', 'ws')}/v1/events`, { headers: { authorization: 'Bearer good-alice' } });
      ws.on('unexpected-response', (_req, res: IncomingMessage) => resolve(res.statusCode ?? 0));
      ws.on('open', () => reject(new Error('the WebSocket opened')));
      ws.on('error', () => undefined);
    });
    expect(status).toBe(503);
  });

  it('answers /healthz with 200 from the start, and /readyz with 503 until the broker serves', async () => {
    const { lifecycle, base } = await listening();
    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200, body: { status: 'up', phase: 'starting' } });
    expect(await get(`${base}/readyz`)).toMatchObject({ status: 503, body: { code: 'not_ready' } });

    lifecycle.serve(assemble());
    expect(await get(`${base}/readyz`)).toMatchObject({ status: 200, body: { status: 'ready', checks: { store: 'ok' } } });
    expect(await get(`${base}/v1/config`)).toMatchObject({ status: 200, body: { tenantId: 't1' } });
  });

  it('answers /readyz with 503 naming the part that does not answer', async () => {
    const { lifecycle, base } = await listening();
    lifecycle.serve(assemble([{ name: 'graph', check: () => Promise.reject(new Error('cannot get a Microsoft Graph token')) }]));
    const { status, headers, body } = await get(`${base}/readyz`);
    expect(status).toBe(503);
    expect(headers.get('retry-after')).toMatch(/^\d+$/);
    expect(body).toMatchObject({
      code: 'not_ready',
      message: 'not ready: graph (cannot get a Microsoft Graph token)',
      checks: { store: 'ok', graph: 'cannot get a Microsoft Graph token' },
    });
  });

  it('answers 503 shutting_down once the broker is stopping, before touching anything else', async () => {
    const lifecycle = new Lifecycle(recordingLog());
    lifecycle.serve(assemble());
    // A server the lifecycle does not close, standing for a connection still open when stopping begins.
    const server = http.createServer(lifecycle.handleRequest);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await lifecycle.stop();
    const { status, body } = await get(`${base}/v1/whoami`);
    expect(status).toBe(503);
    expect(body).toMatchObject({ code: 'shutting_down' });
    expect(await get(`${base}/healthz`)).toMatchObject({ status: 200, body: { phase: 'stopping' } });
  });

  describe('draining', () => {
    /** A broker whose tunnels end when the test says so; records what the lifecycle asked of it. */
    function drainable(): { broker: Servable; calls: string[]; tunnelsEnd: () => void } {
      const base = assemble();
      const calls: string[] = [];
      let end: () => void = () => undefined;
      const ended = new Promise<void>((resolve) => {
        end = resolve;
      });
      const broker: Servable = {
        handleRequest: base.handleRequest,
        handleUpgrade: base.handleUpgrade,
        readiness: () => base.readiness(),
        drain: async (timeoutMs) => {
          calls.push(`drain ${timeoutMs}`);
          await ended;
          calls.push('drained');
          return { open: 0 };
        },
        close: async () => {
          calls.push('close');
          await base.close();
        },
      };
      return { broker, calls, tunnelsEnd: end };
    }

    it('answers /readyz 503 at once, waits for the open tunnels to end, then closes the broker', async () => {
      const log = recordingLog();
      const lifecycle = new Lifecycle(log, { drainTimeoutMs: 30_000 });
      const { broker, calls, tunnelsEnd } = drainable();
      lifecycle.serve(broker);
      const server = http.createServer(lifecycle.handleRequest);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
      const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

      const stopped = lifecycle.stop();
      expect(await get(`${base}/readyz`)).toMatchObject({ status: 503, body: { code: 'shutting_down' } });
      expect(calls).toEqual(['drain 30000']);
      tunnelsEnd();
      await stopped;
      expect(calls).toEqual(['drain 30000', 'drained', 'close']);
      expect(log.lines.map((line) => line.message)).toEqual([
        'draining: new requests and tunnels are refused, open tunnels may finish',
        'drained: no tunnel is open',
      ]);
    });

    it('ends the drain at once when hurried (a second signal), cutting what is open', async () => {
      const log = recordingLog();
      const lifecycle = new Lifecycle(log, { drainTimeoutMs: 30_000 });
      const { broker, calls } = drainable();
      lifecycle.serve(broker);
      const stopped = lifecycle.stop();
      lifecycle.hurry();
      await stopped;
      expect(calls).toEqual(['drain 30000', 'close']);
      expect(log.lines.at(-1)).toMatchObject({ level: 'warn', message: 'drain cut short by a second signal: cutting the open tunnels' });
    });

    it('does not drain without a drain timeout: the broker closes at once', async () => {
      const lifecycle = new Lifecycle(recordingLog());
      const { broker, calls } = drainable();
      lifecycle.serve(broker);
      await lifecycle.stop();
      expect(calls).toEqual(['close']);
    });

    it('finds an assembled broker with no open tunnel drained at once, long before its timeout', async () => {
      const broker = assemble();
      cleanups.push(() => broker.close());
      expect(await broker.drain(3_600_000)).toEqual({ open: 0 });
    });
  });
});
