// The Graph emulator's membership writes, through the real Graph client with a token from real
// MSAL client credentials: the directory admin app adds and removes a user's direct membership;
// an app without GroupMember.ReadWrite.All is refused as Graph refuses it.

import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GraphError, type Client } from '@microsoft/microsoft-graph-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DevTenant } from '../../../broker/devtenant/dev-tenant.js';
import { DEV_DIRECTORY } from '../../../broker/devtenant/seed.js';
import { STATE_FILE_NAME } from '../../../broker/devtenant/state.js';
import { tempDir } from '../../helpers/processes.js';
import { preGeneratedSigningKey } from '../../helpers/signing-keys.js';
import { graphClientFor, serveDevTenant, type Served } from './harness.js';

let served: Served;

function clientFor(app: { clientId: string; clientSecret: string }): Client {
  return graphClientFor(served, app);
}

async function idOf(client: Client, kind: 'users' | 'groups', name: string): Promise<string> {
  if (kind === 'users') return ((await client.api(`/users/${name}`).get()) as { id: string }).id;
  const found = (await client.api('/groups').filter(`displayName eq '${name}'`).get()) as { value: Array<{ id: string }> };
  return found.value[0]?.id as string;
}

async function groupsOf(client: Client, upn: string): Promise<string[]> {
  const page = (await client.api(`/users/${upn}/transitiveMemberOf`).top(999).get()) as { value: Array<{ displayName: string }> };
  return page.value.map((g) => g.displayName);
}

async function graphFailure(call: Promise<unknown>): Promise<GraphError> {
  try {
    await call;
  } catch (error) {
    if (error instanceof GraphError) return error;
    throw error;
  }
  throw new Error('the Graph call succeeded');
}

beforeEach(async () => {
  served = await serveDevTenant();
});
afterEach(async () => {
  await served.close();
});

describe('Graph emulator: membership writes', () => {
  it('adds a user to a group and removes them again with the directory admin app', async () => {
    const admin = clientFor(served.tenant.directoryAdminApp);
    const alice = await idOf(admin, 'users', 'alice@contoso.dev');
    const dba = await idOf(admin, 'groups', 'sg-dba');
    expect(await groupsOf(admin, 'alice@contoso.dev')).not.toContain('sg-dba');

    await admin.api(`/groups/${dba}/members/$ref`).post({ '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${alice}` });
    expect(await groupsOf(admin, 'alice@contoso.dev')).toContain('sg-dba');

    await admin.api(`/groups/${dba}/members/${alice}/$ref`).delete();
    expect(await groupsOf(admin, 'alice@contoso.dev')).not.toContain('sg-dba');
  });

  it("takes a user out of the group that gives them access, as the broker's own reader then sees", async () => {
    const admin = clientFor(served.tenant.directoryAdminApp);
    const reader = clientFor(served.tenant.graphApp);
    const alice = await idOf(admin, 'users', 'alice@contoso.dev');
    const eng = await idOf(admin, 'groups', 'sg-eng');
    await admin.api(`/groups/${eng}/members/${alice}/$ref`).delete();
    const answer = (await reader.api(`/users/${alice}/checkMemberGroups`).post({ groupIds: [eng] })) as { value: string[] };
    expect(answer.value).toEqual([]);
  });

  it('refuses an app without GroupMember.ReadWrite.All with 403 Authorization_RequestDenied', async () => {
    const reader = clientFor(served.tenant.graphApp);
    const alice = await idOf(reader, 'users', 'alice@contoso.dev');
    const dba = await idOf(reader, 'groups', 'sg-dba');
    const refused = await graphFailure(
      reader.api(`/groups/${dba}/members/$ref`).post({ '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${alice}` }),
    );
    expect(refused).toMatchObject({ statusCode: 403, code: 'Authorization_RequestDenied' });
    expect(refused.message).toContain('GroupMember.ReadWrite.All');
    expect(await groupsOf(reader, 'alice@contoso.dev')).not.toContain('sg-dba');
  });

  it('answers adding an existing member 400, removing a non-member 404, and an unknown group 404', async () => {
    const admin = clientFor(served.tenant.directoryAdminApp);
    const alice = await idOf(admin, 'users', 'alice@contoso.dev');
    const eng = await idOf(admin, 'groups', 'sg-eng');
    const dba = await idOf(admin, 'groups', 'sg-dba');
    const reference = { '@odata.id': `https://graph.microsoft.com/v1.0/directoryObjects/${alice}` };
    expect(await graphFailure(admin.api(`/groups/${eng}/members/$ref`).post(reference))).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('already exist'),
    });
    expect(await graphFailure(admin.api(`/groups/${dba}/members/${alice}/$ref`).delete())).toMatchObject({ statusCode: 404 });
    const nowhere = '00000000-0000-4000-8000-000000000000';
    expect(await graphFailure(admin.api(`/groups/${nowhere}/members/$ref`).post(reference))).toMatchObject({ statusCode: 404 });
    expect(await graphFailure(admin.api(`/groups/${eng}/members/$ref`).post({ '@odata.id': 'alice' }))).toMatchObject({
      statusCode: 400,
      message: expect.stringContaining('@odata.id'),
    });
  });
});

describe('the directory admin app in the tenant state', () => {
  let dir: string;

  beforeEach(async () => {
    dir = await tempDir('dev-tenant-admin');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const open = (dataDir: string) =>
    DevTenant.open({
      publicOrigin: 'https://127.0.0.1:1',
      browserOrigin: 'http://127.0.0.1:1',
      directory: DEV_DIRECTORY,
      dataDir,
      newSigningKey: preGeneratedSigningKey,
    });

  it('is written to dev-tenant.json, where a test reads its client id and secret, and kept across restarts', async () => {
    const tenant = await open(dir);
    const state = JSON.parse(await readFile(path.join(dir, STATE_FILE_NAME), 'utf8')) as {
      apps: { directoryAdmin: { clientId: string; clientSecret: string } };
    };
    expect(state.apps.directoryAdmin).toMatchObject(tenant.directoryAdminApp);
    expect((await open(dir)).directoryAdminApp).toEqual(tenant.directoryAdminApp);
  });

  it('is added to a state file written before it existed, keeping everything else', async () => {
    const tenant = await open(dir);
    const file = path.join(dir, STATE_FILE_NAME);
    const state = JSON.parse(await readFile(file, 'utf8')) as { apps: Record<string, unknown> };
    delete state.apps['directoryAdmin'];
    await writeFile(file, JSON.stringify(state));
    const reopened = await open(dir);
    expect(reopened.tenantId).toBe(tenant.tenantId);
    expect(reopened.graphApp).toEqual(tenant.graphApp);
    expect(reopened.directoryAdminApp.clientSecret).toEqual(expect.any(String));
    const saved = JSON.parse(await readFile(file, 'utf8')) as { apps: { directoryAdmin: { clientId: string } } };
    expect(saved.apps.directoryAdmin.clientId).toBe(reopened.directoryAdminApp.clientId);
  });
});
