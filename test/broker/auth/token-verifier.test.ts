import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, createSign, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, beforeEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import { exportJWK, exportSPKI, SignJWT, type JWK, type JWTPayload } from 'jose';
import { AccessError, type ErrorCode } from '../../../shared/errors.js';
import { HttpTransport } from '../../../shared/http-transport.js';
import { TokenVerifier, VERIFIED_TOKEN_REUSE_MS, type TokenVerifierOptions } from '../../../broker/auth/token-verifier.js';
import { CLOUDS, type Cloud } from '../../../broker/identity/clouds.js';
import { preGeneratedKeyPair } from '../../helpers/signing-keys.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const OTHER_TENANT = '0b1c5a2e-7f3d-4e0a-9c61-2d4f8e9a1b35';
const CLIENT_ID = '6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b';
const APP_ID_URI = 'api://access-broker';
const USER_OID = '11111111-2222-4333-8444-555555555555';
const APP_OID = '99999999-8888-4777-8666-555555555555';
const V1_ISSUER = `https://sts.windows.net/${TENANT}/`;
const V2_ISSUER = `https://login.microsoftonline.com/${TENANT}/v2.0`;
/** The verifier's clock; token times are relative to it. */
const NOW_MS = Date.parse('2030-06-01T12:00:00Z');
const NOW = NOW_MS / 1000;

interface SigningKey {
  kid: string;
  privateKey: KeyObject;
  jwk: JWK;
  spkiPem: string;
}

/** RSA 2048 key number `index` of the test fixture (pre-generated: generating one costs ~100 ms). */
async function signingKey(kid: string, index: number): Promise<SigningKey> {
  const { publicKey, privateKey } = preGeneratedKeyPair(index);
  // Entra's JWKS entries carry kty/use/kid/n/e and no alg; publish the same shape.
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  return { kid, privateKey, jwk, spkiPem: await exportSPKI(publicKey) };
}

// ---- a local JWKS endpoint, reached through HttpTransport as a loopback "https" origin ----

type KeyServerMode = 'ok' | 'error' | 'garbage' | 'hang';

