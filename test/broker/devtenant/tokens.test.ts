// Tokens of the dev tenant verify the way the broker verifies Entra tokens: jose against the
// published JWKS, RS256, the Microsoft issuer, the API (or Graph) audience.

import { createRemoteJWKSet, customFetch, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { clientCredentials, json, serveDevTenant, signIn, type Served } from './harness.js';

let served: Served;

beforeEach(async () => {
  served = await serveDevTenant();
});
afterEach(async () => {
  await served.close();
});

const v2 = (): string => `https://login.microsoftonline.com/${served.tenant.tenantId}/v2.0`;
const jwks = (): ReturnType<typeof createRemoteJWKSet> => createRemoteJWKSet(new URL(served.tenant.jwksUri), { [customFetch]: served.transport.fetch });
const groupId = async (name: string): Promise<string> => {
  const { value } = await graphGroups(name);
  return value[0]?.id as string;
};

async function graphGroups(name: string): Promise<{ value: Array<{ id: string }> }> {
  const token = json(
    await clientCredentials(served, served.tenant.graphApp.clientId, served.tenant.graphApp.clientSecret, 'https://graph.microsoft.com/.default'),
  ).access_token as string;
  const res = await served.transport.request(`${served.tenant.graphBaseUrl}/v1.0/groups?$filter=${encodeURIComponent(`displayName eq '${name}'`)}`, {
    headers: { authorization: `Bearer ${token}` },
  });
  return JSON.parse(res.body.toString()) as { value: Array<{ id: string }> };
}

describe('user tokens', () => {
  it('issues alice an API access token that verifies against the JWKS with the Microsoft v2 issuer', async () => {
    const tokens = await signIn(served, 'alice@contoso.dev');
    const { payload, protectedHeader } = await jwtVerify(tokens.access_token as string, jwks(), {
      issuer: v2(),
      audience: served.tenant.api.clientId,
      algorithms: ['RS256'],
      currentDate: new Date(served.clock.now),
    });
    const alice = served.tenant.users().find((u) => u.upn === 'alice@contoso.dev');
    expect(protectedHeader).toMatchObject({ alg: 'RS256', typ: 'JWT', kid: expect.any(String) });
    expect(payload).toMatchObject({
      azp: served.tenant.cliClientId,
      name: 'Alice Requester',
      oid: alice?.oid,
      preferred_username: 'alice@contoso.dev',
      scp: 'user_impersonation',
      tid: served.tenant.tenantId,
      ver: '2.0',
    });
    expect(payload.sub).not.toBe(alice?.oid);
    expect(payload.uti).toEqual(expect.any(String));
    expect(payload.exp).toBe((payload.iat as number) + 3600);
    expect(payload.groups).toEqual([await groupId('sg-eng')]);
  });

  it('puts transitive groups in the groups claim (bob is in sg-dba, nested in sg-eng)', async () => {
    const tokens = await signIn(served, 'bob@contoso.dev');
    const groups = decodeJwt(tokens.access_token as string).groups as string[];
    expect(groups.sort()).toEqual([await groupId('sg-eng'), await groupId('sg-dba')].sort());
  });

  it('gives frank an empty groups claim', async () => {
    const tokens = await signIn(served, 'frank@contoso.dev');
    expect(decodeJwt(tokens.access_token as string).groups).toEqual([]);
  });

  it("replaces grace's 252 groups with the overage marker", async () => {
    const tokens = await signIn(served, 'grace@contoso.dev');
    const payload = decodeJwt(tokens.access_token as string);
    expect(payload.groups).toBeUndefined();
    expect(payload._claim_names).toEqual({ groups: 'src1' });
    expect(payload._claim_sources).toEqual({ src1: { endpoint: expect.stringContaining(String(payload.oid)) } });
  });

  it('issues an id token for the CLI and client_info that MSAL keys the account on', async () => {
    const tokens = await signIn(served, 'alice@contoso.dev');
    const { payload } = await jwtVerify(tokens.id_token as string, jwks(), {
      issuer: v2(),
      audience: served.tenant.cliClientId,
      algorithms: ['RS256'],
      currentDate: new Date(served.clock.now),
    });
    const alice = served.tenant.users().find((u) => u.upn === 'alice@contoso.dev');
    expect(payload).toMatchObject({
      oid: alice?.oid,
      tid: served.tenant.tenantId,
      name: 'Alice Requester',
      preferred_username: 'alice@contoso.dev',
      ver: '2.0',
    });
    expect(JSON.parse(Buffer.from(tokens.client_info as string, 'base64url').toString())).toEqual({ uid: alice?.oid, utid: served.tenant.tenantId });
    expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 3600, ext_expires_in: 3600, scope: served.tenant.api.scope });
  });

  it('honours a short access token lifetime given in the options', async () => {
    await served.close();
    served = await serveDevTenant({ accessTokenLifetimeSec: 60 });
    const tokens = await signIn(served, 'alice@contoso.dev');
    const payload = decodeJwt(tokens.access_token as string);
    expect(payload.exp).toBe((payload.iat as number) + 60);
    expect(payload.iat).toBe(Math.floor(served.clock.now / 1000));
  });
});

