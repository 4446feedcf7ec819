// The broker's Graph app proves itself with each credential kind, through the real MSAL and the
// real Graph client against the dev tenant: a certificate (client assertion signed with its key),
// a federated token file (workload identity federation, the dev tenant acting as the external
// issuer) and an App Service-style managed identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readCertificateCredential } from '../../../shared/certificate-credential.js';
import type { GraphCredential } from '../../../broker/config/types.js';
import { graphAppClient } from '../../../broker/identity/graph-app-client.js';
import { addFederatedCredential, createAppCertificate, registerAppCertificate } from '../../helpers/app-credentials.js';
import { graphClientFor, postForm, serveDevTenant, type Served } from '../devtenant/harness.js';

let served: Served;
let dir: string;
let admin: Client;

beforeAll(async () => {
  served = await serveDevTenant();
  dir = await mkdtemp(path.join(os.tmpdir(), 'access-app-credentials-'));
  admin = graphClientFor(served, served.tenant.directoryAdminApp);
});

afterAll(async () => {
  await served.close();
  await rm(dir, { recursive: true, force: true });
});

function clientWith(credential: GraphCredential, clientId: string | null = served.tenant.graphApp.clientId): Client {
  return graphAppClient(
    { clientId, credential, authority: served.tenant.authority, baseUrl: served.tenant.graphBaseUrl, customAuthority: true },
    served.transport,
  );
}

/** Reads one group by name, the way a configured group is read. */
async function readGroup(client: Client, name: string): Promise<{ id: string; displayName: string }> {
  const found = (await client.api('/groups').filter(`displayName eq '${name}'`).get()) as { value: Array<{ id: string }> };
  const id = found.value[0]?.id as string;
  return (await client.api(`/groups/${id}`).select('id,displayName').get()) as { id: string; displayName: string };
}

async function certificateCredential(name: string): Promise<{ credential: GraphCredential; derBase64: string }> {
  const certificate = await createAppCertificate(dir, name);
  const read = readCertificateCredential(certificate.file, Date.now());
  if ('problem' in read) throw new Error(read.problem);
  return { credential: { kind: 'certificate', file: certificate.file, ...read }, derBase64: certificate.derBase64 };
}

describe('certificate credential', () => {
  it('gets a Graph token with a certificate registered on the app and reads a group', async () => {
    const { credential, derBase64 } = await certificateCredential('graph-app');
    await registerAppCertificate(admin, served.tenant.graphApp.clientId, { file: '', derBase64 });
    expect((await readGroup(clientWith(credential), 'sg-eng')).displayName).toBe('sg-eng');
  });

  it('is refused (AADSTS700027) with a certificate the app does not have', async () => {
    const { credential } = await certificateCredential('unregistered');
    await expect(readGroup(clientWith(credential), 'sg-eng')).rejects.toMatchObject({
      message: expect.stringMatching(/AADSTS700027.*The key was not found/),
    });
  });
});

describe('federated credential (workload identity federation)', () => {
  const subject = 'system:serviceaccount:access:broker';

  it('gets a Graph token with the token file of a registered issuer and subject, and reads a group', async () => {
    await addFederatedCredential(admin, served.tenant.graphApp.clientId, served.tenant.federationIssuer, subject);
    const tokenFile = path.join(dir, 'azure-identity-token');
    await writeFile(tokenFile, `${await served.tenant.federatedToken(subject)}\n`);
    expect((await readGroup(clientWith({ kind: 'federated', tokenFile }), 'sg-dba')).displayName).toBe('sg-dba');
  });

  it('is refused (AADSTS700213) when the token file names a subject no federated credential has', async () => {
    const tokenFile = path.join(dir, 'other-subject-token');
    await writeFile(tokenFile, await served.tenant.federatedToken('system:serviceaccount:other:app'));
    await expect(readGroup(clientWith({ kind: 'federated', tokenFile }), 'sg-dba')).rejects.toMatchObject({
      message: expect.stringContaining('AADSTS700213'),
    });
  });

  it('is refused when the token is for another audience than api://AzureADTokenExchange', async () => {
    const tokenFile = path.join(dir, 'wrong-audience-token');
    await writeFile(tokenFile, await served.tenant.federatedToken(subject, 'https://example.org'));
    await expect(readGroup(clientWith({ kind: 'federated', tokenFile }), 'sg-dba')).rejects.toMatchObject({
      message: expect.stringContaining('AADSTS700212'),
    });
  });
});

describe('managed identity (App Service source)', () => {
  it('refuses a caller without the X-IDENTITY-HEADER secret', async () => {
    const url = new URL(served.tenant.managedIdentity.endpoint);
    url.searchParams.set('api-version', '2019-08-01');
    url.searchParams.set('resource', 'https://graph.microsoft.com');
    const res = await served.transport.request(url, { headers: { 'x-identity-header': 'guess' } });
    expect(res.status).toBe(401);
  });

  it('gets a Graph token from IDENTITY_ENDPOINT with IDENTITY_HEADER and reads a group', async () => {
    // MSAL picks its managed identity source from these variables (App Service before IMDS).
    process.env.IDENTITY_ENDPOINT = served.tenant.managedIdentity.endpoint;
    process.env.IDENTITY_HEADER = served.tenant.managedIdentity.header;
    try {
      expect((await readGroup(clientWith({ kind: 'managedIdentity' }, null), 'sg-audit')).displayName).toBe('sg-audit');
    } finally {
      delete process.env.IDENTITY_ENDPOINT;
      delete process.env.IDENTITY_HEADER;
    }
  });
});

describe('client secret', () => {
  it('is still refused when wrong (AADSTS7000215)', async () => {
    const res = await postForm(served.transport, `${served.tenant.authority}/oauth2/v2.0/token`, {
      grant_type: 'client_credentials',
      client_id: served.tenant.graphApp.clientId,
      client_secret: 'wrong',
      scope: 'https://graph.microsoft.com/.default',
    });
    expect(res.body.toString()).toContain('AADSTS7000215');
  });
});
