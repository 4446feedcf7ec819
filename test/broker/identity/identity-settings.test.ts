// What `GET /v1/config` tells the CLI about a real tenant's sign-in: a cloud the config writes out
// host by host is named as such (the CLI must not ask Microsoft's instance discovery about it),
// one of Microsoft's named clouds is not.

import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../broker/config/load.js';
import { identityFromTenant, signInResponse } from '../../../broker/identity/identity-settings.js';
import { TENANT_LINES } from '../../helpers/tenant-config.js';

const RESOURCE = [
  'resources:',
  '  prod-db:',
  '    kind: postgres',
  '    target: db.internal:5432',
  '    requesters: [1b8f4a2c-7d3e-4f5a-9b6c-0d1e2f3a4b5c]',
  '    approvers: [0f8e6c1a-3b2d-4c5e-9f7a-1b2c3d4e5f60]',
  '    maxDuration: 4h',
];

function signInFor(cloudLine: string | null) {
  const lines = cloudLine ? [...TENANT_LINES.slice(0, 2), cloudLine, ...TENANT_LINES.slice(2)] : [...TENANT_LINES];
  const config = parseConfig(`${[...lines, ...RESOURCE].join('\n')}\n`, 'config.yaml', { ACCESS_GRAPH_CLIENT_SECRET: 's' }, { requireTenant: true });
  if (!config.tenant) throw new Error('the test config has no tenant');
  return signInResponse(identityFromTenant(config.tenant));
}

describe('the sign-in config of a real tenant', () => {
  it('names a cloud written out host by host as custom, with its own authority', () => {
    const signIn = signInFor(
      '  cloud: { authorityHost: https://login.example.gov, v1IssuerHost: https://sts.example.gov, graphHost: https://graph.example.gov }',
    );
    expect(signIn.customCloud).toBe(true);
    expect(signIn.authority).toMatch(/^https:\/\/login\.example\.gov\/3f2b8c1e-/i);
  });

  it("says nothing of the kind for Microsoft's named clouds", () => {
    expect(signInFor(null).customCloud).toBeUndefined();
    expect(signInFor('  cloud: usgov').customCloud).toBeUndefined();
  });
});
