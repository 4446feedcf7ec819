// What doctor checks against the tenant: every group the policy names, the groups of stored
// database logins included (a login for a group that does not exist is given to nobody).

import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { databaseCredential } from '../../../broker/config/database-credentials.js';
import { parseConfig } from '../../../broker/config/load.js';
import type { ResourcePolicy } from '../../../broker/config/types.js';
import { doctorTarget } from '../../../broker/doctor-command.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const LEADS = '5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b';

describe('doctorTarget', () => {
  it("includes the groups of a resource's stored database logins", () => {
    const config = parseConfig(
      readFileSync(path.join(REPO, 'examples/access.yaml'), 'utf8'),
      'examples/access.yaml',
      { ACCESS_GRAPH_CLIENT_SECRET: 'x' },
      { requireTenant: true },
    );
    const tenant = config.tenant;
    if (!tenant) throw new Error('examples/access.yaml has a tenant block');
    const [first, ...rest] = config.resources as [ResourcePolicy, ...ResourcePolicy[]];
    const withLogin = { ...first, credentials: [databaseCredential({ user: 'app_owner', source: '$OWNER', groups: [LEADS] }, 'secret')] };
    const target = doctorTarget({ ...config, resources: [withLogin, ...rest] }, tenant);
    expect(target.groupIds).toContain(LEADS);
    expect(doctorTarget(config, tenant).groupIds).not.toContain(LEADS);
  });
});
