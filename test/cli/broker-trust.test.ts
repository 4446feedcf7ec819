// The CLI's trust in the broker's certificate: where a private CA comes from (--ca, ACCESS_CA_FILE,
// remembered at login), and that REST calls, the events stream (wss) and MSAL's transport all use
// it, with a refused certificate explained in words. Real HTTPS/WSS servers on port 0.

import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { isCustomAuthority, servesOwnTenant, transportFor } from '../../cli/auth/session.js';
import { BrokerClient } from '../../cli/broker-client.js';
import { BrokerTrust, caFileToRemember, resolveBrokerTrust } from '../../cli/broker-trust.js';
import { eventsUrl, openEventStream } from '../../cli/events-client.js';
import type { CliSettings } from '../../cli/settings.js';
import type { BrokerConfigResponse } from '../../shared/wire.js';
import { tempDir } from '../helpers/processes.js';
import { createTestCa, type TestCa, type TestCertificate } from '../helpers/test-ca.js';

let dir: string;
let ca: TestCa;
let otherCa: TestCa;
let server: TestCertificate;
/** An HTTPS broker stand-in: `/v1/config` answers JSON, `/v1/events` upgrades and says hello. */
let broker: { url: string; close(): Promise<void> };
/** The same, but its certificate names only `localhost`. */
let localhostOnly: { url: string; close(): Promise<void> };

async function startHttps(cert: TestCertificate): Promise<{ url: string; close(): Promise<void> }> {
  const listener = https.createServer({ cert: cert.cert, key: cert.key }, (_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ ok: true }));
  });
  const wss = new WebSocketServer({ server: listener, path: '/v1/events' });
  wss.on('connection', (socket) => socket.send(JSON.stringify({ type: 'hello', oid: 'alice', upn: null })));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const { port } = listener.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    close: async () => {
      for (const client of wss.clients) client.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      listener.closeAllConnections();
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}

beforeAll(async () => {
  dir = await tempDir('cli-trust');
  ca = await createTestCa(dir, 'ca');
  otherCa = await createTestCa(dir, 'other-ca');
  server = await ca.issue('server');
  broker = await startHttps(server);
  localhostOnly = await startHttps(await ca.issue('localhost-only', { dns: ['localhost'], ips: [] }));
});

afterAll(async () => {
  await broker?.close();
  await localhostOnly?.close();
});

const BROKER = 'https://access.example.com';

describe('resolveBrokerTrust', () => {
  it('trusts only the public roots when no CA is named anywhere', async () => {
    const trust = await resolveBrokerTrust({ env: {}, settings: {}, brokerUrl: BROKER });
    expect(trust.caFile).toBeNull();
    expect(trust.tlsOptions()).toEqual({});
  });

  it('takes --ca over ACCESS_CA_FILE over the CA remembered for this broker', async () => {
    const settings: CliSettings = { broker: BROKER, caFile: otherCa.certFile };
    const env = { ACCESS_CA_FILE: ca.certFile };
    expect(await resolveBrokerTrust({ caFlag: server.certFile, env, settings, brokerUrl: BROKER })).toMatchObject({ caFile: server.certFile, source: 'flag' });
    expect(await resolveBrokerTrust({ env, settings, brokerUrl: BROKER })).toMatchObject({ caFile: ca.certFile, source: 'env' });
    expect(await resolveBrokerTrust({ env: {}, settings, brokerUrl: BROKER })).toMatchObject({ caFile: otherCa.certFile, source: 'remembered' });
  });

  it('does not apply a CA remembered for another broker', async () => {
    const trust = await resolveBrokerTrust({ env: {}, settings: { broker: 'https://other.example.com', caFile: ca.certFile }, brokerUrl: BROKER });
    expect(trust.caFile).toBeNull();
  });

  it('resolves a relative --ca against the working directory', async () => {
    const trust = await resolveBrokerTrust({ caFlag: path.relative(process.cwd(), ca.certFile), env: {}, settings: {}, brokerUrl: BROKER });
    expect(trust.caFile).toBe(ca.certFile);
  });

  it('passes the public roots along with the private CA in TLS options (a `ca` option replaces them)', async () => {
    const trust = await BrokerTrust.fromFile(ca.certFile, 'flag');
    const { ca: list } = trust.tlsOptions();
    expect(list?.at(-1)).toBe(ca.cert.trim());
    expect(list?.length).toBeGreaterThan(100);
  });

  it('refuses a --ca path that does not exist with a usage error naming the file', async () => {
    const missing = path.join(dir, 'nope.pem');
    await expect(resolveBrokerTrust({ caFlag: missing, env: {}, settings: {}, brokerUrl: BROKER })).rejects.toMatchObject({
      code: 'usage',
      message: `cannot read the --ca file "${missing}": no such file — check the path`,
    });
  });

  it('refuses an ACCESS_CA_FILE that does not exist, naming the variable', async () => {
    const missing = path.join(dir, 'nope-env.pem');
    await expect(resolveBrokerTrust({ env: { ACCESS_CA_FILE: missing }, settings: {}, brokerUrl: BROKER })).rejects.toMatchObject({
      code: 'usage',
      message: expect.stringContaining(`cannot read the ACCESS_CA_FILE file "${missing}"`),
    });
  });

  it('refuses a remembered CA file that is gone, saying to sign in again with --ca', async () => {
    const gone = path.join(dir, 'gone.pem');
    await expect(resolveBrokerTrust({ env: {}, settings: { broker: BROKER, caFile: gone }, brokerUrl: BROKER })).rejects.toMatchObject({
      code: 'config_invalid',
      message: expect.stringContaining('run `access login --ca FILE` again'),
    });
  });

  it('refuses a --ca file that holds no certificate', async () => {
    const notPem = path.join(dir, 'not-a-cert.txt');
    await writeFile(notPem, 'hello\n');
    await expect(resolveBrokerTrust({ caFlag: notPem, env: {}, settings: {}, brokerUrl: BROKER })).rejects.toMatchObject({
      code: 'usage',
      message: expect.stringContaining(`the --ca file "${notPem}" holds no PEM certificate`),
    });
  });
});

