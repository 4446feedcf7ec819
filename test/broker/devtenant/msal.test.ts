// The real, unmodified @azure/msal-node against the dev tenant: device code sign-in completed on
// the device-login page, silent refresh, client credentials, and MSAL's view of our errors.

import { ConfidentialClientApplication, LogLevel, PublicClientApplication, type Configuration } from '@azure/msal-node';
import { decodeJwt } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { msalNetworkModule } from '../../../shared/msal-network.js';
import { approveOnPage, serveDevTenant, type Served } from './harness.js';

let served: Served;

beforeEach(async () => {
  served = await serveDevTenant();
});
afterEach(async () => {
  await served.close();
});

function msalConfig(clientId: string, extra: Partial<Configuration['auth']> = {}): Configuration {
  return {
    auth: { clientId, authority: served.tenant.authority, knownAuthorities: [`127.0.0.1:${served.port}`], ...extra },
    system: {
      networkClient: msalNetworkModule(served.transport),
      loggerOptions: { logLevel: LogLevel.Error, piiLoggingEnabled: false, loggerCallback: () => undefined },
    },
  };
}

describe('device code sign-in with MSAL', () => {
  it('signs alice in through the device-login page and refreshes silently', async () => {
    const pca = new PublicClientApplication(msalConfig(served.tenant.cliClientId));
    const approvals: Array<Promise<unknown>> = [];
    let message = '';
    const result = await pca.acquireTokenByDeviceCode({
      scopes: [served.tenant.api.scope],
      deviceCodeCallback: (response) => {
        message = response.message;
        approvals.push(approveOnPage(served, response.userCode.toLowerCase(), 'alice@contoso.dev'));
      },
    });
    const page = (await approvals[0]) as { status: number; body: Buffer };
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('Signed in as <strong>Alice Requester</strong>');

    expect(message).toMatch(
      new RegExp(`^To sign in, use a web browser to open the page ${served.browserOrigin}/devicelogin and enter the code [A-Z]{8} to authenticate\\.$`),
    );
    const alice = served.tenant.users().find((u) => u.upn === 'alice@contoso.dev');
    expect(result?.account?.username).toBe('alice@contoso.dev');
    expect(result?.account?.homeAccountId).toBe(`${alice?.oid}.${served.tenant.tenantId}`);
    expect(result?.account?.tenantId).toBe(served.tenant.tenantId);
    expect(decodeJwt(result?.accessToken ?? '').aud).toBe(served.tenant.api.clientId);

    const account = result?.account;
    if (!account) throw new Error('no account');
    const refreshed = await pca.acquireTokenSilent({ account, scopes: [served.tenant.api.scope], forceRefresh: true });
    expect(refreshed.accessToken).not.toBe(result?.accessToken);
    expect(decodeJwt(refreshed.accessToken).oid).toBe(alice?.oid);
    expect(refreshed.account?.homeAccountId).toBe(account.homeAccountId);
  });

  it('stops polling with expired_token when the code expires before anyone approves it', async () => {
    const pca = new PublicClientApplication(msalConfig(served.tenant.cliClientId));
    const attempt = pca.acquireTokenByDeviceCode({
      scopes: [served.tenant.api.scope],
      deviceCodeCallback: () => {
        served.clock.now += 901_000;
      },
    });
    // MSAL reports any polling error other than authorization_pending as post_request_failed.
    await expect(attempt).rejects.toMatchObject({ errorCode: 'post_request_failed', errorMessage: 'expired_token' });
  });

  it('refuses an unknown client id with unauthorized_client', async () => {
    const pca = new PublicClientApplication(msalConfig('11111111-2222-3333-4444-555555555555'));
    const codes: Array<string | undefined> = [];
    const attempt = pca.acquireTokenByDeviceCode({
      scopes: [served.tenant.api.scope],
      deviceCodeCallback: (response) => {
        codes.push(response.userCode);
      },
    });
    // MSAL does not check the /devicecode answer: it calls back with no code, then its first poll
    // fails with the same Entra error.
    await expect(attempt).rejects.toMatchObject({ errorCode: 'post_request_failed', errorMessage: 'unauthorized_client' });
    expect(codes).toEqual([undefined]);
  });
});

describe('client credentials with MSAL', () => {
  it('gives the Graph app a v1 Graph token with its application permissions', async () => {
    const cca = new ConfidentialClientApplication(msalConfig(served.tenant.graphApp.clientId, { clientSecret: served.tenant.graphApp.clientSecret }));
    const result = await cca.acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
    const claims = decodeJwt(result?.accessToken ?? '');
    expect(claims).toMatchObject({
      aud: 'https://graph.microsoft.com',
      iss: `https://sts.windows.net/${served.tenant.tenantId}/`,
      appid: served.tenant.graphApp.clientId,
      idtyp: 'app',
      ver: '1.0',
      tid: served.tenant.tenantId,
    });
    expect(claims.roles).toEqual(expect.arrayContaining(['GroupMember.Read.All', 'User.Read.All']));
  });

  it('gives the automation app a v2 API token with the Access.Automation role', async () => {
    const cca = new ConfidentialClientApplication(msalConfig(served.tenant.automationApp.clientId, { clientSecret: served.tenant.automationApp.clientSecret }));
    const result = await cca.acquireTokenByClientCredential({ scopes: [`${served.tenant.api.appIdUri}/.default`] });
    expect(decodeJwt(result?.accessToken ?? '')).toMatchObject({
      aud: served.tenant.api.clientId,
      iss: `https://login.microsoftonline.com/${served.tenant.tenantId}/v2.0`,
      azp: served.tenant.automationApp.clientId,
      roles: ['Access.Automation'],
      idtyp: 'app',
      ver: '2.0',
    });
  });

  it('refuses a wrong client secret with invalid_client', async () => {
    const cca = new ConfidentialClientApplication(msalConfig(served.tenant.graphApp.clientId, { clientSecret: 'not-the-secret' }));
    const attempt = cca.acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
    await expect(attempt).rejects.toMatchObject({ errorCode: 'invalid_client', errorMessage: expect.stringContaining('AADSTS7000215') });
  });
});
