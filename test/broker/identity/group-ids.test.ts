// Policy groups are matched by object id, never by display name: the same-name attack against the
// dev tenant's Graph emulator (the real Graph client and MSAL), and the start-up help for a config
// that names groups (the tenant's ids for a name, labels compared with the tenant's names).

import type { Client } from '@microsoft/microsoft-graph-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { groupNameReason } from '../../../broker/config/group-refs.js';
import { ConfigInvalidError } from '../../../broker/config/problems.js';
import type { BrokerConfig, DevDirectory, ResourcePolicy } from '../../../broker/config/types.js';
import { inAnyGroup } from '../../../broker/identity/directory.js';
import { GraphDirectory } from '../../../broker/identity/graph-directory.js';
import { checkPolicyGroups, graphGroupLookup, withGroupIdSuggestions, withGroupNames } from '../../../broker/identity/group-check.js';
import { openRequest } from '../../../broker/requests/policy.js';
import { applyEvent } from '../../../broker/requests/state-machine.js';
import { AccessError } from '../../../shared/errors.js';
import { graphClientFor, serveDevTenant, type Served } from '../devtenant/harness.js';

/**
 * The approvers' group sg-dba, and a group Mallory created herself and called "SG-DBA": Entra lets
 * any user create a Microsoft 365 group with any display name, and display names are not unique.
 */
const DIRECTORY: DevDirectory = {
  groups: [
    { name: 'sg-eng', memberOf: [] },
    { name: 'sg-dba', memberOf: [] },
    { name: 'mallorys-group', displayName: 'SG-DBA', securityEnabled: false, memberOf: [] },
  ],
  users: [
    { upn: 'alice@contoso.dev', name: 'Alice Requester', groups: ['sg-eng'] },
    { upn: 'bob@contoso.dev', name: 'Bob Approver', groups: ['sg-dba'] },
    { upn: 'mallory@contoso.dev', name: 'Mallory Impostor', groups: ['sg-eng', 'mallorys-group'] },
  ],
};

let served: Served;
let graph: Client;
let directory: GraphDirectory;
let ids: { eng: string; dba: string; impostor: string };
const oidOf = (upn: string): string => served.tenant.users().find((u) => u.upn === upn)?.oid as string;

/** A group's object id by its unique dev name (mailNickname in the emulator), read through Graph like any id. */
async function idOf(name: string): Promise<string> {
  const body = (await graph.api('/groups').filter(`mailNickname eq '${name}'`).select('id').get()) as { value: Array<{ id: string }> };
  return body.value[0]?.id as string;
}

function policy(approvers: string[]): ResourcePolicy {
  return {
    name: 'prod-db',
    kind: 'postgres',
    description: null,
    target: { host: '127.0.0.1', port: 5432 },
    requesters: [ids.eng],
    approvers,
    approvals: 1,
    maxDurationMs: 3_600_000,
    defaultDurationMs: 3_600_000,
    requestTtlMs: 3_600_000,
    reason: 'optional',
    ticketPattern: null,
    autoApprove: [],
    maxConnections: 20,
    idleTimeoutMs: 1_800_000,
    database: null,
    user: null,
    targetTls: 'disable',
    targetCa: null,
    credentials: [],
  };
}

/** Mallory tries to approve Alice's request with the membership Graph reports for her now. */
async function malloryApproves(p: ResourcePolicy): Promise<unknown> {
  const now = Date.now();
  const ctx = { policy: p, admins: [], now };
  const alice = { oid: oidOf('alice@contoso.dev'), upn: 'alice@contoso.dev' };
  const input = { resource: 'prod-db', duration: '1h', reason: null, ticket: null };
  const { request } = openRequest(input, alice, await directory.memberGroups(alice.oid), ctx, 'r1');
  const mallory = { oid: oidOf('mallory@contoso.dev'), upn: 'mallory@contoso.dev' };
  const reviewerGroups = await directory.memberGroups(mallory.oid);
  const outcome = applyEvent(request, { type: 'review', reviewer: mallory, reviewerGroups, decision: 'approve', comment: null }, ctx);
  return outcome.ok ? outcome.request.state : outcome.refusal;
}

beforeAll(async () => {
  served = await serveDevTenant({ directory: DIRECTORY });
  graph = graphClientFor(served, served.tenant.graphApp);
  directory = new GraphDirectory(graph);
  ids = { eng: await idOf('sg-eng'), dba: await idOf('sg-dba'), impostor: await idOf('mallorys-group') };
});
afterAll(async () => {
  await served.close();
});

