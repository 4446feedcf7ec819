// The upgrade router on a real socket: every refusal is an HTTP response written before any
// WebSocket exists, in the order path → method → upgrade kind → token → the endpoint's own checks.

import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Verifier } from '../../../broker/app.js';
import { bearerTokenFrom } from '../../../broker/auth/token-verifier.js';
import { upgradeRouter, type UpgradeRoute } from '../../../broker/http/upgrade.js';
import { AccessError } from '../../../shared/errors.js';
import { principal, recordingLog } from '../requests/harness.js';

const verifier: Verifier = {
  async verify(token) {
    if (token === 'good') return principal('alice');
    throw new AccessError('token_expired', 'the token expired');
  },
};

const log = recordingLog();
const routes: UpgradeRoute[] = [
  {
    path: '/v1/closed',
    handle: async () => {
      throw new AccessError('forbidden', 'not for you');
    },
  },
  {
    path: '/v1/broken',
    handle: async () => {
      throw new Error('database on fire');
    },
  },
];

let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer();
  server.on(
    'upgrade',
    upgradeRouter((req) => verifier.verify(bearerTokenFrom(req.headers.authorization)), log, routes),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/** Sends a raw upgrade request and returns the status line and JSON body of the answer. */
function upgrade(request: { method?: string; path: string; upgrade?: string; token?: string }): Promise<{ status: string; body: unknown }> {
  return new Promise((resolve, reject) => {
    const lines = [
      `${request.method ?? 'GET'} ${request.path} HTTP/1.1`,
      'Host: x',
      'Connection: Upgrade',
      `Upgrade: ${request.upgrade ?? 'websocket'}`,
      'Sec-WebSocket-Version: 13',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      ...(request.token ? [`Authorization: Bearer ${request.token}`] : []),
    ];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(`${lines.join('\r\n')}\r\n\r\n`));
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('utf8')));
    socket.on('error', reject);
    socket.on('close', () => resolve({ status: text.slice(0, text.indexOf('\r\n')), body: JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) }));
  });
}

describe('upgradeRouter', () => {
  it('answers an unknown path 404 before reading the token', async () => {
    expect(await upgrade({ path: '/v1/none' })).toEqual({ status: 'HTTP/1.1 404 Not Found', body: expect.objectContaining({ code: 'not_found' }) });
  });

  it('answers a non-GET upgrade 405', async () => {
    expect(await upgrade({ method: 'POST', path: '/v1/closed' })).toMatchObject({ status: 'HTTP/1.1 405 Method Not Allowed' });
  });

  it('answers an upgrade to another protocol 400 naming it', async () => {
    const answer = await upgrade({ path: '/v1/closed', upgrade: 'h2c' });
    expect(answer).toMatchObject({ status: 'HTTP/1.1 400 Bad Request', body: { code: 'bad_request', message: expect.stringContaining('"h2c"') } });
  });

  it("answers a refused token 401 with the verifier's code", async () => {
    expect(await upgrade({ path: '/v1/closed', token: 'old' })).toMatchObject({ status: 'HTTP/1.1 401 Unauthorized', body: { code: 'token_expired' } });
  });

  it("writes an endpoint's own refusal as its HTTP status", async () => {
    expect(await upgrade({ path: '/v1/closed', token: 'good' })).toMatchObject({ status: 'HTTP/1.1 403 Forbidden', body: { code: 'forbidden' } });
  });

  it('answers an unexpected failure 500 internal without its details, and logs it', async () => {
    const answer = await upgrade({ path: '/v1/broken', token: 'good' });
    expect(answer).toMatchObject({ status: 'HTTP/1.1 500 Internal Server Error', body: { code: 'internal' } });
    expect(JSON.stringify(answer.body)).not.toContain('fire');
    expect(log.lines.some((l) => l.level === 'error' && String(l.fields['error']).includes('database on fire'))).toBe(true);
  });
});