describe('caFileToRemember', () => {
  it('remembers a new --ca, keeps the one remembered for the same broker, and never writes ACCESS_CA_FILE', async () => {
    const settings: CliSettings = { broker: BROKER, caFile: otherCa.certFile };
    expect(caFileToRemember(await BrokerTrust.fromFile(ca.certFile, 'flag'), settings, BROKER)).toBe(ca.certFile);
    expect(caFileToRemember(await BrokerTrust.fromFile(ca.certFile, 'env'), settings, BROKER)).toBe(otherCa.certFile);
    expect(caFileToRemember(await BrokerTrust.fromFile(ca.certFile, 'env'), {}, BROKER)).toBeUndefined();
    expect(caFileToRemember(BrokerTrust.publicRoots(), settings, 'https://other.example.com')).toBeUndefined();
  });
});

describe('REST calls to an https broker', () => {
  it('succeeds when the private CA is trusted', async () => {
    const trust = await BrokerTrust.fromFile(ca.certFile, 'flag');
    await expect(new BrokerClient(broker.url, trust.transport(), null, trust).get('/v1/config')).resolves.toEqual({ ok: true });
  });

  it('refuses an untrusted certificate with broker_unreachable, saying to pass --ca (never to disable verification)', async () => {
    const trust = BrokerTrust.publicRoots();
    const error = await new BrokerClient(broker.url, trust.transport(), null, trust).get('/v1/config').catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'broker_unreachable',
      message: `the broker at ${broker.url} presented a TLS certificate this CLI does not trust (UNABLE_TO_VERIFY_LEAF_SIGNATURE: unable to verify the first certificate) — if a private CA issued it, give the CLI that CA's certificate (PEM): \`access login --broker ${broker.url} --ca FILE\`, or set ACCESS_CA_FILE=FILE`,
    });
    expect((error as Error).message).not.toMatch(/insecure|reject|NODE_TLS/i);
  });

  it('names the configured CA when it is the wrong one', async () => {
    const trust = await BrokerTrust.fromFile(otherCa.certFile, 'remembered');
    await expect(new BrokerClient(broker.url, trust.transport(), null, trust).get('/v1/config')).rejects.toMatchObject({
      code: 'broker_unreachable',
      message: expect.stringContaining(`not even with the CA in "${otherCa.certFile}" (remembered from \`access login --ca\`)`),
    });
  });

  it('says when the certificate does not name the host in the URL', async () => {
    const trust = await BrokerTrust.fromFile(ca.certFile, 'flag');
    await expect(new BrokerClient(localhostOnly.url, trust.transport(), null, trust).get('/v1/config')).rejects.toMatchObject({
      code: 'broker_unreachable',
      message: expect.stringContaining(`the broker's TLS certificate is not valid for ${new URL(localhostOnly.url).host}`),
    });
  });

  it('says when the certificate has expired', async () => {
    const expired = await ca.issue('expired', { notBefore: new Date(Date.now() - 10 * 86_400_000), notAfter: new Date(Date.now() - 86_400_000) });
    const stale = await startHttps(expired);
    try {
      const trust = await BrokerTrust.fromFile(ca.certFile, 'flag');
      await expect(new BrokerClient(stale.url, trust.transport(), null, trust).get('/v1/config')).rejects.toMatchObject({
        code: 'broker_unreachable',
        message: expect.stringContaining('presented a TLS certificate that is expired or not yet valid (CERT_HAS_EXPIRED'),
      });
    } finally {
      await stale.close();
    }
  });

  it('says when an https URL points at a broker that serves plain HTTP', async () => {
    const plain = http.createServer((_req, res) => res.end('{}'));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const { port } = plain.address() as AddressInfo;
    try {
      const trust = BrokerTrust.publicRoots();
      await expect(new BrokerClient(`https://127.0.0.1:${port}`, trust.transport(), null, trust).get('/v1/config')).rejects.toMatchObject({
        code: 'broker_unreachable',
        message: expect.stringContaining(`does not speak TLS`),
      });
    } finally {
      await new Promise<void>((resolve) => plain.close(() => resolve()));
    }
  });

  it('leaves errors that are not about TLS to the caller', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(BrokerTrust.publicRoots().explain(refused, 'https://127.0.0.1:1')).toBeNull();
  });
});