class KeyServer {
  readonly #server: Server;
  hits = 0;
  keys: JWK[] = [];
  mode: KeyServerMode = 'ok';

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<KeyServer> {
    const server = createServer();
    const keyServer = new KeyServer(server);
    server.on('request', (req, res: ServerResponse) => {
      if (req.url !== '/discovery/v2.0/keys') return void res.writeHead(404).end();
      keyServer.hits += 1;
      if (keyServer.mode === 'hang') return; // never answers
      if (keyServer.mode === 'error') return void res.writeHead(500).end('upstream trouble');
      if (keyServer.mode === 'garbage') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":');
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: keyServer.keys }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return keyServer;
  }

  get origin(): string {
    return `https://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  get jwksUri(): string {
    return `${this.origin}/discovery/v2.0/keys`;
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

// ---- minting ----

function baseClaims(kind: 'v1-user' | 'v2-user' | 'app'): JWTPayload {
  const times = { iat: NOW - 300, nbf: NOW - 300, exp: NOW + 3600 };
  if (kind === 'v1-user') {
    return {
      ...times,
      iss: V1_ISSUER,
      aud: APP_ID_URI,
      tid: TENANT,
      oid: USER_OID,
      sub: 'pairwise-sub',
      scp: 'user_impersonation',
      upn: 'alice@contoso.com',
      unique_name: 'alice@contoso.com',
      name: 'Alice',
      appid: 'cli-client-id',
      ver: '1.0',
    };
  }
  if (kind === 'v2-user') {
    return {
      ...times,
      iss: V2_ISSUER,
      aud: CLIENT_ID,
      tid: TENANT,
      oid: USER_OID,
      sub: 'pairwise-sub',
      scp: 'user_impersonation openid',
      preferred_username: 'alice@contoso.com',
      name: 'Alice',
      azp: 'cli-client-id',
      ver: '2.0',
    };
  }
  return {
    ...times,
    iss: V2_ISSUER,
    aud: CLIENT_ID,
    tid: TENANT,
    oid: APP_OID,
    sub: APP_OID,
    roles: ['Access.Automation'],
    idtyp: 'app',
    azp: 'automation-client-id',
    ver: '2.0',
  };
}

async function mint(key: SigningKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid, ...header }).sign(key.privateKey);
}

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');
const encodeJson = (value: unknown): string => b64url(JSON.stringify(value));

/** A token assembled by hand (for headers and algorithms jose would refuse to produce). */
function handBuilt(header: object, claims: JWTPayload, sign: (input: string) => string): string {
  const input = `${encodeJson(header)}.${encodeJson(claims)}`;
  return `${input}.${sign(input)}`;
}

function rs256With(privateKey: KeyObject): (input: string) => string {
  return (input) => createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
}

async function refusal(verifier: TokenVerifier, token: string): Promise<AccessError> {
  const err: unknown = await verifier.verify(token).then(
    () => new Error('the token was accepted'),
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AccessError);
  return err as AccessError;
}

function expectNoTokenIn(message: string, token: string): void {
  expect(message).not.toContain(token);
  for (const part of token.split('.')) {
    if (part.length > 16) expect(message).not.toContain(part);
  }
}

describe('TokenVerifier', () => {
  let server: KeyServer;
  let primary: SigningKey;
  let rotated: SigningKey;
  let stranger: SigningKey;

  beforeAll(async () => {
    server = await KeyServer.start();
    [primary, rotated, stranger] = await Promise.all([signingKey('key-1', 0), signingKey('key-2', 1), signingKey('key-1', 2)]);
  });
  afterAll(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.hits = 0;
    server.mode = 'ok';
    server.keys = [primary.jwk];
  });

  function verifier(overrides: Partial<TokenVerifierOptions> = {}): TokenVerifier {
    return new TokenVerifier({
      tenantId: TENANT,
      audiences: [APP_ID_URI, CLIENT_ID],
      requiredScope: 'user_impersonation',
      requiredAppRole: 'Access.Automation',
      cliClientId: 'cli-client-id',
      automationClientIds: ['automation-client-id'],
      jwksUri: server.jwksUri,
      transport: new HttpTransport({ plaintextOrigins: [server.origin] }),
      now: () => NOW_MS,
      ...overrides,
    });
  }

  describe('accepts', () => {
    it('accepts a valid v2 user token and says who is calling', async () => {
      const principal = await verifier().verify(await mint(primary, baseClaims('v2-user')));
      expect(principal).toEqual({
        kind: 'user',
        oid: USER_OID,
        tenantId: TENANT,
        upn: 'alice@contoso.com',
        name: 'Alice',
        appId: 'cli-client-id',
        scopes: ['user_impersonation', 'openid'],
        roles: [],
        groupsClaim: null,
        groupOverage: false,
        expiresAt: new Date((NOW + 3600) * 1000),
        // A v2 token without amr/acrs/auth_time: the sign-in time is its iat.
        signIn: { amr: [], acrs: [], authTime: (NOW - 300) * 1000 },
        clientAddress: null,
      });
    });

    it('accepts a valid v1 user token for the App ID URI and reads upn and appid', async () => {
      const principal = await verifier().verify(await mint(primary, baseClaims('v1-user')));
      expect(principal).toMatchObject({ kind: 'user', oid: USER_OID, upn: 'alice@contoso.com', appId: 'cli-client-id' });
    });

    it('accepts an app token that carries the app role', async () => {
      const principal = await verifier().verify(await mint(primary, baseClaims('app')));
      expect(principal).toMatchObject({ kind: 'app', oid: APP_OID, appId: 'automation-client-id', scopes: [], roles: ['Access.Automation'] });
    });

    it('accepts an app token without idtyp when it carries the role', async () => {
      const { idtyp: _, ...claims } = baseClaims('app');
      expect((await verifier().verify(await mint(primary, claims))).kind).toBe('app');
    });

    it('accepts a GUID tenant id configured in upper case', async () => {
      const principal = await verifier({ tenantId: TENANT.toUpperCase() }).verify(await mint(primary, baseClaims('v2-user')));
      expect(principal.tenantId).toBe(TENANT);
    });

    it('reports the groups claim and a group overage without trusting either', async () => {
      const withGroups = await verifier().verify(await mint(primary, { ...baseClaims('v2-user'), groups: ['g1', 'g2'] }));
      expect(withGroups).toMatchObject({ groupsClaim: ['g1', 'g2'], groupOverage: false });
      const overage = await verifier().verify(
        await mint(primary, {
          ...baseClaims('v2-user'),
          _claim_names: { groups: 'src1' },
          _claim_sources: { src1: { endpoint: 'https://graph.microsoft.com/v1.0/users/x/getMemberObjects' } },
        }),
      );
      expect(overage).toMatchObject({ groupsClaim: null, groupOverage: true });
    });

    it.each([
      ['expired 30 s ago, within the 60 s skew', { exp: NOW - 30 }],
      ['valid from 30 s from now, within the 60 s skew', { nbf: NOW + 30 }],
    ])('accepts a token %s', async (_, times) => {
      await expect(verifier().verify(await mint(primary, { ...baseClaims('v2-user'), ...times }))).resolves.toMatchObject({ oid: USER_OID });
    });
  });

  describe('refuses', () => {
    interface Row {
      name: string;
      token: () => Promise<string> | string;
      code: ErrorCode;
      /** Text the message must quote (the offending value). */
      says?: string;
      /** Refused from the header alone, before the JWKS is fetched. */
      noKeyFetch?: boolean;
    }
    const user = (extra: JWTPayload): JWTPayload => ({ ...baseClaims('v2-user'), ...extra });
    const rows: Row[] = [
      { name: 'a token that is not a JWT', token: () => 'not-a-jwt', code: 'token_malformed', noKeyFetch: true },
      { name: 'a JWE (five parts)', token: () => 'a.b.c.d.e', code: 'token_malformed', noKeyFetch: true },
      { name: 'a token whose header is not JSON', token: () => `${b64url('{nope')}.${encodeJson({})}.sig`, code: 'token_malformed', noKeyFetch: true },
      {
        name: 'an unsigned token (alg none)',
        token: () => handBuilt({ alg: 'none', typ: 'JWT' }, user({}), () => ''),
        code: 'token_algorithm_not_allowed',
        says: '"none"',
        noKeyFetch: true,
      },
      {
        name: 'an HS256 token signed with the RSA public key bytes (key confusion)',
        token: () => new SignJWT(user({})).setProtectedHeader({ alg: 'HS256', kid: primary.kid }).sign(new TextEncoder().encode(primary.spkiPem)),
        code: 'token_algorithm_not_allowed',
        says: '"HS256"',
        noKeyFetch: true,
      },
      {
        name: 'an HS256 token built by hand with the public key as HMAC secret',
        token: () =>
          handBuilt({ alg: 'HS256', kid: primary.kid }, user({}), (input) => createHmac('sha256', primary.spkiPem).update(input).digest('base64url')),
        code: 'token_algorithm_not_allowed',
        noKeyFetch: true,
      },
      {
        name: 'an RS512 token',
        token: async () => {
          const { privateKey } = preGeneratedKeyPair(3);
          return new SignJWT(user({})).setProtectedHeader({ alg: 'RS512', kid: primary.kid }).sign(privateKey);
        },
        code: 'token_algorithm_not_allowed',
        says: '"RS512"',
        noKeyFetch: true,
      },
      { name: 'a token whose header names no kid', token: () => mint(primary, user({}), { kid: undefined }), code: 'token_key_unknown', noKeyFetch: true },
      {
        name: "a token signed by another key under the tenant key's kid",
        token: () => mint(stranger, user({})),
        code: 'token_signature_invalid',
        says: '"key-1"',
      },
      {
        name: 'a token whose payload was altered after signing',
        token: async () => {
          const [h, , s] = (await mint(primary, user({}))).split('.');
          return `${h}.${encodeJson(user({ oid: 'someone-else' }))}.${s}`;
        },
        code: 'token_signature_invalid',
      },
      {
        name: 'a token that embeds its own signing key in the header (jwk/jku are ignored)',
        token: async () => mint(stranger, user({}), { jwk: stranger.jwk, jku: 'https://attacker.example/keys' }),
        code: 'token_signature_invalid',
      },
      {
        name: 'an expired token',
        token: () => mint(primary, user({ exp: NOW - 120 })),
        code: 'token_expired',
        says: new Date((NOW - 120) * 1000).toISOString(),
      },
      {
        name: 'a token that is not yet valid',
        token: () => mint(primary, user({ nbf: NOW + 120 })),
        code: 'token_not_yet_valid',
        says: new Date((NOW + 120) * 1000).toISOString(),
      },
      { name: 'a token without exp', token: () => mint(primary, user({ exp: undefined })), code: 'token_malformed', says: '"exp"' },
      {
        name: 'a token whose exp is not a number',
        token: () => mint(primary, user({ exp: 'tomorrow' as unknown as number })),
        code: 'token_malformed',
        says: '"tomorrow"',
      },
      {
        name: 'a token for another audience',
        token: () => mint(primary, user({ aud: 'https://graph.microsoft.com' })),
        code: 'token_audience_invalid',
        says: '"https://graph.microsoft.com"',
      },
      { name: 'a token without an audience', token: () => mint(primary, user({ aud: undefined })), code: 'token_audience_invalid' },
      {
        name: 'a token from a foreign issuer',
        token: () => mint(primary, user({ iss: 'https://accounts.google.com' })),
        code: 'token_issuer_invalid',
        says: '"https://accounts.google.com"',
      },
      {
        name: 'a token whose issuer only resembles the tenant issuer',
        token: () => mint(primary, user({ iss: `https://login.microsoftonline.com.evil.example/${TENANT}/v2.0` })),
        code: 'token_issuer_invalid',
      },
      { name: 'a token without an issuer', token: () => mint(primary, user({ iss: undefined })), code: 'token_issuer_invalid' },
      {
        name: 'a v2 token issued by another tenant',
        token: () => mint(primary, user({ iss: `https://login.microsoftonline.com/${OTHER_TENANT}/v2.0`, tid: OTHER_TENANT })),
        code: 'token_tenant_invalid',
        says: OTHER_TENANT,
      },
      {
        name: 'a v1 token issued by another tenant',
        token: () => mint(primary, { ...baseClaims('v1-user'), iss: `https://sts.windows.net/${OTHER_TENANT}/`, tid: OTHER_TENANT }),
        code: 'token_tenant_invalid',
        says: OTHER_TENANT,
      },
      {
        name: "a token with the tenant's issuer but another tid",
        token: () => mint(primary, user({ tid: OTHER_TENANT })),
        code: 'token_tenant_invalid',
        says: OTHER_TENANT,
      },
      { name: 'a token without tid', token: () => mint(primary, user({ tid: undefined })), code: 'token_tenant_invalid' },
      { name: 'a token without oid', token: () => mint(primary, user({ oid: undefined })), code: 'token_subject_missing' },
      {
        name: 'a user token without the required scope',
        token: () => mint(primary, user({ scp: 'User.Read openid' })),
        code: 'token_scope_missing',
        says: '"user_impersonation"',
      },
      { name: 'a user token (idtyp user) without any scp', token: () => mint(primary, user({ scp: undefined, idtyp: 'user' })), code: 'token_scope_missing' },
      {
        name: 'an app token without the required role',
        token: () => mint(primary, { ...baseClaims('app'), roles: ['Something.Else'] }),
        code: 'token_role_missing',
        says: '"Access.Automation"',
      },
      { name: 'an app token without any roles', token: () => mint(primary, { ...baseClaims('app'), roles: undefined }), code: 'token_role_missing' },
      {
        name: 'a v2 user token obtained by another client app of the tenant (azp)',
        token: () => mint(primary, user({ azp: 'some-other-app' })),
        code: 'token_client_invalid',
        says: '"some-other-app"',
      },
      {
        name: 'a v1 user token obtained by another client app of the tenant (appid)',
        token: () => mint(primary, { ...baseClaims('v1-user'), appid: 'some-other-app' }),
        code: 'token_client_invalid',
        says: '"some-other-app"',
      },
      { name: 'a user token that names no calling app', token: () => mint(primary, user({ azp: undefined })), code: 'token_client_invalid' },
      {
        name: 'an app token with the role from an app that is not a configured automation app',
        token: () => mint(primary, { ...baseClaims('app'), azp: 'unlisted-daemon' }),
        code: 'token_client_invalid',
        says: '"unlisted-daemon"',
      },
      {
        name: "an app token from the CLI's client id (the CLI is not an automation app)",
        token: () => mint(primary, { ...baseClaims('app'), azp: 'cli-client-id' }),
        code: 'token_client_invalid',
      },
    ];

