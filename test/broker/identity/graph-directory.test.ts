// Group membership through the real @microsoft/microsoft-graph-client and MSAL client
// credentials, against the embedded dev tenant's Graph emulator.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GraphDirectory } from '../../../broker/identity/graph-directory.js';
import { buildIdentity } from '../../../broker/identity/build-identity.js';
import { secretCredential } from '../../../shared/app-token.js';
import { graphAppClient } from '../../../broker/identity/graph-app-client.js';
import { HttpTransport, type HttpRequest, type HttpResponse } from '../../../shared/http-transport.js';
import { serveDevTenant, type Served } from '../devtenant/harness.js';

/** The real transport, counting the Graph membership pages it fetches. */
class CountingTransport extends HttpTransport {
  memberPages = 0;
  override request(url: string | URL, init?: HttpRequest): Promise<HttpResponse> {
    if (String(url).includes('/transitiveMemberOf')) this.memberPages++;
    return super.request(url, init);
  }
}

let served: Served;
let transport: CountingTransport;
const oidOf = (upn: string): string => served.tenant.users().find((u) => u.upn === upn)?.oid as string;

function graphDirectory(pageSize: number): GraphDirectory {
  const { clientId, clientSecret } = served.tenant.graphApp;
  const app = {
    clientId,
    credential: secretCredential(clientSecret),
    authority: served.tenant.authority,
    baseUrl: served.tenant.graphBaseUrl,
    customAuthority: true,
  };
  return new GraphDirectory(graphAppClient(app, transport), { pageSize });
}

beforeAll(async () => {
  served = await serveDevTenant();
  transport = new CountingTransport({ plaintextOrigins: [served.publicOrigin] });
});

afterAll(async () => {
  await served.close();
});

describe('GraphDirectory', () => {
  it('follows every page of transitiveMemberOf', async () => {
    const before = transport.memberPages;
    const groups = await graphDirectory(50).memberGroups(oidOf('grace@contoso.dev'));
    expect(groups.length).toBe(252); // sg-oncall, sg-eng (through nesting) and team-001..team-250
    expect(transport.memberPages - before).toBe(6);
    expect(groups.map((g) => g.displayName)).toEqual(expect.arrayContaining(['sg-eng', 'sg-oncall', 'team-250']));
  });

  it('reads nested groups transitively', async () => {
    const groups = await graphDirectory(999).memberGroups(oidOf('bob@contoso.dev'));
    expect(groups.map((g) => g.displayName).sort()).toEqual(['sg-dba', 'sg-eng']);
  });

  it('answers no groups for a user the directory does not know', async () => {
    expect(await graphDirectory(999).memberGroups('00000000-0000-0000-0000-000000000000')).toEqual([]);
  });

  it('fails closed with directory_unavailable (503) when Graph is down', async () => {
    served.tenant.setGraphAvailable(false);
    try {
      await expect(graphDirectory(999).memberGroups(oidOf('alice@contoso.dev'))).rejects.toMatchObject({
        code: 'directory_unavailable',
        status: 503,
      });
    } finally {
      served.tenant.setGraphAvailable(true);
    }
  });
});

describe('the broker identity edge (buildIdentity)', () => {
  function identity(clock: { now: number }) {
    return buildIdentity(
      {
        tenantId: served.tenant.tenantId,
        authority: served.tenant.authority,
        cliClientId: served.tenant.cliClientId,
        cliScope: served.tenant.api.scope,
        audiences: [served.tenant.api.clientId],
        requiredScope: 'user_impersonation',
        requiredAppRole: 'Access.Automation',
        automationClientIds: [served.tenant.automationApp.clientId],
        cloud: served.tenant.cloud,
        jwksUri: served.tenant.jwksUri,
        graph: {
          clientId: served.tenant.graphApp.clientId,
          credential: secretCredential(served.tenant.graphApp.clientSecret),
          baseUrl: served.tenant.graphBaseUrl,
        },
        devTenantOrigin: served.publicOrigin,
      },
      { transport, groupCacheSeconds: 60, now: () => clock.now },
    );
  }

  it('sees a removal from a group once the cache entry expires, not before', async () => {
    const clock = { now: 1_000_000 };
    const { directory } = identity(clock);
    const alice = oidOf('alice@contoso.dev');
    expect((await directory.memberGroups(alice)).map((g) => g.displayName)).toEqual(['sg-eng']);
    served.tenant.setGroupMembership('alice@contoso.dev', 'sg-eng', false);
    try {
      expect((await directory.memberGroups(alice)).map((g) => g.displayName)).toEqual(['sg-eng']);
      clock.now += 60_000;
      expect(await directory.memberGroups(alice)).toEqual([]);
    } finally {
      served.tenant.setGroupMembership('alice@contoso.dev', 'sg-eng', true);
    }
  });

  it('serves a fresh cache entry during a Graph outage but fails closed once it is stale', async () => {
    const clock = { now: 2_000_000 };
    const { directory } = identity(clock);
    const bob = oidOf('bob@contoso.dev');
    await directory.memberGroups(bob);
    served.tenant.setGraphAvailable(false);
    try {
      expect((await directory.memberGroups(bob)).length).toBe(2);
      clock.now += 61_000;
      await expect(directory.memberGroups(bob)).rejects.toMatchObject({ code: 'directory_unavailable' });
    } finally {
      served.tenant.setGraphAvailable(true);
    }
  });
});