describe("a group with the same display name as the approvers' group", () => {
  it('is what Graph reports for Mallory: a group displayed as "SG-DBA" with another id', async () => {
    const groups = await directory.memberGroups(oidOf('mallory@contoso.dev'));
    expect(groups).toContainEqual({ id: ids.impostor, displayName: 'SG-DBA' });
    expect(ids.impostor).not.toBe(ids.dba);
  });

  it('grants nothing when the policy names the approvers by object id: Mallory cannot approve', async () => {
    const refusal = await malloryApproves(policy([ids.dba]));
    expect(refusal).toBeInstanceOf(AccessError);
    expect((refusal as AccessError).code).toBe('not_an_approver');
    expect(inAnyGroup(await directory.memberGroups(oidOf('bob@contoso.dev')), [ids.dba])).toBe(true);
  });

  it("names the approvers' group in the refusal as people know it, with its id for the record", async () => {
    const written = { resources: [policy([ids.dba])], auditors: [], admins: [], groupLabels: {} } as unknown as BrokerConfig;
    const { names } = await checkPolicyGroups(written, graphGroupLookup(graph));
    const refusal = await malloryApproves(withGroupNames(written, names).resources[0] as ResourcePolicy);
    expect((refusal as AccessError).message).toContain(`only members of sg-dba (${ids.dba}) may`);
  });

  it('would make Mallory an approver if a policy named the group "sg-dba" — the reason serve refuses names', async () => {
    expect(await malloryApproves(policy(['sg-dba']))).toBe('approved');
  });

  it('is not matched by an object id written as its display name either', async () => {
    // Mallory names her group after sg-dba's object id; the id still matches only sg-dba.
    const groups = [{ id: ids.impostor, displayName: ids.dba }];
    expect(inAnyGroup(groups, [ids.dba])).toBe(false);
  });
});

describe('start-up help for a serve config that names groups', () => {
  function nameRefusal(name: string): ConfigInvalidError {
    return new ConfigInvalidError('access.yaml', [
      { source: 'access.yaml', line: 14, path: 'resources.prod-db.approvers[0]', reason: groupNameReason(name), got: name },
    ]);
  }

  it('lists every group the tenant has under a repeated name and chooses none', async () => {
    const error = (await withGroupIdSuggestions(nameRefusal('sg-dba'), graphGroupLookup(graph))) as ConfigInvalidError;
    expect(error).toBeInstanceOf(ConfigInvalidError);
    const line = error.message.split('\n')[1] as string;
    expect(line).toMatch(/^access\.yaml:14 resources\.prod-db\.approvers\[0\]: is a group display name/);
    expect(line).toContain('the tenant has 2 groups named "sg-dba"');
    expect(line).toContain(ids.dba);
    expect(line).toContain(ids.impostor);
    expect(line).toContain('the broker does not choose');
  });

  it('gives the one id to paste when the name is unique', async () => {
    const error = (await withGroupIdSuggestions(nameRefusal('sg-eng'), graphGroupLookup(graph))) as ConfigInvalidError;
    expect(error.message).toContain(`the tenant's group "sg-eng" is ${ids.eng}: write \`- { id: ${ids.eng}, name: sg-eng }\``);
  });

  it('says when the tenant has no group of that name', async () => {
    const error = (await withGroupIdSuggestions(nameRefusal('sg-nobody'), graphGroupLookup(graph))) as ConfigInvalidError;
    expect(error.message).toContain('the tenant has no group named "sg-nobody"');
  });

  it('still refuses, with the reason, when Graph cannot be asked', async () => {
    served.tenant.setGraphAvailable(false);
    try {
      const error = (await withGroupIdSuggestions(nameRefusal('sg-dba'), graphGroupLookup(graph))) as ConfigInvalidError;
      expect(error.code).toBe('config_invalid');
      expect(error.message).toContain('could not look "sg-dba" up in the tenant');
    } finally {
      served.tenant.setGraphAvailable(true);
    }
  });

  it("warns about a label that is not the tenant's name for the id, and about an id the tenant does not have", async () => {
    const missing = '00000000-1111-4222-8333-444444444444';
    const config = {
      resources: [{ ...policy([ids.dba, missing]) }],
      auditors: [],
      admins: [ids.impostor],
      groupLabels: { [ids.dba]: 'sg-dba', [ids.impostor]: 'sg-dba' },
    } as unknown as BrokerConfig;
    const { warnings, names } = await checkPolicyGroups(config, graphGroupLookup(graph));
    expect(names).toEqual({ [ids.dba]: 'sg-dba', [ids.impostor]: 'SG-DBA', [ids.eng]: 'sg-eng' });
    expect(warnings).toEqual([
      `resources.prod-db.approvers[1]: group ${missing} does not exist in the tenant — nobody matches it; fix the id or remove it`,
      `admins[0]: group ${ids.impostor} is labelled "sg-dba" in the config but named "SG-DBA" in the tenant — the id decides; update the label if the group was renamed, or check the id`,
    ]);
  });
});
