// The real @microsoft/microsoft-graph-client, over our transport with a token from the real MSAL
// ConfidentialClientApplication, reads the dev tenant's Graph emulator.

import { GraphError, PageIterator, type Client, type PageCollection } from '@microsoft/microsoft-graph-client';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientCredentials, json, graphClientFor, serveDevTenant, type Served } from './harness.js';

let served: Served;
let client: Client;

interface GroupItem {
  '@odata.type'?: string;
  id: string;
  displayName: string;
}

function clientFor(clientId: string, clientSecret: string): Client {
  return graphClientFor(served, { clientId, clientSecret });
}

async function groupIds(...names: string[]): Promise<string[]> {
  const ids: string[] = [];
  for (const name of names) {
    const res = (await client.api('/groups').filter(`displayName eq '${name}'`).get()) as { value: GroupItem[] };
    ids.push(res.value[0]?.id as string);
  }
  return ids;
}

beforeEach(async () => {
  served = await serveDevTenant();
  client = clientFor(served.tenant.graphApp.clientId, served.tenant.graphApp.clientSecret);
});
afterEach(async () => {
  await served.close();
});

describe('Graph emulator through the Graph client', () => {
  it("reads grace's 252 transitive groups across three pages by following nextLink", async () => {
    const pages: PageCollection[] = [];
    let response = (await client.api('/users/grace@contoso.dev/transitiveMemberOf/microsoft.graph.group').get()) as PageCollection;
    pages.push(response);
    while (response['@odata.nextLink']) {
      expect(response['@odata.nextLink']).toMatch(new RegExp(`^${served.publicOrigin}/graph/v1\\.0/users/.*\\$skiptoken=`));
      response = (await client.api(response['@odata.nextLink']).get()) as PageCollection;
      pages.push(response);
    }
    expect(pages.map((p) => p.value.length)).toEqual([100, 100, 52]);
    const items = pages.flatMap((p) => p.value as GroupItem[]);
    const names = items.map((g) => g.displayName);
    expect(new Set(names).size).toBe(252);
    expect(names).toEqual(expect.arrayContaining(['sg-oncall', 'sg-eng', 'team-001', 'team-250']));
    expect(items[0]).toMatchObject({ '@odata.type': '#microsoft.graph.group', id: expect.any(String), displayName: expect.any(String) });
  });

  it('pages with $top and $select through PageIterator', async () => {
    const first = (await client.api('/users/grace@contoso.dev/transitiveMemberOf').top(999).select('id,displayName').get()) as PageCollection;
    expect(first['@odata.nextLink']).toBeUndefined();
    const seen: GroupItem[] = [];
    const small = (await client.api('/users/grace@contoso.dev/transitiveMemberOf').top(50).select('displayName').get()) as PageCollection;
    await new PageIterator(client, small, (item: GroupItem) => {
      seen.push(item);
      return true;
    }).iterate();
    expect(seen).toHaveLength(252);
    expect(Object.keys(seen[0] as object).sort()).toEqual(['@odata.type', 'displayName']);
  });

  it('refuses $top above 999 with 400 Request_BadRequest', async () => {
    const attempt = client.api('/users/grace@contoso.dev/transitiveMemberOf').top(1000).get();
    await expect(attempt).rejects.toMatchObject({ statusCode: 400, code: 'Request_BadRequest' });
  });

  it('answers checkMemberGroups transitively', async () => {
    const [eng, dba, audit] = await groupIds('sg-eng', 'sg-dba', 'sg-audit');
    const bob = (await client.api('/users/bob@contoso.dev/checkMemberGroups').post({ groupIds: [eng, dba, audit] })) as { value: string[] };
    expect(bob.value.sort()).toEqual([eng, dba].sort());
  });

  it('refuses checkMemberGroups with more than 20 ids', async () => {
    const ids = Array.from({ length: 21 }, (_, i) => `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`);
    const attempt = client.api('/users/bob@contoso.dev/checkMemberGroups').post({ groupIds: ids });
    await expect(attempt).rejects.toMatchObject({ statusCode: 400, code: 'Request_BadRequest' });
  });

  it('sees a membership change made live', async () => {
    const [audit] = await groupIds('sg-audit');
    const check = async (): Promise<string[]> =>
      ((await client.api('/users/frank@contoso.dev/checkMemberGroups').post({ groupIds: [audit] })) as { value: string[] }).value;
    expect(await check()).toEqual([]);
    served.tenant.setGroupMembership('frank@contoso.dev', 'sg-audit', true);
    expect(await check()).toEqual([audit]);
    served.tenant.setGroupMembership('frank@contoso.dev', 'sg-audit', false);
    expect(await check()).toEqual([]);
  });

  it('reads a user by UPN and by id, and the users and groups collections', async () => {
    const byUpn = (await client.api('/users/alice@contoso.dev').get()) as Record<string, string>;
    expect(byUpn).toMatchObject({ displayName: 'Alice Requester', userPrincipalName: 'alice@contoso.dev', mail: 'alice@contoso.dev' });
    const byId = (await client.api(`/users/${byUpn.id}`).get()) as Record<string, string>;
    expect(byId.userPrincipalName).toBe('alice@contoso.dev');
    const users = (await client.api('/users').get()) as { value: unknown[] };
    expect(users.value).toHaveLength(7);
    const groups = (await client.api('/groups').get()) as PageCollection;
    expect(groups.value).toHaveLength(100);
    expect(groups['@odata.nextLink']).toBeDefined();
    const [eng] = await groupIds('sg-eng');
    expect(await client.api(`/groups/${eng}`).get()).toMatchObject({ id: eng, displayName: 'sg-eng', securityEnabled: true });
  });

  it('answers 404 Request_ResourceNotFound for an unknown user', async () => {
    const attempt = client.api('/users/nobody@contoso.dev/transitiveMemberOf').get();
    await expect(attempt).rejects.toMatchObject({ statusCode: 404, code: 'Request_ResourceNotFound' });
  });

  it('answers 503 serviceNotAvailable to every call during a simulated outage', async () => {
    served.tenant.setGraphAvailable(false);
    const attempt = client.api('/users/alice@contoso.dev').get();
    await expect(attempt).rejects.toBeInstanceOf(GraphError);
    await expect(attempt).rejects.toMatchObject({ statusCode: 503, code: 'serviceNotAvailable' });
    served.tenant.setGraphAvailable(true);
    await expect(client.api('/users/alice@contoso.dev').get()).resolves.toMatchObject({ displayName: 'Alice Requester' });
  });

  it('refuses an app without GroupMember.Read.All with 403 Authorization_RequestDenied', async () => {
    const automation = clientFor(served.tenant.automationApp.clientId, served.tenant.automationApp.clientSecret);
    const attempt = automation.api('/users/alice@contoso.dev/transitiveMemberOf').get();
    await expect(attempt).rejects.toMatchObject({ statusCode: 403, code: 'Authorization_RequestDenied' });
  });
});

