import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HttpTransport, isLoopbackHost } from '../../shared/http-transport.js';

let server: http.Server;
let port: number;

beforeAll(async () => {
  server = http.createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ method: req.method, url: req.url }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe('HttpTransport', () => {
  it('reaches a declared loopback dev-tenant origin over plain HTTP', async () => {
    const transport = new HttpTransport({ plaintextOrigins: [`https://127.0.0.1:${port}`] });
    const res = await transport.request(`https://127.0.0.1:${port}/tid/v2.0/x?y=1`);
    expect(JSON.parse(res.body.toString())).toEqual({ method: 'GET', url: '/tid/v2.0/x?y=1' });
  });

  it('refuses to downgrade a non-loopback origin', () => {
    expect(() => new HttpTransport({ plaintextOrigins: ['https://login.microsoftonline.com'] })).toThrow(/only allowed for a loopback/);
  });

  it('keeps TLS for every other https origin', () => {
    const transport = new HttpTransport({ plaintextOrigins: [`https://127.0.0.1:${port}`] });
    expect(transport.wireUrl(`https://127.0.0.1:${port + 1}/`).protocol).toBe('https:');
  });

  it('offers a fetch that libraries can use', async () => {
    const transport = new HttpTransport();
    const res = await transport.fetch(`http://127.0.0.1:${port}/p`, { method: 'POST', body: 'x' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ method: 'POST', url: '/p' });
  });

  it.each([
    ['127.0.0.1', true],
    ['127.8.9.10', true],
    ['localhost', true],
    ['[::1]', true],
    ['10.0.0.1', false],
    ['127.0.0.1.evil.com', false],
  ])('treats %s as loopback: %s', (host, expected) => {
    expect(isLoopbackHost(host)).toBe(expected);
  });
});
