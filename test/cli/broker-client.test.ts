// The CLI's REST client against a real HTTP server: an answer larger than the client reads is
// reported as what it is (response_too_large), never as "cannot reach the broker".

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerClient } from '../../cli/broker-client.js';
import { AccessError } from '../../shared/errors.js';
import { HttpTransport } from '../../shared/http-transport.js';
import { MAX_RESPONSE_BYTES } from '../../shared/limits.js';

let server: Server | null = null;

afterEach(() => {
  server?.closeAllConnections();
  server?.close();
  server = null;
});

async function serve(body: Buffer): Promise<string> {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('BrokerClient', () => {
  it('reports an answer over MAX_RESPONSE_BYTES as response_too_large, naming the limit, not as unreachable', async () => {
    const base = await serve(Buffer.alloc(MAX_RESPONSE_BYTES + 1024, 0x20));
    const error = await new BrokerClient(base, new HttpTransport()).get('/v1/audit/events?after_seq=0').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AccessError);
    expect((error as AccessError).code).toBe('response_too_large');
    expect((error as AccessError).message).toContain(String(MAX_RESPONSE_BYTES));
    expect((error as AccessError).message).not.toContain('cannot reach');
  });
});
