import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile, parseConfig, type ConfigOptions } from '../../../broker/config/load.js';
import { ConfigInvalidError } from '../../../broker/config/problems.js';
import { groupNameReason } from '../../../broker/config/group-refs.js';
import { CLOUDS } from '../../../broker/identity/clouds.js';
import { TENANT_LINES } from '../../helpers/tenant-config.js';
import { AccessError } from '../../../shared/errors.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const SECRET = 's3cr3t~value-from-env';
const ENV = { ACCESS_GRAPH_CLIENT_SECRET: SECRET };
const H = 3_600_000;

/** Lines joined into a file, so each case shows the line numbers it expects. */
const file = (...lines: string[]): string => `${lines.join('\n')}\n`;

/** A valid resource block (lines 1-7) the refusal cases extend or alter. */
const RESOURCE = [
  'resources:', //                   1
  '  prod-db:', //                   2
  '    kind: postgres', //           3
  '    target: db.internal:5432', // 4
  '    requesters: [sg-eng]', //     5
  '    approvers: [sg-dba]', //      6
  '    maxDuration: 4h', //          7
];

const DBA = '0f8e6c1a-3b2d-4c5e-9f7a-1b2c3d4e5f60';
const ENG = '1b8f4a2c-7d3e-4f5a-9b6c-0d1e2f3a4b5c';
const AUDIT = '8c5a1b9d-4e0f-4a2b-8c3d-7e8f9a0b1c2d';
const PLATFORM = '3d0b6c4e-9f5a-4b7c-9d8e-2f3a4b5c6d7e';

/** RESOURCE with its groups written as object ids, as `serve` requires. */
const ID_RESOURCE = RESOURCE.map((line) => line.replace('[sg-eng]', `[${ENG}]`).replace('[sg-dba]', `[{ id: ${DBA}, name: sg-dba }]`));

const TENANT: string[] = [...TENANT_LINES];

function refusal(text: string, options: ConfigOptions = {}, env: NodeJS.ProcessEnv = ENV): ConfigInvalidError {
  try {
    parseConfig(text, 'config.yaml', env, options);
  } catch (error) {
    if (error instanceof ConfigInvalidError) return error;
    throw error;
  }
  throw new Error('expected the config to be refused');
}

