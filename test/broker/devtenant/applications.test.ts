// The dev tenant's app registrations through its Graph emulator, as an admin (or doctor) reads and
// changes them, and what the token endpoint makes of the changes.

import type { Client } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { graphClientFor, json, serveDevTenant, startDeviceCode, type Served } from './harness.js';

let served: Served;
let admin: Client;
let reader: Client;

beforeAll(async () => {
  served = await serveDevTenant();
  admin = graphClientFor(served, served.tenant.directoryAdminApp);
  reader = graphClientFor(served, served.tenant.graphApp);
});

afterAll(async () => {
  await served.close();
});

const graphError = (promise: Promise<unknown>): Promise<{ statusCode: number; code: string; message: string }> =>
  promise.then(
    () => {
      throw new Error('expected Graph to refuse');
    },
    (error: { statusCode: number; code: string; message: string }) => error,
  );

describe('dev tenant /applications', () => {
  it('finds the API app by appId and by App ID URI, with its scope, app role and token version', async () => {
    const byAppId = (await reader.api('/applications').filter(`appId eq '${served.tenant.api.clientId}'`).get()) as { value: Array<Record<string, unknown>> };
    const byUri = (await reader.api('/applications').filter(`identifierUris/any(x:x eq '${served.tenant.api.appIdUri}')`).get()) as {
      value: Array<Record<string, unknown>>;
    };
    expect(byUri.value).toEqual(byAppId.value);
    expect(byAppId.value[0]).toMatchObject({
      appId: served.tenant.api.clientId,
      identifierUris: [served.tenant.api.appIdUri],
      api: { requestedAccessTokenVersion: 2, oauth2PermissionScopes: [expect.objectContaining({ value: 'user_impersonation' })] },
      appRoles: [expect.objectContaining({ value: 'Access.Automation', allowedMemberTypes: ['Application'] })],
    });
  });

  it('answers 403 to an app without Application.Read.All', async () => {
    served.tenant.setGraphPermission(served.tenant.graphApp.clientId, 'Application.Read.All', false);
    try {
      // A fresh client: the permission is in the token, as in Entra (a cached token keeps its roles).
      const error = await graphError(graphClientFor(served, served.tenant.graphApp).api('/applications').get());
      expect(error).toMatchObject({ statusCode: 403, code: 'Authorization_RequestDenied' });
    } finally {
      served.tenant.setGraphPermission(served.tenant.graphApp.clientId, 'Application.Read.All', true);
    }
  });

  it('refuses a change from an app without Application.ReadWrite.All, and a property it does not know', async () => {
    const app = `/applications(appId='${served.tenant.cliClientId}')`;
    expect(await graphError(reader.api(app).patch({ isFallbackPublicClient: false }))).toMatchObject({ statusCode: 403 });
    expect(await graphError(admin.api(app).patch({ signInAudienceX: 'x' }))).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining("Property 'signInAudienceX' does not exist"),
    });
  });

  it('refuses device code sign-in once public client flows are turned off (AADSTS7000218), and allows it again', async () => {
    const app = `/applications(appId='${served.tenant.cliClientId}')`;
    await admin.api(app).patch({ isFallbackPublicClient: false });
    try {
      await expect(startDeviceCode(served)).rejects.toThrow(/devicecode answered 400: .*AADSTS7000218/);
    } finally {
      await admin.api(app).patch({ isFallbackPublicClient: true });
    }
    expect(await startDeviceCode(served)).toHaveProperty('user_code');
  });

  it('takes a federated credential only for the audience api://AzureADTokenExchange', async () => {
    const fics = `/applications(appId='${served.tenant.graphApp.clientId}')/federatedIdentityCredentials`;
    const refused = await graphError(admin.api(fics).post({ name: 'x', issuer: served.tenant.federationIssuer, subject: 's', audiences: ['api://other'] }));
    expect(refused).toMatchObject({ statusCode: 400, message: expect.stringContaining('api://AzureADTokenExchange') });
    const created = (await admin
      .api(fics)
      .post({ name: 'ok', issuer: served.tenant.federationIssuer, subject: 's', audiences: ['api://AzureADTokenExchange'] })) as Record<string, unknown>;
    expect(created).toMatchObject({ name: 'ok', subject: 's' });
    expect(((await reader.api(fics).get()) as { value: unknown[] }).value).toHaveLength(1);
  });
});

describe('dev tenant group member counts', () => {
  it('counts transitive members only with ConsistencyLevel: eventual, as Graph does', async () => {
    const groups = (await reader.api('/groups').filter("displayName eq 'sg-eng'").get()) as { value: Array<{ id: string }> };
    const id = groups.value[0]?.id as string;
    expect(await graphError(reader.api(`/groups/${id}/transitiveMembers/$count`).get())).toMatchObject({ statusCode: 400 });
    const count: unknown = await reader.api(`/groups/${id}/transitiveMembers/$count`).header('ConsistencyLevel', 'eventual').get();
    // sg-eng: alice directly; bob and carol through sg-dba, grace through sg-oncall; and those two groups.
    expect(Number(count)).toBe(6);
  });

  it('answers a managed identity token request without api-version as App Service does (400)', async () => {
    const url = new URL(served.tenant.managedIdentity.endpoint);
    url.searchParams.set('resource', 'https://graph.microsoft.com');
    const res = await served.transport.request(url, { headers: { 'x-identity-header': served.tenant.managedIdentity.header } });
    expect(res.status).toBe(400);
    expect(json(res).message).toContain('api-version');
  });
});