    it.each(rows)('refuses $name with $code', async (row) => {
      const token = await row.token();
      const err = await refusal(verifier(), token);
      expect(err.code).toBe(row.code);
      expect(err.status).toBe(401);
      if (row.says) expect(err.message).toContain(row.says);
      expectNoTokenIn(err.message, token);
      if (row.noKeyFetch) expect(server.hits).toBe(0);
    });
  });

  describe('calling app', () => {
    it('compares client ids without regard to case, as GUIDs are', async () => {
      const v = verifier({ cliClientId: 'CLI-CLIENT-ID', automationClientIds: ['Automation-Client-Id'] });
      await expect(v.verify(await mint(primary, baseClaims('v2-user')))).resolves.toMatchObject({ kind: 'user' });
      await expect(v.verify(await mint(primary, baseClaims('app')))).resolves.toMatchObject({ kind: 'app' });
    });

    it('refuses every app token when no automation apps are configured, and says where to add one', async () => {
      const err = await refusal(verifier({ automationClientIds: [] }), await mint(primary, baseClaims('app')));
      expect(err.code).toBe('token_client_invalid');
      expect(err.message).toContain('tenant.automationApps');
    });
  });

  describe('clouds', () => {
    const usgovIssuer = `https://login.microsoftonline.us/${TENANT}/v2.0`;

    it('accepts the v2 issuer of the configured cloud', async () => {
      const principal = await verifier({ cloud: CLOUDS.usgov }).verify(await mint(primary, { ...baseClaims('v2-user'), iss: usgovIssuer }));
      expect(principal.oid).toBe(USER_OID);
    });

    it.each<[string, Cloud, string]>([
      ['a public-cloud token at a US Government broker', CLOUDS.usgov, V2_ISSUER],
      ['a US Government token at a public-cloud broker', CLOUDS.public, usgovIssuer],
      ['a China token at a public-cloud broker', CLOUDS.public, `https://login.chinacloudapi.cn/${TENANT}/v2.0`],
      ['a public-cloud v1 token at a China broker', CLOUDS.china, V1_ISSUER],
    ])('refuses %s with token_issuer_invalid', async (_, cloud, iss) => {
      const err = await refusal(verifier({ cloud }), await mint(primary, { ...baseClaims('v2-user'), iss }));
      expect(err.code).toBe('token_issuer_invalid');
      expect(err.message).toContain(iss);
    });

    it('accepts both sign-in hosts of the China cloud and its own v1 issuer', async () => {
      const v = verifier({ cloud: CLOUDS.china });
      for (const iss of [
        `https://login.chinacloudapi.cn/${TENANT}/v2.0`,
        `https://login.partner.microsoftonline.cn/${TENANT}/v2.0`,
        `https://sts.chinacloudapi.cn/${TENANT}/`,
      ]) {
        await expect(v.verify(await mint(primary, { ...baseClaims('v2-user'), iss }))).resolves.toMatchObject({ oid: USER_OID });
      }
    });

    it('tells another tenant of the configured cloud apart from another cloud', async () => {
      const err = await refusal(
        verifier({ cloud: CLOUDS.usgov }),
        await mint(primary, { ...baseClaims('v2-user'), iss: `https://login.microsoftonline.us/${OTHER_TENANT}/v2.0`, tid: OTHER_TENANT }),
      );
      expect(err.code).toBe('token_tenant_invalid');
    });
  });

  describe('signing keys', () => {
    it('fetches the keys once for concurrent verifications', async () => {
      const v = verifier();
      const token = await mint(primary, baseClaims('v2-user'));
      await Promise.all(Array.from({ length: 5 }, () => v.verify(token)));
      await v.verify(token);
      expect(server.hits).toBe(1);
    });

    it('refetches the keys for an unknown kid and refuses it with token_key_unknown when still unknown', async () => {
      const v = verifier({ jwksCooldownMs: 0 });
      await v.verify(await mint(primary, baseClaims('v2-user')));
      expect(server.hits).toBe(1);
      const token = await mint({ ...stranger, kid: 'never-published' }, baseClaims('v2-user'));
      const err = await refusal(v, token);
      expect(err.code).toBe('token_key_unknown');
      expect(err.message).toContain('"never-published"');
      expectNoTokenIn(err.message, token);
      expect(server.hits).toBe(2);
    });

    it('does not refetch for an unknown kid within the cooldown', async () => {
      const v = verifier({ jwksCooldownMs: 60_000 });
      await v.verify(await mint(primary, baseClaims('v2-user')));
      const err = await refusal(v, await mint({ ...stranger, kid: 'never-published' }, baseClaims('v2-user')));
      expect(err.code).toBe('token_key_unknown');
      expect(server.hits).toBe(1);
    });

    it('accepts a token signed by a newly published key after the cooldown, without a new verifier', async () => {
      // jose times the cooldown with Date.now(): a frozen clock keeps it cooling down however slow
      // the machine is, and moving the clock on ends it (timers stay real, for the HTTP fetches).
      vi.useFakeTimers({ toFake: ['Date'] });
      onTestFinished(() => {
        vi.useRealTimers();
      });
      const cooldownMs = 50;
      const v = verifier({ jwksCooldownMs: cooldownMs });
      await v.verify(await mint(primary, baseClaims('v2-user')));
      server.keys = [primary.jwk, rotated.jwk]; // the tenant starts publishing the next key
      const rotatedToken = await mint(rotated, baseClaims('v2-user'));
      expect((await refusal(v, rotatedToken)).code).toBe('token_key_unknown'); // still cooling down: no refetch
      expect(server.hits).toBe(1);

      vi.setSystemTime(Date.now() + cooldownMs * 3);
      await expect(v.verify(rotatedToken)).resolves.toMatchObject({ oid: USER_OID });
      expect(server.hits).toBe(2);
      await expect(v.verify(await mint(primary, baseClaims('v2-user')))).resolves.toMatchObject({ oid: USER_OID });
      expect(server.hits).toBe(2);
    });

    it('refetches keys older than the cache max age', async () => {
      const v = verifier({ jwksCacheMaxAgeMs: 0 });
      // Two tokens: the same token again is taken from the verified-token cache (below), without keys.
      await v.verify(await mint(primary, { ...baseClaims('v2-user'), jti: 'first' }));
      await v.verify(await mint(primary, { ...baseClaims('v2-user'), jti: 'second' }));
      expect(server.hits).toBe(2);
    });

    it('accepts a token it verified moments ago without verifying its signature again, for VERIFIED_TOKEN_REUSE_MS', async () => {
      let clock = NOW_MS;
      // Keys are refetched for every full verification, so a full one fails while the endpoint is down.
      const v = verifier({ jwksCacheMaxAgeMs: 0, now: () => clock });
      const token = await mint(primary, baseClaims('v2-user'));
      const first = await v.verify(token);
      server.mode = 'error';
      clock += VERIFIED_TOKEN_REUSE_MS - 1;
      await expect(v.verify(token)).resolves.toEqual(first);
      expect(server.hits).toBe(1);
      clock += 1;
      expect((await refusal(v, token)).code).toBe('jwks_unavailable');
    });

    it('refuses a token it verified before once the token has expired, however recently it was verified', async () => {
      let clock = NOW_MS;
      const v = verifier({ now: () => clock });
      const token = await mint(primary, { ...baseClaims('v2-user'), exp: NOW + 30 });
      await v.verify(token);
      // Past exp and the 60 s clock tolerance, still inside the reuse window.
      clock += 91_000;
      expect((await refusal(v, token)).code).toBe('token_expired');
    });

    it('answers jwks_unavailable (503) when the JWKS endpoint is down', async () => {
      const down = await KeyServer.start();
      const { origin, jwksUri } = down;
      await down.close();
      const v = verifier({ jwksUri, transport: new HttpTransport({ plaintextOrigins: [origin] }) });
      const token = await mint(primary, baseClaims('v2-user'));
      const err = await refusal(v, token);
      expect(err.code).toBe('jwks_unavailable');
      expect(err.status).toBe(503);
      expect(err.message).toContain(jwksUri);
      expectNoTokenIn(err.message, token);
    });

    it.each([
      ['answers HTTP 500', 'error', 'HTTP 500'],
      ['answers something that is not JSON', 'garbage', 'JSON'],
      ['never answers', 'hang', 'within 100 ms'],
    ] as const)('answers jwks_unavailable when the JWKS endpoint %s', async (_, mode, says) => {
      server.mode = mode;
      const err = await refusal(verifier({ jwksTimeoutMs: 100 }), await mint(primary, baseClaims('v2-user')));
      expect(err.code).toBe('jwks_unavailable');
      expect(err.message).toContain(says);
    });

    it('answers jwks_unavailable for a published key below 2048 bits', async () => {
      const weak = generateKeyPairSync('rsa', { modulusLength: 1024 });
      server.keys = [{ ...(weak.publicKey.export({ format: 'jwk' }) as JWK), kid: 'weak', use: 'sig' }];
      const token = handBuilt({ alg: 'RS256', typ: 'JWT', kid: 'weak' }, baseClaims('v2-user'), rs256With(weak.privateKey));
      const err = await refusal(verifier(), token);
      expect(err.code).toBe('jwks_unavailable');
      expect(err.message).toContain('1024 bits');
    });
  });

  describe('configuration', () => {
    it.each<[string, Partial<TokenVerifierOptions>]>([
      ['a multi-tenant alias as tenant', { tenantId: 'common' }],
      ['an empty tenant', { tenantId: '' }],
      ['no audiences', { audiences: [] }],
      ['an http JWKS URI', { jwksUri: 'http://login.example/keys' }],
      ['a JWKS URI that is not a URL', { jwksUri: 'keys' }],
      ['a negative clock tolerance', { clockToleranceSec: -1 }],
      ['no CLI client id', { cliClientId: '' }],
    ])('refuses %s', (_, overrides) => {
      expect(() => verifier(overrides)).toThrow(expect.objectContaining({ code: 'config_invalid' }));
    });
  });
});
