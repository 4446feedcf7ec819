// `access-broker dev` on the network and against DNS rebinding, in process: it refuses a
// non-loopback --host without the loudly named flag, and answers only to its own names on every
// route — broker API, dev tenant pages and endpoints, WebSocket upgrades.

import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevBroker, type RunningDevBroker } from '../../broker/dev-command.js';
import { UNSAFE_EXPOSE_FLAG } from '../../broker/dev-exposure.js';
import { recordingLog } from './requests/harness.js';

const CONFIG = path.resolve('test/fixtures/short-limits.yaml');

function devOptions(host: string, extra: { unsafeExpose?: boolean } = {}): Parameters<typeof startDevBroker>[0] {
  return { port: 0, host, dataDir: null, configFile: CONFIG, env: {}, log: recordingLog(), print: () => undefined, ...extra };
}

describe('access-broker dev on a non-loopback address', () => {
  it.each(['0.0.0.0', '::', '10.1.2.3', 'devbox.example'])(
    `refuses --host %s without ${UNSAFE_EXPOSE_FLAG}, as a usage error naming the flag`,
    async (host) => {
      await expect(startDevBroker(devOptions(host))).rejects.toMatchObject({
        code: 'usage',
        message: expect.stringMatching(new RegExp(`"${host.replace(/\./g, '\\.')}".*no password.*${UNSAFE_EXPOSE_FLAG}`)),
      });
    },
  );
});

describe('the Host allow-list of a loopback dev broker', () => {
  let broker: RunningDevBroker;
  let port: number;
  let tenantPath: string;

  beforeAll(async () => {
    broker = await startDevBroker(devOptions('127.0.0.1'));
    port = Number(new URL(broker.url).port);
    const config = await send('GET', '/v1/config', `127.0.0.1:${port}`);
    tenantPath = new URL(String((JSON.parse(config.body) as { authority: string }).authority)).pathname;
  });
  afterAll(async () => {
    await broker.stop();
  });

  function send(method: string, pathname: string, host: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, method, path: pathname, headers: { host, ...headers } }, (res) => {
        let body = '';
        res.on('data', (chunk: Buffer) => (body += chunk.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  it.each([
    ['the broker API', 'GET', '/v1/config'],
    ['the device-login page', 'GET', '/devicelogin'],
    ['the device-login form', 'POST', '/devicelogin'],
    ['the tenant metadata', 'GET', 'TENANT/v2.0/.well-known/openid-configuration'],
    ['the devicecode endpoint', 'POST', 'TENANT/oauth2/v2.0/devicecode'],
    ['a WebSocket upgrade', 'GET', '/v1/events'],
  ])('refuses %s with 421 host_not_allowed for a rebinding Host', async (_case, method, route) => {
    const upgrade: Record<string, string> =
      route === '/v1/events'
        ? { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' }
        : {};
    const res = await send(method, route.replace('TENANT', tenantPath), `evil.example:${port}`, upgrade);
    expect(res.status).toBe(421);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'host_not_allowed', message: expect.stringContaining('Host "evil.example') });
  });

  it.each(['127.0.0.1', 'localhost', '[::1]'])('answers to %s', async (name) => {
    expect((await send('GET', '/v1/config', `${name}:${port}`)).status).toBe(200);
    expect((await send('GET', '/devicelogin', `${name}:${port}`)).status).toBe(200);
  });
});