describe('parseConfig: valid files', () => {
  it('reads examples/access.yaml into the BrokerConfig it describes', () => {
    const text = readFileSync(path.join(REPO, 'examples/access.yaml'), 'utf8');
    const config = parseConfig(text, 'examples/access.yaml', ENV, { requireTenant: true });
    expect(config.source).toBe('examples/access.yaml');
    expect(config.tenant).toEqual({
      tenantId: '3f2b8c1e-5d4a-4e6f-9a7b-2c1d0e9f8a76',
      cloud: CLOUDS.public,
      cliClientId: '0c5e7a3d-9b1f-4c2e-8d6a-7f4b3e2a1c90',
      audiences: ['api://access-broker', '9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a'],
      cliScope: 'api://access-broker/user_impersonation',
      requiredScope: 'user_impersonation',
      requiredAppRole: 'Access.Automation',
      automationClientIds: ['2a7c9e1b-6d4f-4b8a-9c3e-5f1d7b2a8c64'],
      graph: {
        clientId: '6e5d4c3b-2a19-4f8e-b7d6-c5b4a3928170',
        credential: { kind: 'secret', env: 'ACCESS_GRAPH_CLIENT_SECRET', secret: SECRET },
        baseUrl: 'https://graph.microsoft.com',
      },
      signIn: 'device-code',
    });
    expect(config.groupCacheSeconds).toBe(60);
    expect(config.membershipRecheckSeconds).toBe(30);
    expect(config.graphRetryBudgetMs).toBe(10_000);
    expect(config.auditors).toEqual([AUDIT]);
    expect(config.admins).toEqual([PLATFORM]);
    expect(config.groupLabels).toMatchObject({ [DBA]: 'sg-dba', [AUDIT]: 'sg-audit', [PLATFORM]: 'sg-platform', [ENG]: 'sg-eng' });
    expect(config.devDirectory).toBeNull();
    expect(config.resources.map((r) => r.name)).toEqual(['prod-db', 'prod-db-admin', 'billing-mysql', 'bastion', 'metrics']);
    expect(config.resources[0]).toEqual({
      name: 'prod-db',
      kind: 'postgres',
      description: 'Production orders database (primary)',
      target: { host: 'orders-db.internal', port: 5432 },
      requesters: [ENG],
      approvers: [DBA],
      approvals: 1,
      maxDurationMs: 4 * H,
      defaultDurationMs: H,
      requestTtlMs: H,
      reason: 'required',
      ticketPattern: null,
      autoApprove: ['2c9a5b3d-8e4f-4a6b-8c7d-1e2f3a4b5c6d'],
      maxConnections: 20,
      idleTimeoutMs: 30 * 60_000,
      database: 'orders',
      user: 'readonly',
      targetTls: 'require',
      targetCa: null,
      workloads: [],
      autoApproveWorkloads: [],
      credentials: [],
      groupNames: config.groupLabels,
      conditions: expect.objectContaining({ requireMfa: true, requireAuthContext: 'c1', maxSignInAgeMs: 8 * H }),
    });
    expect(config.resources[0]?.conditions?.sourceNetworks?.describe()).toBe('10.0.0.0/8');
    expect(config.resources[0]?.conditions?.hours?.text).toBe('Mon-Fri 07:00-19:00 Europe/Berlin');
    expect(config.resources[1]).toMatchObject({ approvals: 2, maxDurationMs: H, defaultDurationMs: H / 2, ticketPattern: '^(INC|CHG)-\\d+$' });
    expect(config.resources[2]).toMatchObject({ kind: 'mysql', description: null, reason: 'optional', autoApprove: [], defaultDurationMs: H });
    expect(config.resources[3]).toMatchObject({ kind: 'ssh', target: { host: '10.20.0.5', port: 22 }, requestTtlMs: H / 2 });
    expect(config.resources[4]).toMatchObject({ kind: 'tcp', target: { host: 'fd00::42', port: 9090 }, maxDurationMs: 24 * H, defaultDurationMs: 8 * H });
  });

  it('reads group object ids under serve, bare or labelled, in lower case, with their labels', () => {
    const text = file(
      ...TENANT,
      ...RESOURCE.slice(0, 4),
      `    requesters: [${ENG.toUpperCase()}]`,
      `    approvers: [{ id: ${DBA}, name: SG-DBA }]`,
      RESOURCE[6] as string,
    );
    const config = parseConfig(text, 'config.yaml', ENV, { requireTenant: true });
    expect(config.resources[0]).toMatchObject({ requesters: [ENG], approvers: [DBA] });
    expect(config.groupLabels).toEqual({ [DBA]: 'SG-DBA' });
  });

  it.each([
    ['usgov', CLOUDS.usgov, 'https://graph.microsoft.us'],
    ['china', CLOUDS.china, 'https://microsoftgraph.chinacloudapi.cn'],
  ] as const)('sets sign-in host, issuers and Graph together for cloud %s', (name, cloud, graph) => {
    const config = parseConfig(file(...TENANT.slice(0, 2), `  cloud: ${name}`, ...TENANT.slice(2), ...ID_RESOURCE), 'config.yaml', ENV, {
      requireTenant: true,
    });
    expect(config.tenant?.cloud).toEqual(cloud);
    expect(config.tenant?.graph.baseUrl).toBe(graph);
  });

  it("reads the tenant's preferred sign-in (tenant.signIn), device code when not written", () => {
    const browser = parseConfig(file(...TENANT.slice(0, 2), '  signIn: browser', ...TENANT.slice(2), ...ID_RESOURCE), 'config.yaml', ENV, {
      requireTenant: true,
    });
    expect(browser.tenant?.signIn).toBe('browser');
    expect(parseConfig(file(...TENANT, ...ID_RESOURCE), 'config.yaml', ENV, { requireTenant: true }).tenant?.signIn).toBe('device-code');
  });

  it("reads the dev tenant's sign-in settings (devTenant.signIn, devTenant.blockDeviceCode) apart from its directory", () => {
    const config = parseConfig(
      file(
        ...RESOURCE,
        'devTenant:',
        '  signIn: browser',
        '  blockDeviceCode: true',
        '  groups: [{ name: sg-eng }, { name: sg-dba }]',
        '  users: [{ upn: a@contoso.dev, name: A }]',
      ),
      'config.yaml',
      {},
      { allowDevDirectory: true },
    );
    expect(config.devSignIn).toEqual({ signIn: 'browser', blockDeviceCode: true });
    expect(config.devDirectory).toEqual({
      groups: [
        { name: 'sg-eng', memberOf: [] },
        { name: 'sg-dba', memberOf: [] },
      ],
      users: [{ upn: 'a@contoso.dev', name: 'A', groups: [] }],
    });
  });

  it('reads a cloud given by its hosts', () => {
    const hosts = '{ authorityHost: https://login.example.gov, v1IssuerHost: https://sts.example.gov, graphHost: https://graph.example.gov }';
    const config = parseConfig(file(...TENANT.slice(0, 2), `  cloud: ${hosts}`, ...TENANT.slice(2), ...ID_RESOURCE), 'config.yaml', ENV, {
      requireTenant: true,
    });
    expect(config.tenant?.cloud).toEqual({
      name: 'custom',
      authorityHost: 'https://login.example.gov',
      v1IssuerHost: 'https://sts.example.gov',
      v2IssuerHosts: ['https://login.example.gov'],
      graphHost: 'https://graph.example.gov',
    });
    expect(config.tenant?.graph.baseUrl).toBe('https://graph.example.gov');
  });

  it('keeps display names under the dev tenant, beside object ids', () => {
    const config = parseConfig(file(...RESOURCE.slice(0, 5), `    approvers: [sg-dba, ${DBA}]`, RESOURCE[6] as string), 'config.yaml', {});
    expect(config.resources[0]).toMatchObject({ requesters: ['sg-eng'], approvers: ['sg-dba', DBA] });
  });

  it('reads examples/dev-team.yaml with its own dev users and groups', () => {
    const text = readFileSync(path.join(REPO, 'examples/dev-team.yaml'), 'utf8');
    const config = parseConfig(text, 'examples/dev-team.yaml', {}, { allowDevDirectory: true });
    expect(config.tenant).toBeNull();
    expect(config.resources.map((r) => r.name)).toEqual(['orders-db', 'orders-db-owner', 'cache']);
    expect(config.devDirectory?.groups).toContainEqual({ name: 'team-payments-leads', memberOf: ['team-payments'] });
    expect(config.devDirectory?.users).toContainEqual({ upn: 'nina@payments.dev', name: 'Nina Newcomer', groups: [] });
    expect(config.devDirectory?.users).toHaveLength(6);
  });

  it('fills every default a minimal resource leaves out', () => {
    const config = parseConfig(file(...RESOURCE.slice(0, 6), '    maxDuration: 30m'), 'config.yaml', {});
    expect(config).toEqual({
      source: 'config.yaml',
      tenant: null,
      groupCacheSeconds: 60,
      membershipRecheckSeconds: 30,
      membershipGraceSeconds: 120,
      graphRetryBudgetMs: 10_000,
      auditors: [],
      admins: [],
      groupLabels: {},
      devDirectory: null,
      forwardAuth: { auditWindowMs: 60_000 },
      resources: [
        {
          name: 'prod-db',
          kind: 'postgres',
          description: null,
          target: { host: 'db.internal', port: 5432 },
          requesters: ['sg-eng'],
          approvers: ['sg-dba'],
          approvals: 1,
          maxDurationMs: H / 2,
          defaultDurationMs: H / 2, // min(1h, maxDuration)
          requestTtlMs: H,
          reason: 'optional',
          ticketPattern: null,
          autoApprove: [],
          maxConnections: 20,
          idleTimeoutMs: 30 * 60_000,
          database: null,
          user: null,
          targetTls: 'disable',
          targetCa: null,
          workloads: [],
          autoApproveWorkloads: [],
          credentials: [],
        },
      ],
    });
  });

  it('accepts an IPv6 target in brackets and keeps the bare address', () => {
    const config = parseConfig(file(...RESOURCE.slice(0, 3), "    target: '[::1]:5432'", ...RESOURCE.slice(4)), 'config.yaml', {});
    expect(config.resources[0]?.target).toEqual({ host: '::1', port: 5432 });
  });
});

