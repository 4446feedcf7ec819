// National clouds: one setting moves the sign-in host, the accepted issuers and Microsoft Graph
// together, and a token of one cloud is refused by a broker of another. The dev tenant presents
// itself as each cloud (its issuers and Graph follow DevTenantOptions.cloud); the broker's identity
// edge (buildIdentity: the jose verifier, MSAL and the real Graph client) runs against it.

import { LogLevel, PublicClientApplication } from '@azure/msal-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { buildIdentity } from '../../../broker/identity/build-identity.js';
import { CLOUD_NAMES, CLOUDS, type CloudName } from '../../../broker/identity/clouds.js';
import { identityFromDevTenant } from '../../../broker/identity/dev-identity.js';
import type { IdentitySettings } from '../../../broker/identity/identity-settings.js';
import { AccessError } from '../../../shared/errors.js';
import { msalNetworkModule } from '../../../shared/msal-network.js';
import { approveOnPage, serveDevTenant, signIn, type Served } from '../devtenant/harness.js';

const EXPECTED: Record<CloudName, { v2Issuer: string; graph: string }> = {
  public: { v2Issuer: 'https://login.microsoftonline.com', graph: 'https://graph.microsoft.com' },
  usgov: { v2Issuer: 'https://login.microsoftonline.us', graph: 'https://graph.microsoft.us' },
  china: { v2Issuer: 'https://login.chinacloudapi.cn', graph: 'https://microsoftgraph.chinacloudapi.cn' },
};

/** The identity settings a broker configured for `cloud` has, pointed at the dev tenant's endpoints. */
function settingsFor(served: Served, cloud: CloudName): IdentitySettings {
  return { ...identityFromDevTenant(served.tenant, { publicOrigin: served.publicOrigin, plaintext: true }), cloud: CLOUDS[cloud] };
}

describe.each(CLOUD_NAMES)('a dev tenant presenting itself as the %s cloud', (cloud) => {
  let served: Served;
  let token: string;

  beforeAll(async () => {
    served = await serveDevTenant({ cloud });
    token = (await signIn(served, 'alice@contoso.dev')).access_token as string;
  });
  afterAll(async () => {
    await served.close();
  });

  it("issues tokens with that cloud's v2 issuer", () => {
    expect(decodeJwt(token).iss).toBe(`${EXPECTED[cloud].v2Issuer}/${served.tenant.tenantId}/v2.0`);
  });

  it("signs a person in through MSAL's device code flow, as the CLI does, with that cloud's tokens", async () => {
    const pca = new PublicClientApplication({
      auth: { clientId: served.tenant.cliClientId, authority: served.tenant.authority, knownAuthorities: [`127.0.0.1:${served.port}`] },
      system: {
        networkClient: msalNetworkModule(served.transport),
        loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined },
      },
    });
    const approvals: Array<Promise<unknown>> = [];
    const result = await pca.acquireTokenByDeviceCode({
      scopes: [served.tenant.api.scope],
      deviceCodeCallback: (response) => void approvals.push(approveOnPage(served, response.userCode, 'alice@contoso.dev')),
    });
    await Promise.all(approvals);
    expect(result?.account?.username).toBe('alice@contoso.dev');
    expect(decodeJwt(result?.accessToken ?? '').iss).toBe(`${EXPECTED[cloud].v2Issuer}/${served.tenant.tenantId}/v2.0`);
  });

  it("is accepted by a broker configured for that cloud, which reads Graph with that cloud's scope", async () => {
    const { verifier, directory } = buildIdentity(settingsFor(served, cloud), { transport: served.transport, groupCacheSeconds: 0 });
    const principal = await verifier.verify(token);
    expect(principal.upn).toBe('alice@contoso.dev');
    expect((await directory.memberGroups(principal.oid)).map((g) => g.displayName)).toEqual(['sg-eng']);
  });

  it.each(CLOUD_NAMES.filter((other) => other !== cloud))('is refused by a broker configured for the %s cloud', async (other) => {
    const { verifier, directory } = buildIdentity(settingsFor(served, other), { transport: served.transport, groupCacheSeconds: 0 });
    const refused: unknown = await verifier.verify(token).then(
      () => null,
      (e: unknown) => e,
    );
    expect(refused).toBeInstanceOf(AccessError);
    expect((refused as AccessError).code).toBe('token_issuer_invalid');
    // Nor can that broker read this tenant's Graph: it asks for another cloud's Graph scope.
    const graphRefused: unknown = await directory.memberGroups(decodeJwt(token).oid as string).then(
      () => null,
      (e: unknown) => e,
    );
    expect((graphRefused as AccessError).code).toBe('directory_unavailable');
    expect((graphRefused as AccessError).message).toContain(`${EXPECTED[other].graph}/.default`);
  });
});
