// The broker API over a real socket, with the identity edge replaced by fakes of its interfaces
// (token verifier, directory). The real verifier and Graph are exercised in their own tests and e2e.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Verifier } from '../../broker/app.js';
import { assembleBroker } from '../../broker/assemble.js';
import { openDatabase } from '../../broker/store/database.js';
import type { Principal } from '../../broker/auth/principal.js';
import type { BrokerConfig, ResourcePolicy } from '../../broker/config/types.js';
import { databaseCredential } from '../../broker/config/database-credentials.js';
import type { Directory } from '../../broker/identity/directory.js';
import type { Lifecycle } from '../../broker/lifecycle.js';
import { AccessError } from '../../shared/errors.js';
import type { GroupRef, ResourcesResponse, WhoAmIResponse } from '../../shared/wire.js';
import { resourcePolicy } from '../helpers/resource-policy.js';
import { serveOnLoopback, TEST_SIGN_IN } from '../helpers/served-broker.js';

function principal(oid: string, kind: Principal['kind'] = 'user'): Principal {
  return {
    kind,
    oid,
    tenantId: 't1',
    upn: `${oid}@contoso.dev`,
    name: oid,
    appId: 'cli',
    scopes: ['user_impersonation'],
    roles: [],
    groupsClaim: null,
    groupOverage: false,
    expiresAt: new Date('2030-01-01T00:00:00Z'),
    signIn: { amr: ['pwd'], acrs: [], authTime: null },
    clientAddress: '127.0.0.1',
  };
}

const verifier: Verifier = {
  async verify(token) {
    if (token.startsWith('good-')) return principal(token.slice(5));
    if (token === 'app') return principal('svc', 'app');
    throw new AccessError('token_signature_invalid', 'the token signature does not verify');
  },
};

const memberships: Record<string, GroupRef[]> = {
  alice: [{ id: 'g-eng', displayName: 'sg-eng' }],
  bob: [
    { id: 'g-dba', displayName: 'sg-dba' },
    { id: 'g-eng', displayName: 'sg-eng' },
  ],
  erin: [{ id: 'g-plat', displayName: 'sg-platform' }],
  frank: [],
};

const directory: Directory = {
  async memberGroups(oid) {
    if (oid === 'outage') throw new AccessError('directory_unavailable', 'cannot read group membership');
    return memberships[oid] ?? [];
  },
};

function resource(name: string, over: Partial<ResourcePolicy> = {}): ResourcePolicy {
  return resourcePolicy({ name, requestTtlMs: 3600_000, reason: 'required', ...over });
}

const config: BrokerConfig = {
  source: 'test',
  tenant: null,
  auditors: ['sg-audit'],
  admins: ['sg-platform'],
  groupCacheSeconds: 60,
  membershipRecheckSeconds: 30,
  membershipGraceSeconds: 120,
  devDirectory: null,
  resources: [
    resource('prod-db', {
      user: 'readonly',
      credentials: [
        databaseCredential({ user: 'app_owner', source: '$OWNER', groups: ['sg-platform'] }, 'owner-secret'),
        databaseCredential({ user: 'app_readonly', source: '$RO', groups: [] }, 'ro-secret'),
      ],
    }),
    resource('secret-db', { requesters: ['sg-secret'], approvers: ['sg-secret'] }),
  ],
};

const log = { info: () => undefined, warn: () => undefined, error: () => undefined };

let lifecycle: Lifecycle;
let base: string;

beforeAll(async () => {
  const broker = assembleBroker({
    config,
    signIn: TEST_SIGN_IN,
    verifier,
    directory,
    log,
    db: openDatabase(':memory:'),
  });
  const served = await serveOnLoopback(broker, log);
  lifecycle = served.lifecycle;
  base = `http://127.0.0.1:${served.port}`;
});

afterAll(() => lifecycle.close());

async function get(path: string, token?: string): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: await res.json() };
}

describe('broker API', () => {
  it('answers /v1/config without a token', async () => {
    const { status, body } = await get('/v1/config');
    expect(status).toBe(200);
    expect(body).toMatchObject({ tenantId: 't1', clientId: 'cli' });
  });

  it('refuses /v1/whoami without a token with 401 token_missing', async () => {
    const { status, body } = await get('/v1/whoami');
    expect(status).toBe(401);
    expect(body).toMatchObject({ code: 'token_missing' });
  });

  it('passes the verifier refusal through with its code', async () => {
    const { status, body } = await get('/v1/whoami', 'forged');
    expect(status).toBe(401);
    expect(body).toMatchObject({ code: 'token_signature_invalid' });
  });

  it('shows who the caller is with groups read from the directory', async () => {
    const { status, body } = await get('/v1/whoami', 'good-bob');
    expect(status).toBe(200);
    const me = body as WhoAmIResponse;
    expect(me.groups.map((g) => g.displayName)).toEqual(['sg-dba', 'sg-eng']);
    expect(me).toMatchObject({ oid: 'bob', isAdmin: false, isAuditor: false });
  });

  it('fails closed with 503 when the directory cannot answer', async () => {
    const { status, body } = await get('/v1/whoami', 'good-outage');
    expect(status).toBe(503);
    expect(body).toMatchObject({ code: 'directory_unavailable' });
  });

  it('lists only the resources the caller may request or approve', async () => {
    const alice = (await get('/v1/resources', 'good-alice')).body as ResourcesResponse;
    expect(alice.resources.map((r) => r.name)).toEqual(['prod-db']);
    expect(alice.resources[0]).toMatchObject({ canRequest: true, canApprove: false });
    const frank = (await get('/v1/resources', 'good-frank')).body as ResourcesResponse;
    expect(frank.resources).toEqual([]);
  });

  it("names the database user the caller's sessions run as when the broker logs in for them, never a password", async () => {
    const alice = (await get('/v1/resources', 'good-alice')).body as ResourcesResponse;
    const erin = (await get('/v1/resources', 'good-erin')).body as ResourcesResponse;
    expect(alice.resources[0]?.user).toBe('app_readonly');
    expect(erin.resources[0]?.user).toBe('app_owner');
    expect(JSON.stringify([alice, erin])).not.toMatch(/owner-secret|ro-secret|\$RO|\$OWNER/);
  });

  it('shows admins every resource', async () => {
    const erin = (await get('/v1/resources', 'good-erin')).body as ResourcesResponse;
    expect(erin.resources.map((r) => r.name)).toEqual(['prod-db', 'secret-db']);
  });

  it('answers unknown endpoints with 404 not_found', async () => {
    const { status, body } = await get('/v1/nothing-here');
    expect(status).toBe(404);
    expect(body).toMatchObject({ code: 'not_found' });
  });
});
