// The http gateway on its own: a raw HTTP/1.1 request written into the stream the relay would use,
// a real target on port 0, and an audit sink that can be told to fail.

import { once } from 'node:events';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { HttpGateway } from '../../../../broker/tunnel/http/gateway.js';
import { IdentityTokens } from '../../../../broker/tunnel/http/identity-token.js';
import { resourcePolicy } from '../../../helpers/resource-policy.js';
import { recordingLog } from '../../requests/harness.js';
import { cleanupAfterEach, Sink, sessionOn } from './fixtures.js';

const session = sessionOn('web');

const cleanup = cleanupAfterEach();

async function world(): Promise<{ sink: Sink; seen: string[]; send: (raw: string) => Promise<string> }> {
  const seen: string[] = [];
  const target = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.end('hello');
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  cleanup.push(() => target.close());
  const port = (target.address() as AddressInfo).port;
  const sink = new Sink();
  const gateway = new HttpGateway({ sink, log: recordingLog(), now: Date.now, tokens: new IdentityTokens() });
  const send = async (raw: string): Promise<string> => {
    const dialled = net.connect({ host: '127.0.0.1', port });
    await once(dialled, 'connect');
    const served = gateway.serve(session, resourcePolicy({ name: 'web', kind: 'http', target: { host: '127.0.0.1', port } }), dialled);
    if (!served) throw new Error('an http resource must be served');
    cleanup.push(() => served.stream.destroy());
    let answer = '';
    served.stream.on('data', (chunk: Buffer) => (answer += chunk.toString()));
    served.stream.write(raw);
    await once(served.stream, 'end');
    return answer;
  };
  return { sink, seen, send };
}

describe('HttpGateway', () => {
  it('records the request before the target sees it, then its response', async () => {
    const { sink, seen, send } = await world();
    const answer = await send('GET /a?b=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 200 OK\r\n[\s\S]*hello$/);
    expect(seen).toEqual(['GET /a?b=1']);
    sink.flush();
    expect(sink.written.map((e) => [e.type, e.body.method, e.body.path, e.body.status])).toEqual([
      ['http.request', 'GET', '/a?b=1', undefined],
      ['http.response', 'GET', '/a?b=1', 200],
    ]);
  });

  it('answers 503 and forwards nothing when the audit log cannot record the request (fail closed)', async () => {
    const { sink, seen, send } = await world();
    sink.failing = true;
    const answer = await send('POST /transfer HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi');
    expect(answer).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\n/);
    expect(answer).toContain('could not record this request in the audit log, so it was not forwarded');
    expect(seen).toEqual([]);
  });

  it('refuses CONNECT: the broker is not a proxy to wherever the client names', async () => {
    const { seen, send } = await world();
    const answer = await send('CONNECT internal.example:22 HTTP/1.1\r\nHost: internal.example:22\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(seen).toEqual([]);
  });

  it('answers 431 to a request head above MAX_HEADER_BYTES, and forwards nothing', async () => {
    const { seen, send } = await world();
    const answer = await send(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
    expect(answer).toMatch(/^HTTP\/1\.1 431 /);
    expect(seen).toEqual([]);
  });

  it('refuses an h2c upgrade, whose requests it could not read, and forwards nothing', async () => {
    const { seen, send } = await world();
    const answer = await send('GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAAP__\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 501 Not Implemented\r\n[\s\S]*WebSocket upgrades only/);
    expect(seen).toEqual([]);
  });

  it('refuses an absolute URL as the request target (the target is not a proxy to elsewhere)', async () => {
    const { seen, send } = await world();
    const answer = await send('GET http://169.254.169.254/latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(seen).toEqual([]);
  });

  it('serves only http resources', async () => {
    const gateway = new HttpGateway({ sink: new Sink(), log: recordingLog(), now: Date.now, tokens: new IdentityTokens() });
    const socket = new net.Socket();
    expect(gateway.serve(session, resourcePolicy({ name: 'db', kind: 'postgres' }), socket)).toBeNull();
  });
});
