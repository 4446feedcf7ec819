import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PublicClientApplication, TokenCacheContext, type ICachePlugin, type INetworkModule, type NetworkResponse } from '@azure/msal-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { FileSecretStore, type SecretStore } from '../../../cli/auth/secret-store.js';
import { tokenCachePlugin } from '../../../cli/auth/token-cache-plugin.js';
import { AccessError } from '../../../shared/errors.js';

const tenantId = '11111111-2222-3333-4444-555555555555';
const oid = 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee';
const clientId = '99999999-8888-7777-6666-555555555555';
const authority = `https://login.microsoftonline.com/${tenantId}`;
/** MSAL keys its cache by the cloud's "preferred cache" alias, which for the public cloud is this. */
const environment = 'login.windows.net';
const homeAccountId = `${oid}.${tenantId}`;
const scope = `api://access-broker/access`;

const b64url = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const clientInfo = b64url({ uid: oid, utid: tenantId });
/** MSAL reads the id token's claims but never checks its signature on the client. */
const idToken = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({
  tid: tenantId,
  oid,
  sub: oid,
  preferred_username: 'ada@example.com',
  name: 'Ada',
  aud: clientId,
  iss: `${authority}/v2.0`,
  iat: 1,
  exp: 4_102_444_800,
})}.`;

/**
 * What MSAL's cache holds right after a sign-in: account, id token and refresh token, in MSAL's
 * schema with the keys MSAL 7 itself generates (so a refresh replaces the entry instead of adding one).
 */
function signedInCache(refreshToken: string): string {
  return JSON.stringify({
    Account: {
      [`${homeAccountId}-${environment}-${tenantId}`]: {
        home_account_id: homeAccountId,
        environment,
        realm: tenantId,
        local_account_id: oid,
        username: 'ada@example.com',
        name: 'Ada',
        authority_type: 'MSSTS',
        client_info: clientInfo,
      },
    },
    IdToken: {
      [`${homeAccountId}-${environment}-idtoken-${clientId}-${tenantId}--`]: {
        home_account_id: homeAccountId,
        environment,
        credential_type: 'IdToken',
        client_id: clientId,
        secret: idToken,
        realm: tenantId,
      },
    },
    AccessToken: {},
    RefreshToken: {
      [`${homeAccountId}-${environment}-refreshtoken-${clientId}---`]: {
        home_account_id: homeAccountId,
        environment,
        credential_type: 'RefreshToken',
        client_id: clientId,
        secret: refreshToken,
      },
    },
    AppMetadata: {},
  });
}

/**
 * Stands in for Entra on MSAL's network interface: answers discovery, and redeems the refresh
 * token `rt-1` for an access token and `rt-2`. Records the token requests it saw.
 */
function fakeEntra(): { network: INetworkModule; tokenRequests: string[] } {
  const tokenRequests: string[] = [];
  const reply = <T>(body: unknown, status = 200): NetworkResponse<T> => ({ status, headers: {}, body: body as T });
  const network: INetworkModule = {
    async sendGetRequestAsync<T>(url: string): Promise<NetworkResponse<T>> {
      if (url.includes('/discovery/instance')) {
        return reply<T>({
          tenant_discovery_endpoint: `${authority}/v2.0/.well-known/openid-configuration`,
          metadata: [
            {
              preferred_network: 'login.microsoftonline.com',
              preferred_cache: environment,
              aliases: ['login.microsoftonline.com', environment],
            },
          ],
        });
      }
      if (url.includes('/.well-known/openid-configuration')) {
        return reply<T>({
          authorization_endpoint: `${authority}/oauth2/v2.0/authorize`,
          token_endpoint: `${authority}/oauth2/v2.0/token`,
          end_session_endpoint: `${authority}/oauth2/v2.0/logout`,
          issuer: `${authority}/v2.0`,
          jwks_uri: `${authority}/discovery/v2.0/keys`,
        });
      }
      return reply<T>({ error: 'not_found' }, 404);
    },
    async sendPostRequestAsync<T>(url: string, options?: { body?: string }): Promise<NetworkResponse<T>> {
      const form = new URLSearchParams(options?.body ?? '');
      tokenRequests.push(`${form.get('grant_type')} ${form.get('refresh_token')}`);
      if (!new URL(url).pathname.endsWith('/token') || form.get('refresh_token') !== 'rt-1') {
        return reply<T>({ error: 'invalid_grant', error_description: 'unknown refresh token' }, 400);
      }
      return reply<T>({
        token_type: 'Bearer',
        scope: `${scope} openid profile offline_access`,
        expires_in: 3600,
        ext_expires_in: 3600,
        access_token: 'at-from-refresh',
        refresh_token: 'rt-2',
        id_token: idToken,
        client_info: clientInfo,
      });
    },
  };
  return { network, tokenRequests };
}

function msalClient(plugin: ICachePlugin, network: INetworkModule = fakeEntra().network): PublicClientApplication {
  return new PublicClientApplication({
    auth: { clientId, authority },
    cache: { cachePlugin: plugin },
    system: { networkClient: network },
  });
}

let root: string;
let store: FileSecretStore;
beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'access-cache-'));
  store = new FileSecretStore(join(root, 'home', 'tokens.json'));
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('tokenCachePlugin', () => {
  it('persists a changed MSAL cache and a fresh client deserializes it', async () => {
    const first = msalClient(tokenCachePlugin(store));
    first.getTokenCache().deserialize(signedInCache('rt-1'));
    await tokenCachePlugin(store).afterCacheAccess(new TokenCacheContext(first.getTokenCache(), true));

    const stored = await store.read();
    expect(stored).toContain('rt-1');

    const second = msalClient(tokenCachePlugin(new FileSecretStore(store.path)));
    const accounts = await second.getTokenCache().getAllAccounts();
    expect(accounts.map((a) => [a.username, a.homeAccountId])).toEqual([['ada@example.com', homeAccountId]]);
  });

  it('does not write when MSAL reports no change', async () => {
    const write = vi.fn<SecretStore['write']>();
    const quiet: SecretStore = { kind: 'file', description: 'fake', read: async () => null, write, clear: async () => undefined };
    const client = msalClient(tokenCachePlugin(quiet));

    await client.getTokenCache().getAllAccounts();
    await tokenCachePlugin(quiet).afterCacheAccess(new TokenCacheContext(client.getTokenCache(), false));

    expect(write).not.toHaveBeenCalled();
  });

  it('persists the tokens of a silent refresh, so the next process needs no network', async () => {
    await store.write(signedInCache('rt-1'));

    const entra = fakeEntra();
    const first = msalClient(tokenCachePlugin(store), entra.network);
    const [account] = await first.getTokenCache().getAllAccounts();
    expect(account).toBeDefined();
    const refreshed = await first.acquireTokenSilent({ account: account!, scopes: [scope] });
    expect(refreshed.accessToken).toBe('at-from-refresh');
    expect(entra.tokenRequests).toEqual(['refresh_token rt-1']);

    // MSAL itself called afterCacheAccess: the rotated refresh token and the access token are on disk.
    const onDisk = await readFile(store.path, 'utf8');
    expect(onDisk).toContain('rt-2');
    expect(onDisk).not.toContain('"rt-1"');
    expect(onDisk).toContain('at-from-refresh');

    const offline = fakeEntra();
    const second = msalClient(tokenCachePlugin(new FileSecretStore(store.path)), offline.network);
    const [again] = await second.getTokenCache().getAllAccounts();
    const cached = await second.acquireTokenSilent({ account: again!, scopes: [scope] });
    expect(cached.accessToken).toBe('at-from-refresh');
    expect(offline.tokenRequests).toEqual([]);
  });

  it('persists a sign-out made through MSAL', async () => {
    await store.write(signedInCache('rt-1'));
    const client = msalClient(tokenCachePlugin(store));
    const cache = client.getTokenCache();
    const [account] = await cache.getAllAccounts();

    await cache.removeAccount(account!);

    const fresh = msalClient(tokenCachePlugin(new FileSecretStore(store.path)));
    expect(await fresh.getTokenCache().getAllAccounts()).toEqual([]);
    expect(await readFile(store.path, 'utf8')).not.toContain('rt-1');
  });

  for (const [name, content] of [
    ['text that is not JSON', 'not json {'],
    ['an empty file', ''],
    ['a JSON array', '[]'],
    ['a JSON string', '"tokens"'],
  ] as const) {
    it(`refuses a cache holding ${name}, naming the store and \`access logout\``, async () => {
      await store.write(content);
      const client = msalClient(tokenCachePlugin(store));

      const failure = await client
        .getTokenCache()
        .getAllAccounts()
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(failure).toBeInstanceOf(AccessError);
      const error = failure as AccessError;
      expect(error.code).toBe('secret_store_failed');
      expect(error.message).toContain(store.description);
      expect(error.message).toContain('access logout');
      // The evidence stays where it was until the person clears it.
      expect(await readFile(store.path, 'utf8')).toBe(content);
    });
  }
});