describe('parseConfig: refusals name file, line, key and reason', () => {
  const cases: Array<{ claim: string; text: string; options?: ConfigOptions; env?: NodeJS.ProcessEnv; line: string }> = [
    {
      claim: 'an unknown key, suggesting the one meant',
      text: file(...RESOURCE, '    aprovals: 2'),
      line: 'config.yaml:8 resources.prod-db.aprovals: unknown key — did you mean "approvals"?',
    },
    {
      claim: 'an unknown top-level key, listing what is allowed',
      text: file(...RESOURCE, 'frobnicate: true'),
      line: 'config.yaml:8 frobnicate: unknown key — allowed here: tenant, groupCacheSeconds, membershipRecheckSeconds, membershipGraceSeconds, graphRetryBudget, resources, auditors, admins, limits, forwardAuth, tls, notifications, trustedProxies, store, devTenant',
    },
    {
      claim: 'a kind that is not a resource kind',
      text: file(...RESOURCE.slice(0, 2), '    kind: mssql', ...RESOURCE.slice(3)),
      line: 'config.yaml:3 resources.prod-db.kind: must be one of postgres, mysql, ssh, tcp, http, grpc (got "mssql")',
    },
    {
      claim: 'a target without a port',
      text: file(...RESOURCE.slice(0, 3), '    target: db.internal', ...RESOURCE.slice(4)),
      line: 'config.yaml:4 resources.prod-db.target: must be host:port — e.g. db.internal:5432 (got "db.internal")',
    },
    {
      claim: 'a target port out of range',
      text: file(...RESOURCE.slice(0, 3), '    target: db.internal:70000', ...RESOURCE.slice(4)),
      line: 'config.yaml:4 resources.prod-db.target: port must be a number from 1 to 65535 — e.g. db.internal:5432 (got "db.internal:70000")',
    },
    {
      claim: 'an IPv6 target without brackets',
      text: file(...RESOURCE.slice(0, 3), '    target: ::1:5432', ...RESOURCE.slice(4)),
      line: 'config.yaml:4 resources.prod-db.target: an IPv6 address must be in brackets — e.g. [::1]:5432 (got "::1:5432")',
    },
    {
      claim: 'a malformed duration',
      text: file(...RESOURCE.slice(0, 6), '    maxDuration: 4x'),
      line: 'config.yaml:7 resources.prod-db.maxDuration: is not a duration — use e.g. 30m, 4h, 1d (got "4x")',
    },
    {
      claim: 'a duration without a unit',
      text: file(...RESOURCE.slice(0, 6), '    maxDuration: 240'),
      line: 'config.yaml:7 resources.prod-db.maxDuration: must be a duration such as 4h — the longest grant, e.g. 4h (got 240)',
    },
    {
      claim: 'a grant longer than the 7-day limit',
      text: file(...RESOURCE.slice(0, 6), '    maxDuration: 30d'),
      line: 'config.yaml:7 resources.prod-db.maxDuration: must be at most 7d — longer grants are standing access (got "30d")',
    },
    {
      claim: 'a defaultDuration longer than maxDuration',
      text: file(...RESOURCE, '    defaultDuration: 8h'),
      line: 'config.yaml:8 resources.prod-db.defaultDuration: must not be longer than maxDuration — a default above the maximum could never be granted (got "8h")',
    },
    {
      claim: 'approvals of 0',
      text: file(...RESOURCE, '    approvals: 0'),
      line: 'config.yaml:8 resources.prod-db.approvals: must be a whole number from 1 to 10 — distinct approvers needed (got 0)',
    },
    {
      claim: 'a ticketPattern that does not compile',
      text: file(...RESOURCE, "    ticketPattern: '^(INC|CHG-\\d+$'"),
      line: 'config.yaml:8 resources.prod-db.ticketPattern: is not a valid regular expression: Invalid regular expression: /^(INC|CHG-\\d+$/: Unterminated group (got "^(INC|CHG-\\\\d+$")',
    },
    {
      claim: 'an empty approver list',
      text: file(...RESOURCE.slice(0, 5), '    approvers: []', RESOURCE[6] as string),
      line: 'config.yaml:6 resources.prod-db.approvers: must name at least one — groups whose members may approve — Entra group object ids, each optionally labelled: [{ id: <object id>, name: sg-eng }] (display names only under `access-broker dev`) (got [])',
    },
    {
      claim: 'a missing required key, at its resource',
      text: file(...RESOURCE.slice(0, 4), ...RESOURCE.slice(5)),
      line: 'config.yaml:2 resources.prod-db.requesters: is required — groups whose members may request access — Entra group object ids, each optionally labelled: [{ id: <object id>, name: sg-eng }] (display names only under `access-broker dev`)',
    },
    {
      claim: 'a resource name that is not lower-case letters, digits and hyphens',
      text: file('resources:', '  Prod_DB:', ...RESOURCE.slice(2)),
      line: 'config.yaml:2 resources.Prod_DB: is not a valid resource name — use lower-case letters, digits and hyphens, starting with a letter or digit, at most 63 characters (got "Prod_DB")',
    },
    {
      claim: 'a Graph secret whose environment variable is not set',
      text: file(...TENANT, ...RESOURCE),
      env: {},
      line: "config.yaml:8 tenant.graph.clientSecretEnv: environment variable ACCESS_GRAPH_CLIENT_SECRET is not set — set it to the Graph app's client secret before starting the broker",
    },
    {
      claim: 'a Graph secret whose environment variable is empty',
      text: file(...TENANT, ...RESOURCE),
      env: { ACCESS_GRAPH_CLIENT_SECRET: '' },
      line: "config.yaml:8 tenant.graph.clientSecretEnv: environment variable ACCESS_GRAPH_CLIENT_SECRET is empty — set it to the Graph app's client secret before starting the broker",
    },
    {
      claim: 'a file without a tenant when serving a real tenant',
      text: file(...RESOURCE),
      options: { requireTenant: true },
      line: 'config.yaml:1 tenant: is required — `access-broker serve` needs the Entra tenant: id, cliClientId, audiences, cliScope, graph (see examples/access.yaml)',
    },
    {
      claim: 'a tenant id that is a domain name, not a GUID',
      text: file('tenant:', '  id: contoso.onmicrosoft.com', ...TENANT.slice(2), ...RESOURCE),
      line: 'config.yaml:2 tenant.id: must be a GUID such as 2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10 — the Directory (tenant) ID from the Entra admin center, not a domain name (got "contoso.onmicrosoft.com")',
    },
    {
      claim: 'a CLI scope the required scope can never be found in',
      text: file(...TENANT.slice(0, 4), '  cliScope: api://access-broker/.default', ...TENANT.slice(5), ...RESOURCE),
      line: 'config.yaml:5 tenant.cliScope: must end with "/user_impersonation" (requiredScope), or users\' tokens will never carry that scope (got "api://access-broker/.default")',
    },
    {
      claim: 'a sign-in method it does not know, naming the ones it does',
      text: file(...TENANT.slice(0, 2), '  signIn: password', ...TENANT.slice(2), ...ID_RESOURCE),
      line: 'config.yaml:3 tenant.signIn: must be one of device-code, browser (got "password")',
    },
    {
      claim: 'a cloud it does not know, naming the ones it does',
      text: file(...TENANT.slice(0, 2), '  cloud: azure-germany', ...TENANT.slice(2), ...ID_RESOURCE),
      line: 'config.yaml:3 tenant.cloud: is not a cloud this broker knows — one of public, usgov, china, or { authorityHost, v1IssuerHost, graphHost } (got "azure-germany")',
    },
    {
      claim: "a cloud's sign-in host over plain http",
      text: file(
        ...TENANT.slice(0, 2),
        '  cloud: { authorityHost: http://login.example.gov, v1IssuerHost: https://sts.example.gov, graphHost: https://graph.example.gov }',
        ...TENANT.slice(2),
        ...ID_RESOURCE,
      ),
      line: 'config.yaml:3 tenant.cloud.authorityHost: must be an https URL with no path — the Entra sign-in host, e.g. https://login.microsoftonline.us (got "http://login.example.gov")',
    },
    {
      claim: 'a group display name under serve, at its line, saying why and what to write',
      text: file(...TENANT, ...RESOURCE),
      options: { requireTenant: true },
      line: `config.yaml:14 resources.prod-db.approvers[0]: ${groupNameReason('sg-dba')} (got "sg-dba")`,
    },
    {
      claim: 'a display name among the auditors under serve',
      text: file(...TENANT, ...ID_RESOURCE, 'auditors: [SG-Audit]'),
      options: { requireTenant: true },
      line: `config.yaml:16 auditors[0]: ${groupNameReason('SG-Audit')} (got "SG-Audit")`,
    },
    {
      claim: 'a labelled group whose id is not a GUID',
      text: file(...TENANT, ...ID_RESOURCE.slice(0, 5), '    approvers: [{ id: sg-dba, name: sg-dba }]', ID_RESOURCE[6] as string),
      options: { requireTenant: true },
      line: 'config.yaml:14 resources.prod-db.approvers[0].id: must be a GUID such as 2f6a1c4e-0b8d-4d6e-9c1a-5e7f3b2a9d10 — the group\'s object id (Entra admin center → Groups → the group → Object ID) (got "sg-dba")',
    },
    {
      claim: 'one group id labelled two ways',
      text: file(
        ...ID_RESOURCE.slice(0, 5),
        `    approvers: [{ id: ${DBA}, name: sg-dba }]`,
        ID_RESOURCE[6] as string,
        `admins: [{ id: ${DBA}, name: sg-dba-old }]`,
      ),
      line: `config.yaml:8 admins[0].name: labels group ${DBA} differently from another reference ("sg-dba") — one label per group (got "sg-dba-old")`,
    },
    {
      claim: 'a Graph retry budget above a minute',
      text: file(...ID_RESOURCE, 'graphRetryBudget: 5m'),
      line: 'config.yaml:8 graphRetryBudget: must be at most 1m — a request path must not hang on Graph (got "5m")',
    },
    {
      claim: 'a devTenant section outside access-broker dev',
      text: file(...RESOURCE, 'devTenant:', '  users: [{ upn: a@b.dev, name: A }]'),
      line: "config.yaml:8 devTenant: is only accepted by `access-broker dev --config` — a real tenant's users and groups live in Entra ID; remove this section",
    },
    {
      claim: 'a dev user in a group devTenant does not declare',
      text: file(
        ...RESOURCE,
        'devTenant:',
        '  groups: [{ name: sg-eng }, { name: sg-dba }]',
        '  users:',
        '    - { upn: alice@contoso.dev, name: Alice, groups: [sg-eng] }',
        '    - { upn: bob@contoso.dev, name: Bob, groups: [sg-dbaa] }',
      ),
      options: { allowDevDirectory: true },
      line: 'config.yaml:12 devTenant.users[1].groups[0]: is not a group declared in devTenant.groups — declare it there or fix the name (got "sg-dbaa")',
    },
    {
      claim: 'a group nested in a group devTenant does not declare',
      text: file(
        ...RESOURCE,
        'devTenant:',
        '  groups:',
        '    - { name: sg-eng }',
        '    - { name: sg-dba, memberOf: [sg-engg] }',
        '  users: [{ upn: a@contoso.dev, name: A }]',
      ),
      options: { allowDevDirectory: true },
      line: 'config.yaml:11 devTenant.groups[1].memberOf[0]: is not a group declared in devTenant.groups — declare it there or fix the name (got "sg-engg")',
    },
    {
      claim: 'a group membership cycle, spelled out',
      text: file(
        ...RESOURCE,
        'devTenant:',
        '  groups:',
        '    - { name: sg-eng, memberOf: [sg-dba] }',
        '    - { name: sg-dba, memberOf: [sg-eng] }',
        '  users: [{ upn: a@contoso.dev, name: A }]',
      ),
      options: { allowDevDirectory: true },
      line: 'config.yaml:11 devTenant.groups[1].memberOf[0]: closes a membership cycle sg-eng → sg-dba → sg-eng — a group cannot be nested inside itself (got "sg-eng")',
    },
    {
      claim: 'a group nested in itself',
      text: file(...RESOURCE, 'devTenant:', '  groups: [{ name: sg-eng }, { name: sg-dba, memberOf: [sg-dba] }]', '  users: [{ upn: a@contoso.dev, name: A }]'),
      options: { allowDevDirectory: true },
      line: 'config.yaml:9 devTenant.groups[1].memberOf[0]: closes a membership cycle sg-dba → sg-dba — a group cannot be nested inside itself (got "sg-dba")',
    },
    {
      claim: 'two dev users with one sign-in name',
      text: file(
        ...RESOURCE,
        'devTenant:',
        '  groups: [{ name: sg-eng }, { name: sg-dba }]',
        '  users:',
        '    - { upn: alice@contoso.dev, name: Alice }',
        '    - { upn: Alice@Contoso.dev, name: Alice again }',
      ),
      options: { allowDevDirectory: true },
      line: 'config.yaml:12 devTenant.users[1].upn: is declared twice — sign-in names must be unique (got "Alice@Contoso.dev")',
    },
    {
      claim: 'a dev user whose sign-in name is not email-shaped',
      text: file(...RESOURCE, 'devTenant:', '  groups: [{ name: sg-eng }, { name: sg-dba }]', '  users: [{ upn: alice, name: Alice }]'),
      options: { allowDevDirectory: true },
      line: 'config.yaml:10 devTenant.users[0].upn: must look like an email address, e.g. alice@contoso.dev — the user\'s sign-in name (got "alice")',
    },
    {
      claim: 'a policy group the dev tenant does not declare',
      text: file(
        ...RESOURCE.slice(0, 5),
        '    approvers: [sg-dab]',
        RESOURCE[6] as string,
        'devTenant:',
        '  groups: [{ name: sg-eng }, { name: sg-dba }]',
        '  users: [{ upn: a@contoso.dev, name: A }]',
      ),
      options: { allowDevDirectory: true },
      line: 'config.yaml:6 resources.prod-db.approvers[0]: is not a group declared in devTenant.groups — declare it there or fix the name (got "sg-dab")',
    },
    {
      claim: 'a YAML syntax error',
      text: file(...RESOURCE.slice(0, 4), '    requesters: [sg-eng', ...RESOURCE.slice(5)),
      line: 'config.yaml:6 YAML: Flow sequence in block collection must be sufficiently indented and end with a ]',
    },
    {
      claim: 'a key written twice',
      text: file(...RESOURCE, '    maxDuration: 8h'),
      line: 'config.yaml:8 YAML: Map keys must be unique',
    },
    {
      claim: 'an empty file',
      text: '# nothing yet\n',
      line: 'config.yaml:1 the file is empty — it needs at least `resources` (see examples/access.yaml)',
    },
  ];

  it.each(cases)('refuses $claim', ({ text, options, env, line }) => {
    const error = refusal(text, options, env);
    expect(error).toBeInstanceOf(AccessError);
    expect(error.code).toBe('config_invalid');
    expect(error.message.split('\n')).toContain(line);
  });

  it('lists every problem at once, in file order, under one header', () => {
    const error = refusal(
      file(
        'resources:',
        '  prod-db:',
        '    kind: mssql',
        '    target: db.internal',
        '    requesters: [sg-eng]',
        '    approvers: [sg-dba]',
        '    maxDuration: 4x',
        '    approvals: 0',
      ),
    );
    expect(error.message.split('\n')).toEqual([
      'The broker config config.yaml has 4 problems:',
      'config.yaml:3 resources.prod-db.kind: must be one of postgres, mysql, ssh, tcp, http, grpc (got "mssql")',
      'config.yaml:4 resources.prod-db.target: must be host:port — e.g. db.internal:5432 (got "db.internal")',
      'config.yaml:7 resources.prod-db.maxDuration: is not a duration — use e.g. 30m, 4h, 1d (got "4x")',
      'config.yaml:8 resources.prod-db.approvals: must be a whole number from 1 to 10 — distinct approvers needed (got 0)',
    ]);
    expect(error.problems.map((p) => p.line)).toEqual([3, 4, 7, 8]);
  });

  it("never quotes what was written where a secret's variable name belongs", () => {
    const error = refusal(file(...TENANT.slice(0, 7), `    clientSecretEnv: ${SECRET}`, ...RESOURCE));
    expect(error.message).toContain('config.yaml:8 tenant.graph.clientSecretEnv: must be the NAME of an environment variable');
    expect(error.message).not.toContain(SECRET);
  });

  it('does not quote a secret written under a key that does not exist either', () => {
    const error = refusal(file(...TENANT.slice(0, 7), `    clientSecret: ${SECRET}`, ...RESOURCE));
    expect(error.message).toContain('config.yaml:8 tenant.graph.clientSecret: unknown key — did you mean "clientSecretEnv"?');
    expect(error.message).not.toContain(SECRET);
  });
});

describe('loadConfigFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'access-test-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file and names it in the config', async () => {
    const configPath = path.join(dir, 'ok.yaml');
    await writeFile(configPath, file(...RESOURCE));
    const config = await loadConfigFile(configPath, {});
    expect(config.source).toBe(configPath);
    expect(config.resources).toHaveLength(1);
  });

  it('names the file and line of a problem in it', async () => {
    const configPath = path.join(dir, 'bad.yaml');
    await writeFile(configPath, file(...RESOURCE.slice(0, 6), '    maxDuration: 4x'));
    await expect(loadConfigFile(configPath, {})).rejects.toThrow(`${configPath}:7 resources.prod-db.maxDuration: is not a duration`);
  });

  it('refuses a missing file naming the path', async () => {
    const missing = path.join(dir, 'nope.yaml');
    const error = await loadConfigFile(missing, {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(AccessError);
    expect(error).toMatchObject({
      code: 'config_invalid',
      message: `config file not found: ${missing} — check the path (examples/access.yaml shows the form)`,
    });
  });

  it('refuses a directory given as the config file', async () => {
    await expect(loadConfigFile(dir, {})).rejects.toThrow(`config file ${dir} is a directory`);
  });
});
