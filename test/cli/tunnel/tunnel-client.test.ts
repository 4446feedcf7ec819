import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { openTunnel, tunnelUrl } from '../../../cli/tunnel/tunnel-client.js';
import { AccessError } from '../../../shared/errors.js';
import { GOOD_TOKEN, startFakeBroker, type FakeBroker } from './fake-broker.js';

let broker: FakeBroker | null = null;
afterEach(async () => {
  await broker?.stop();
  broker = null;
});

async function refusal(promise: Promise<unknown>): Promise<AccessError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AccessError);
  return error as AccessError;
}

describe('tunnelUrl', () => {
  it('maps http to ws and https to wss, with the resource as a query parameter', () => {
    expect(tunnelUrl('http://127.0.0.1:9/', 'demo-db')).toBe('ws://127.0.0.1:9/v1/tunnel?resource=demo-db');
    expect(tunnelUrl('https://access.contoso.dev/base', 'a b&c')).toBe('wss://access.contoso.dev/base/v1/tunnel?resource=a+b%26c');
  });
});

describe('openTunnel', () => {
  it('presents a fresh bearer token for every tunnel', async () => {
    broker = await startFakeBroker();
    let calls = 0;
    const token = async (): Promise<string> => {
      calls += 1;
      return GOOD_TOKEN;
    };
    const url = tunnelUrl(broker.url, 'demo-db');
    (await openTunnel({ url, token })).terminate();
    (await openTunnel({ url, token })).terminate();
    expect(calls).toBe(2);
    expect(broker.attempts.map((a) => a.token)).toEqual([GOOD_TOKEN, GOOD_TOKEN]);
  });

  it('an open tunnel keeps none of its opening: one shared error listener, no refusal handler', async () => {
    broker = await startFakeBroker();
    const url = tunnelUrl(broker.url, 'demo-db');
    const one = await openTunnel({ url, token: async () => GOOD_TOKEN });
    const other = await openTunnel({ url, token: async () => GOOD_TOKEN });
    try {
      // Still listened to (an unhandled error would crash the CLI), by one function for every tunnel.
      expect(one.listenerCount('error')).toBe(1);
      expect(one.listeners('error')).toEqual(other.listeners('error'));
      expect(one.listenerCount('unexpected-response')).toBe(0);
    } finally {
      one.terminate();
      other.terminate();
    }
  });

  it("rethrows a 403 no_live_grant refusal as the broker's own error (exit 3)", async () => {
    const message = 'you have no live grant for demo-db — run `access request demo-db --for 1h --reason …`';
    broker = await startFakeBroker({ refuse: () => ({ status: 403, code: 'no_live_grant', message }) });
    const error = await refusal(broker.open('demo-db'));
    expect(error.code).toBe('no_live_grant');
    expect(error.message).toBe(message);
    expect(error.exitCode).toBe(3);
  });

  it('rethrows a 502 target_unreachable refusal with the target named', async () => {
    const message = 'cannot reach demo-db at 127.0.0.1:5999 (ECONNREFUSED)';
    broker = await startFakeBroker({ refuse: () => ({ status: 502, code: 'target_unreachable', message }) });
    const error = await refusal(broker.open('demo-db'));
    expect(error).toMatchObject({ code: 'target_unreachable', message });
    expect(error.exitCode).toBe(1);
  });

  it('reads a 401 without a broker body as "sign in again" (exit 4)', async () => {
    const server: Server = http.createServer();
    server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = tunnelUrl(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, 'demo-db');
      const error = await refusal(openTunnel({ url, token: async () => 'x' }));
      expect(error.code).toBe('not_signed_in');
      expect(error.message).toContain('access login');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('says the broker is unreachable when nothing listens', async () => {
    broker = await startFakeBroker();
    const url = tunnelUrl(broker.url, 'demo-db');
    await broker.stop();
    broker = null;
    const error = await refusal(openTunnel({ url, token: async () => GOOD_TOKEN }));
    expect(error.code).toBe('broker_unreachable');
    expect(error.message).toContain('ECONNREFUSED');
  });
});