describe('Graph emulator token checks', () => {
  const url = (): string => `${served.tenant.graphBaseUrl}/v1.0/users/alice@contoso.dev/transitiveMemberOf`;

  it("refuses a call without a token with 401 InvalidAuthenticationToken in Graph's error shape", async () => {
    const res = await served.transport.request(url());
    expect(res.status).toBe(401);
    expect(json(res)).toEqual({
      error: {
        code: 'InvalidAuthenticationToken',
        message: expect.any(String),
        innerError: { date: expect.any(String), 'request-id': expect.any(String), 'client-request-id': expect.any(String) },
      },
    });
  });

  it('refuses a token for the API instead of Graph', async () => {
    const res = await clientCredentials(
      served,
      served.tenant.automationApp.clientId,
      served.tenant.automationApp.clientSecret,
      `${served.tenant.api.appIdUri}/.default`,
    );
    const call = await served.transport.request(url(), { headers: { authorization: `Bearer ${json(res).access_token as string}` } });
    expect(call.status).toBe(401);
    // An API token has the v2 issuer and the API audience; either check refuses it.
    expect(json(call)).toMatchObject({ error: { code: 'InvalidAuthenticationToken', message: expect.stringMatching(/issuer|audience/) } });
  });

  it('refuses an expired Graph token', async () => {
    const res = await clientCredentials(served, served.tenant.graphApp.clientId, served.tenant.graphApp.clientSecret, 'https://graph.microsoft.com/.default');
    served.clock.now += 2 * 3600_000;
    const call = await served.transport.request(url(), { headers: { authorization: `Bearer ${json(res).access_token as string}` } });
    expect(call.status).toBe(401);
    expect(json(call)).toMatchObject({ error: { code: 'InvalidAuthenticationToken', message: expect.stringContaining('expired') } });
  });

  it('refuses a Graph token it accepted before once it has expired', async () => {
    const res = await clientCredentials(served, served.tenant.graphApp.clientId, served.tenant.graphApp.clientSecret, 'https://graph.microsoft.com/.default');
    const headers = { authorization: `Bearer ${json(res).access_token as string}` };
    expect((await served.transport.request(url(), { headers })).status).toBe(200);
    expect((await served.transport.request(url(), { headers })).status).toBe(200);
    served.clock.now += 2 * 3600_000;
    const call = await served.transport.request(url(), { headers });
    expect(call.status).toBe(401);
    expect(json(call)).toMatchObject({ error: { code: 'InvalidAuthenticationToken', message: expect.stringContaining('expired') } });
  });

  it('refuses a token signed by another dev tenant', async () => {
    const other = await serveDevTenant();
    try {
      const res = await clientCredentials(other, other.tenant.graphApp.clientId, other.tenant.graphApp.clientSecret, 'https://graph.microsoft.com/.default');
      const call = await served.transport.request(url(), { headers: { authorization: `Bearer ${json(res).access_token as string}` } });
      expect(call.status).toBe(401);
    } finally {
      await other.close();
    }
  });
});
