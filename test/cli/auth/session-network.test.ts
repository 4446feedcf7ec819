// What a sign-in failure says when MSAL could not reach the tenant: MSAL itself reports only
// `endpoints_resolution_error`, so the session names the failed call — and, for a dev tenant the
// broker serves over TLS with a certificate this CLI does not trust, says so and names --ca.

import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Session, type SignInRequest, transportFor } from '../../../cli/auth/session.js';
import { BrokerTrust } from '../../../cli/broker-trust.js';
import type { BrokerConfigResponse } from '../../../shared/wire.js';
import { freePort, tempDir } from '../../helpers/processes.js';
import { createTestCa } from '../../helpers/test-ca.js';

let tlsBroker: { url: string; close(): Promise<void> };

beforeAll(async () => {
  const ca = await createTestCa(await tempDir('session-ca'));
  const cert = await ca.issue('broker');
  const listener = https.createServer({ cert: cert.cert, key: cert.key }, (_req, res) => res.end('{}'));
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  tlsBroker = {
    url: `https://127.0.0.1:${(listener.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => listener.close(() => resolve())),
  };
});

afterAll(async () => {
  await tlsBroker?.close();
});

function signInConfig(origin: string): BrokerConfigResponse {
  return { tenantId: 't1', authority: `${origin}/t1`, clientId: 'cli', scopes: ['api://x/user_impersonation'], brokerVersion: 'test' };
}

const deviceCode: SignInRequest = { method: 'device-code', onDeviceCode: () => undefined, openBrowser: async () => undefined };

async function openSession(brokerUrl: string, trust: BrokerTrust): Promise<Session> {
  const signIn = signInConfig(brokerUrl);
  return Session.open({
    home: await tempDir('session-home'),
    env: { ACCESS_TOKEN_STORE: 'file' },
    brokerUrl,
    signIn,
    transport: transportFor(brokerUrl, signIn, trust.extraCa),
    trust,
  });
}

describe('Session sign-in errors when the tenant cannot be reached', () => {
  it("says the dev broker's certificate is not trusted and names --ca, instead of MSAL's endpoints_resolution_error", async () => {
    const session = await openSession(tlsBroker.url, BrokerTrust.publicRoots());
    await expect(session.signInInteractively(deviceCode)).rejects.toMatchObject({
      code: 'broker_unreachable',
      message: expect.stringContaining(`the broker at ${tlsBroker.url} presented a TLS certificate this CLI does not trust`),
    });
  });

  it('names the tenant URL it could not reach and why', async () => {
    const closed = `https://127.0.0.1:${await freePort()}`;
    const session = await openSession(closed, BrokerTrust.publicRoots());
    await expect(session.signInInteractively(deviceCode)).rejects.toMatchObject({
      code: 'tenant_unreachable',
      message: `sign-in failed: cannot reach the tenant at ${closed} (ECONNREFUSED)`,
    });
  });
});