describe('the events stream over wss', () => {
  it('opens with the private CA', async () => {
    const trust = await BrokerTrust.fromFile(ca.certFile, 'flag');
    const stream = await openEventStream({ url: eventsUrl(broker.url), token: async () => 't', trust });
    try {
      const first = await stream[Symbol.asyncIterator]().next();
      expect(first.value).toMatchObject({ type: 'hello', oid: 'alice' });
    } finally {
      stream.close();
    }
  });

  it('refuses an untrusted certificate with the same words as REST, naming the broker', async () => {
    await expect(openEventStream({ url: eventsUrl(broker.url), token: async () => 't', trust: BrokerTrust.publicRoots() })).rejects.toMatchObject({
      code: 'broker_unreachable',
      message: expect.stringContaining(`the broker at ${broker.url} presented a TLS certificate this CLI does not trust`),
    });
  });
});

describe('the transport MSAL reaches the tenant with', () => {
  const devOverTls = (url: string): BrokerConfigResponse => ({
    tenantId: 't',
    authority: `${url}/t`,
    clientId: 'c',
    scopes: ['api://x/user_impersonation'],
    brokerVersion: 'test',
  });
  const realTenant: BrokerConfigResponse = {
    tenantId: 't',
    authority: 'https://login.microsoftonline.com/t',
    clientId: 'c',
    scopes: ['api://x/user_impersonation'],
    brokerVersion: 'test',
  };

  it("counts a tenant on the broker's own host (dev over TLS) as served by the broker, and a Microsoft authority as not", () => {
    expect(servesOwnTenant(broker.url, devOverTls(broker.url))).toBe(true);
    expect(servesOwnTenant(broker.url, realTenant)).toBe(false);
  });

  it('names the authority as known (no instance discovery) for a tenant the broker serves or a cloud its config writes out, not for a Microsoft authority', () => {
    const customCloud: BrokerConfigResponse = { ...realTenant, authority: 'https://login.example.gov/t', customCloud: true };
    expect(isCustomAuthority(broker.url, devOverTls(broker.url))).toBe(true);
    expect(isCustomAuthority(broker.url, customCloud)).toBe(true);
    expect(isCustomAuthority(broker.url, realTenant)).toBe(false);
  });

  it('trusts the private CA for a dev tenant served over TLS by the broker itself', async () => {
    const res = await transportFor(broker.url, devOverTls(broker.url), [ca.cert]).request(`${broker.url}/t/v2.0/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
  });

  it("does not extend the private CA to a real tenant's sign-in hosts", async () => {
    // Dialled at the stand-in broker to observe the trust: a real tenant's transport has only the public roots.
    await expect(transportFor(broker.url, realTenant, [ca.cert]).request(`${broker.url}/`)).rejects.toMatchObject({ code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});
