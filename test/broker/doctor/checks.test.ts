// doctor's judgement as a pure function: facts in, one result per check out. Each row is a
// situation a real tenant can be in that the dev tenant does not produce on its own.

import { describe, expect, it } from 'vitest';
import { exitCodeOf, runChecks, type CheckInput } from '../../../broker/doctor/checks.js';
import type { ApplicationFacts, DoctorFacts } from '../../../broker/doctor/facts.js';
import { formatResults } from '../../../broker/doctor/format.js';

const API = '72bd22fb-9b7c-4d48-8803-069e6ae6fde8';
const CLI = '1c3d1db5-aea6-4b66-8ff1-d260451834ef';
const GROUP = 'f68c9ec4-4bf8-4fe6-9115-986d579ff6de';

const input = (audiences: string[]): CheckInput => ({
  target: {
    tenantId: '4fe47bf2-b826-4da9-bcc9-406db0ad2986',
    authority: 'https://login.microsoftonline.com/4fe47bf2-b826-4da9-bcc9-406db0ad2986',
    graph: {
      clientId: 'a6c98593-ebc4-4741-81a4-77cfff17bdbb',
      credential: { kind: 'secret', env: 'S', secret: 'x' },
      authority: '',
      customAuthority: false,
      baseUrl: 'https://graph.microsoft.com',
      scope: 'https://graph.microsoft.com/.default',
    },
    audiences,
    cliClientId: CLI,
    groupIds: [GROUP],
  },
  requiredScope: 'user_impersonation',
  cliScope: 'api://access-broker/user_impersonation',
  requiredAppRole: 'Access.Automation',
  groupLabels: { [GROUP]: 'sg-eng' },
});

const apiApp = (overrides: Partial<ApplicationFacts> = {}): ApplicationFacts => ({
  appId: API,
  displayName: 'access broker API',
  isFallbackPublicClient: null,
  identifierUris: ['api://access-broker'],
  requestedAccessTokenVersion: 2,
  scopes: [{ value: 'user_impersonation', isEnabled: true }],
  appRoles: [{ value: 'Access.Automation', isEnabled: true, allowedMemberTypes: ['Application'] }],
  ...overrides,
});

const facts = (overrides: Partial<DoctorFacts> = {}): DoctorFacts => ({
  authority: 'https://login.microsoftonline.com/4fe47bf2-b826-4da9-bcc9-406db0ad2986',
  discovery: {
    ok: true,
    value: {
      issuer: 'https://login.microsoftonline.com/4fe47bf2-b826-4da9-bcc9-406db0ad2986/v2.0',
      jwksUri: 'https://login.microsoftonline.com/common/discovery/v2.0/keys',
    },
  },
  jwks: { ok: true, value: { keys: 6 } },
  graphToken: { ok: true, value: { roles: ['GroupMember.Read.All', 'User.Read.All'] } },
  groups: [{ id: GROUP, read: { ok: true, value: { id: GROUP, displayName: 'sg-eng', securityEnabled: true, members: { ok: true, value: 12 } } } }],
  apiApp: { ok: true, value: apiApp() },
  cliApp: { ok: true, value: { ...apiApp({ appId: CLI, displayName: 'access CLI', isFallbackPublicClient: true }) } },
  ...overrides,
});

describe('doctor checks', () => {
  it.each<[string, string[], Partial<DoctorFacts>, RegExp]>([
    [
      'a v1 API app whose App ID URI is an accepted audience',
      ['api://access-broker'],
      { apiApp: { ok: true, value: apiApp({ requestedAccessTokenVersion: null }) } },
      /^✔ .*issues v1 access tokens/m,
    ],
    [
      'a v2 API app when only the App ID URI is accepted',
      ['api://access-broker'],
      {},
      /^✖ .*v2 tokens carry aud 72bd22fb.* — fix: add 72bd22fb-9b7c-4d48-8803-069e6ae6fde8 to tenant.audiences/m,
    ],
    [
      'Directory.Read.All instead of the two narrower permissions',
      [API],
      { graphToken: { ok: true, value: { roles: ['Directory.Read.All'] } } },
      /^✔ Graph application permissions granted: Directory.Read.All$/m,
    ],
    [
      'a group Graph returns without a name (limited information)',
      [API],
      { groups: [{ id: GROUP, read: { ok: true, value: { id: GROUP, displayName: null, securityEnabled: true, members: { ok: true, value: 1 } } } }] },
      /^✔ group .* \(sg-eng\) name hidden \(limited information\): security group, 1 member$/m,
    ],
    [
      'a group renamed since the config labelled it',
      [API],
      { groups: [{ id: GROUP, read: { ok: true, value: { id: GROUP, displayName: 'eng-all', securityEnabled: true, members: { ok: true, value: 3 } } } }] },
      /^✔ .*"eng-all": security group, 3 members \(the config labels it "sg-eng"\)$/m,
    ],
    [
      'a member count Graph refused',
      [API],
      {
        groups: [
          {
            id: GROUP,
            read: {
              ok: true,
              value: {
                id: GROUP,
                displayName: 'sg-eng',
                securityEnabled: true,
                members: { ok: false, status: 400, code: 'Request_BadRequest', message: 'no count' },
              },
            },
          },
        ],
      },
      /^✔ .*security group, members not counted \(no count\)$/m,
    ],
    [
      'a cliScope on another resource than the API app',
      [API],
      { apiApp: { ok: true, value: apiApp({ identifierUris: ['api://other'] }) } },
      /^✖ .*tenant.cliScope names api:\/\/access-broker, which is neither/m,
    ],
    [
      'an app role only users may hold',
      [API],
      { apiApp: { ok: true, value: apiApp({ appRoles: [{ value: 'Access.Automation', isEnabled: true, allowedMemberTypes: ['User'] }] }) } },
      /^✖ .*the role is not assignable to applications/m,
    ],
    [
      'a tenant id that is a domain (issuer names another id)',
      [API],
      { discovery: { ok: true, value: { issuer: 'https://login.microsoftonline.com/0000/v2.0', jwksUri: 'https://x/keys' } } },
      /^✖ OpenID discovery.*use the tenant id \(a GUID\), not a domain name/m,
    ],
    [
      'an unreachable sign-in host',
      [API],
      { discovery: { ok: false, status: null, code: null, message: 'connect ETIMEDOUT' }, jwks: null },
      /^✖ OpenID discovery.*connect ETIMEDOUT — fix: let the broker reach login.microsoftonline.com over HTTPS/m,
    ],
  ])('judges %s', (_name, audiences, overrides, expected) => {
    expect(formatResults(runChecks(input(audiences), facts(overrides))).join('\n')).toMatch(expected);
  });

  it('exits 0 with checks it could not make, and 1 with any failure', () => {
    const denied = { ok: false as const, status: 403, code: 'Authorization_RequestDenied', message: 'Insufficient privileges' };
    expect(exitCodeOf(runChecks(input([API]), facts({ apiApp: denied, cliApp: denied })))).toBe(0);
    expect(exitCodeOf(runChecks(input([API]), facts({ jwks: { ok: true, value: { keys: 0 } } })))).toBe(1);
  });
});
