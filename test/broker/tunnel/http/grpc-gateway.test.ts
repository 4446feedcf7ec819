// The grpc gateway on its own: an HTTP/2 client writing into the stream the relay would use, a
// real HTTP/2 target on port 0 standing in for a gRPC server, and an audit sink that can fail.

import { once } from 'node:events';
import http2 from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { describe, expect, it, vi } from 'vitest';
import { HttpGateway } from '../../../../broker/tunnel/http/gateway.js';
import { IdentityTokens } from '../../../../broker/tunnel/http/identity-token.js';
import { resourcePolicy } from '../../../helpers/resource-policy.js';
import { recordingLog } from '../../requests/harness.js';
import { cleanupAfterEach, Sink, sessionOn } from './fixtures.js';

const session = sessionOn('orders');

const cleanup = cleanupAfterEach();

interface Answer {
  headers: http2.IncomingHttpHeaders;
  trailers: http2.IncomingHttpHeaders;
}

/** A target answering every call with grpc-status 0 in its trailers, after one empty message. */
async function world(): Promise<{ sink: Sink; seen: Array<http2.IncomingHttpHeaders>; call: (path: string) => Promise<Answer> }> {
  const seen: Array<http2.IncomingHttpHeaders> = [];
  const target = http2.createServer();
  target.on('stream', (stream, headers) => {
    seen.push(headers);
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
    stream.end(Buffer.from([0, 0, 0, 0, 0]));
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  cleanup.push(() => target.close());
  const port = (target.address() as AddressInfo).port;
  const sink = new Sink();
  const gateway = new HttpGateway({ sink, log: recordingLog(), now: Date.now, tokens: new IdentityTokens() });
  const call = async (path: string): Promise<Answer> => {
    const dialled = net.connect({ host: '127.0.0.1', port });
    await once(dialled, 'connect');
    const served = gateway.serve(session, resourcePolicy({ name: 'orders', kind: 'grpc', target: { host: '127.0.0.1', port } }), dialled);
    if (!served) throw new Error('a grpc resource must be served');
    const client = http2.connect('http://orders', { createConnection: () => served.stream });
    cleanup.push(() => client.destroy());
    const request = client.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', 'x-access-user': 'mallory' });
    const closed = once(request, 'close');
    let trailers: http2.IncomingHttpHeaders = {};
    request.on('trailers', (t: http2.IncomingHttpHeaders) => {
      trailers = t;
    });
    request.end(Buffer.from([0, 0, 0, 0, 0]));
    const [headers] = (await once(request, 'response')) as [http2.IncomingHttpHeaders];
    request.resume();
    await closed;
    return { headers, trailers };
  };
  return { sink, seen, call };
}

describe('grpc calls through the gateway', () => {
  it("records the call before the target sees it, with the broker's identity, then its grpc-status", async () => {
    const { sink, seen, call } = await world();
    const answer = await call('/orders.Orders/Get');
    expect(answer.trailers['grpc-status']).toBe('0');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.['x-access-user']).toBe('alice@contoso.dev');
    expect(seen[0]?.te).toBe('trailers');
    // The status entry is written when the broker's side of the call closes, just after the client's.
    await vi.waitFor(() => expect(sink.buffered.some((e) => e.type === 'grpc.status')).toBe(true), { timeout: 10_000 });
    sink.flush();
    expect(sink.written.map((e) => [e.type, e.body.method, e.body.grpcStatus])).toEqual([
      ['grpc.call', '/orders.Orders/Get', undefined],
      ['grpc.status', '/orders.Orders/Get', 0],
    ]);
  });

  it('answers UNAVAILABLE (14) and forwards nothing when the audit log cannot record the call (fail closed)', async () => {
    const { sink, seen, call } = await world();
    sink.failing = true;
    const answer = await call('/orders.Orders/Delete');
    expect(answer.headers['grpc-status']).toBe('14');
    expect(decodeURIComponent(String(answer.headers['grpc-message']))).toContain('could not record this call in the audit log');
    expect(seen).toEqual([]);
  });
});
