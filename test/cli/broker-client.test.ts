// The CLI's REST client against a real HTTP server: an answer larger than the client reads is
// reported as what it is (response_too_large), never as "cannot reach the broker"; a claims
// challenge is answered by one step-up sign-in and one retry.

import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerClient } from '../../cli/broker-client.js';
import { claimsChallengeHeader } from '../../shared/claims-challenge.js';
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

const MFA_CLAIMS = '{"access_token":{"amr":{"essential":true,"values":["mfa"]}}}';

/** A broker that challenges every call made with a token other than `accepted`. */
async function challenging(accepted: string): Promise<{ base: string; calls: string[] }> {
  const calls: string[] = [];
  server = createServer((req, res) => {
    const token = (req.headers.authorization ?? '').replace('Bearer ', '');
    calls.push(token);
    if (token === accepted) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"ok":true}');
      return;
    }
    res.writeHead(401, {
      'content-type': 'application/json',
      'www-authenticate': claimsChallengeHeader(MFA_CLAIMS, 'https://login.example/t/oauth2/v2.0/authorize'),
    });
    res.end(JSON.stringify({ code: 'mfa_required', message: 'prod-db requires multi-factor sign-in; run `access login` again and complete MFA.' }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls };
}

describe('BrokerClient step-up', () => {
  it("signs in again with the challenge's claims and retries once with the new token", async () => {
    const { base, calls } = await challenging('strong');
    let token = 'weak';
    const asked: Array<string | null> = [];
    const client = new BrokerClient(
      base,
      new HttpTransport(),
      async () => token,
      null,
      async (refusal) => {
        asked.push(refusal.claims);
        token = 'strong';
      },
    );
    expect(await client.post('/v1/requests', { resource: 'prod-db' }, 'unsure')).toEqual({ ok: true });
    expect(asked).toEqual([MFA_CLAIMS]);
    expect(calls).toEqual(['weak', 'strong']);
  });

  it('retries only once: a second challenge is the refusal, with its claims, and exits as denied', async () => {
    const { base, calls } = await challenging('never');
    let stepUps = 0;
    const client = new BrokerClient(
      base,
      new HttpTransport(),
      async () => 'weak',
      null,
      async () => {
        stepUps += 1;
      },
    );
    const error = (await client.get('/v1/requests').catch((e: unknown) => e)) as AccessError;
    expect([error.code, error.claims, error.exitCode]).toEqual(['mfa_required', MFA_CLAIMS, 3]);
    expect(stepUps).toBe(1);
    expect(calls).toHaveLength(2);
  });

  it('without a step-up, the challenge is the error', async () => {
    const { base, calls } = await challenging('never');
    const error = (await new BrokerClient(base, new HttpTransport(), async () => 'weak').get('/v1/requests').catch((e: unknown) => e)) as AccessError;
    expect(error.message).toContain('requires multi-factor sign-in');
    expect(calls).toHaveLength(1);
  });
});