describe('app tokens', () => {
  it('issues the Graph app a v1 Graph token that verifies with the sts.windows.net issuer', async () => {
    const res = await clientCredentials(served, served.tenant.graphApp.clientId, served.tenant.graphApp.clientSecret, 'https://graph.microsoft.com/.default');
    const body = json(res);
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
    const { payload } = await jwtVerify(body.access_token as string, jwks(), {
      issuer: `https://sts.windows.net/${served.tenant.tenantId}/`,
      audience: 'https://graph.microsoft.com',
      algorithms: ['RS256'],
      currentDate: new Date(served.clock.now),
    });
    expect(payload).toMatchObject({ appid: served.tenant.graphApp.clientId, idtyp: 'app', ver: '1.0', tid: served.tenant.tenantId });
    expect(payload.oid).toBe(payload.sub);
  });

  it('issues the automation app an API token with Access.Automation and the v2 issuer', async () => {
    const res = await clientCredentials(
      served,
      served.tenant.automationApp.clientId,
      served.tenant.automationApp.clientSecret,
      `${served.tenant.api.appIdUri}/.default`,
    );
    const { payload } = await jwtVerify(json(res).access_token as string, jwks(), {
      issuer: v2(),
      audience: served.tenant.api.clientId,
      algorithms: ['RS256'],
      currentDate: new Date(served.clock.now),
    });
    expect(payload).toMatchObject({ azp: served.tenant.automationApp.clientId, roles: ['Access.Automation'], idtyp: 'app', ver: '2.0' });
  });

  it('gives an app without a role on the resource a token without roles', async () => {
    const res = await clientCredentials(served, served.tenant.graphApp.clientId, served.tenant.graphApp.clientSecret, `${served.tenant.api.appIdUri}/.default`);
    expect(decodeJwt(json(res).access_token as string).roles).toBeUndefined();
  });
});

describe('key rotation', () => {
  it('publishes both keys after a rotation and signs new tokens with the new one', async () => {
    const before = await signIn(served, 'alice@contoso.dev');
    const oldKid = decodeProtectedHeader(before.access_token as string).kid;
    await served.tenant.rotateSigningKey();
    const after = await signIn(served, 'alice@contoso.dev');
    const newKid = decodeProtectedHeader(after.access_token as string).kid;
    expect(newKid).not.toBe(oldKid);

    const published = json(await served.transport.request(served.tenant.jwksUri)) as { keys: Array<{ kid: string; kty: string; use: string }> };
    expect(published.keys.map((k) => k.kid)).toEqual([newKid, oldKid]);
    expect(published.keys.every((k) => k.kty === 'RSA' && k.use === 'sig')).toBe(true);

    const options = { issuer: v2(), audience: served.tenant.api.clientId, algorithms: ['RS256'], currentDate: new Date(served.clock.now) };
    await expect(jwtVerify(before.access_token as string, jwks(), options)).resolves.toBeTruthy();
    await expect(jwtVerify(after.access_token as string, jwks(), options)).resolves.toBeTruthy();
  });

  it('keeps publishing at most three keys', async () => {
    for (let i = 0; i < 4; i++) await served.tenant.rotateSigningKey();
    const published = json(await served.transport.request(served.tenant.jwksUri)) as { keys: unknown[] };
    expect(published.keys).toHaveLength(3);
  });
});
