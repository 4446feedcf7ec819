// What a real tenant's Graph does that a quiet one does not, shown by the dev tenant's Graph
// emulator on request (DevTenant.setGraphFaults) and met by the broker's GraphDirectory through
// the real @microsoft/microsoft-graph-client and MSAL: the advanced-query header on the OData cast,
// throttling with Retry-After within the retry budget, and limited-information group objects.

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { secretCredential } from '../../../shared/app-token.js';
import { graphAppClient } from '../../../broker/identity/graph-app-client.js';
import { GraphDirectory } from '../../../broker/identity/graph-directory.js';
import { AccessError } from '../../../shared/errors.js';
import type { GraphRetryOptions } from '../../../shared/graph-middleware.js';
import { serveDevTenant, type Served } from '../devtenant/harness.js';

let served: Served;
const oidOf = (upn: string): string => served.tenant.users().find((u) => u.upn === upn)?.oid as string;

/** The broker's Graph client for the dev tenant, with its waits recorded instead of slept. */
function graphClient(retry: GraphRetryOptions = {}): { client: ReturnType<typeof graphAppClient>; waits: number[] } {
  const waits: number[] = [];
  const { clientId, clientSecret } = served.tenant.graphApp;
  const client = graphAppClient(
    {
      clientId,
      credential: secretCredential(clientSecret),
      authority: served.tenant.authority,
      baseUrl: served.tenant.graphBaseUrl,
      customAuthority: true,
      retry: { sleep: async (ms) => void waits.push(ms), random: () => 0.5, ...retry },
    },
    served.transport,
  );
  return { client, waits };
}

async function failure(promise: Promise<unknown>): Promise<AccessError> {
  const error: unknown = await promise.then(
    () => new Error('expected a failure'),
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(AccessError);
  return error as AccessError;
}

beforeAll(async () => {
  served = await serveDevTenant();
});
afterEach(() => {
  served.tenant.setGraphFaults({ throttle: null, limitedGroups: false, requireConsistencyLevel: false });
});
afterAll(async () => {
  await served.close();
});

describe('the OData cast on transitiveMemberOf', () => {
  it('is sent with ConsistencyLevel: eventual and $count=true, so a Graph that insists answers', async () => {
    served.tenant.setGraphFaults({ requireConsistencyLevel: true });
    const groups = await new GraphDirectory(graphClient().client).memberGroups(oidOf('bob@contoso.dev'));
    expect(groups.map((g) => g.displayName).sort()).toEqual(['sg-dba', 'sg-eng']);
  });

  it('is refused by that Graph without the header (the emulator really checks)', async () => {
    served.tenant.setGraphFaults({ requireConsistencyLevel: true });
    const call = graphClient()
      .client.api(`/users/${oidOf('bob@contoso.dev')}/transitiveMemberOf/microsoft.graph.group`)
      .get();
    await expect(call).rejects.toMatchObject({ statusCode: 400, code: 'Request_UnsupportedQuery' });
  });
});

describe('throttling (429 with Retry-After)', () => {
  it('is waited out within the retry budget, with jitter on top of Retry-After, and the read succeeds', async () => {
    served.tenant.setGraphFaults({ throttle: { calls: 2, retryAfterSec: 3 } });
    const { client, waits } = graphClient({ retryBudgetMs: 10_000 });
    const groups = await new GraphDirectory(client).memberGroups(oidOf('alice@contoso.dev'));
    expect(groups.map((g) => g.displayName)).toEqual(['sg-eng']);
    expect(waits).toEqual([3300, 3300]);
  });

  it('fails closed at once with directory_unavailable when Retry-After is beyond the budget', async () => {
    served.tenant.setGraphFaults({ throttle: { calls: 1, retryAfterSec: 30 } });
    const { client, waits } = graphClient({ retryBudgetMs: 10_000 });
    const error = await failure(new GraphDirectory(client).memberGroups(oidOf('alice@contoso.dev')));
    expect(error.code).toBe('directory_unavailable');
    expect(error.message).toContain('HTTP 429, Retry-After 30 s');
    expect(error.message).toContain('graphRetryBudget');
    expect(waits).toEqual([]);
  });

  it('fails closed once the waits so far and the next would overrun the budget', async () => {
    served.tenant.setGraphFaults({ throttle: { calls: 3, retryAfterSec: 4 } });
    const { client, waits } = graphClient({ retryBudgetMs: 10_000, random: () => 0 });
    expect((await failure(new GraphDirectory(client).memberGroups(oidOf('alice@contoso.dev')))).code).toBe('directory_unavailable');
    expect(waits).toEqual([4000, 4000]);
  });
});

describe('limited-information groups (an app granted only User.Read.All)', () => {
  it('are reported once as a warning naming the permission when policy matches by id, and read as ids', async () => {
    served.tenant.setGraphFaults({ limitedGroups: true });
    const warnings: string[] = [];
    const directory = new GraphDirectory(graphClient().client, { warn: (message) => warnings.push(message) });
    const groups = await directory.memberGroups(oidOf('alice@contoso.dev'));
    await directory.memberGroups(oidOf('bob@contoso.dev'));
    expect(groups).toHaveLength(1);
    expect(groups[0]?.displayName).toBe(groups[0]?.id);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain('without a displayName');
    expect(warnings[0]).toContain('GroupMember.Read.All');
  });

  it('are an error, not an empty match, when the policy names groups by display name', async () => {
    served.tenant.setGraphFaults({ limitedGroups: true });
    const directory = new GraphDirectory(graphClient().client, { groupNamesMatter: true });
    const error = await failure(directory.memberGroups(oidOf('alice@contoso.dev')));
    expect(error.code).toBe('directory_unavailable');
    expect(error.message).toContain('limited information');
    expect(error.message).toContain('membership cannot be decided');
  });
});
