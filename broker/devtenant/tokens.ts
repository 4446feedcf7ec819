// Tokens of the dev tenant, shaped like Entra's so the broker's normal validation runs unchanged:
// RS256 with a published kid, Microsoft issuers (v2 `login.microsoftonline.com/{tid}/v2.0` for the
// API and id tokens, v1 `sts.windows.net/{tid}/` for Graph), pairwise `sub`, `groups` up to the
// 200-group limit and the overage marker above it. Refresh tokens are self-contained (HMAC with a
// persisted secret) so they survive a restart with a data dir, as real refresh tokens do.

import { createHash, randomBytes } from 'node:crypto';
import { errors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import { CLOUDS, v1IssuerOf, v2IssuersOf, type Cloud } from '../identity/clouds.js';
import type { DirectoryGroup, DirectoryUser } from './directory.js';
import type { SignInRecord } from './sign-in-claims.js';
import type { SigningKeys } from './signing-keys.js';

/** Microsoft Graph of the public cloud (a tenant presenting another cloud uses that cloud's: clouds.ts). */
export const GRAPH_RESOURCE = CLOUDS.public.graphHost;
/** Microsoft Graph's well-known application id (also accepted as a Graph `aud`). */
export const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
/** Entra leaves `groups` out of a JWT above this many groups and sends the overage marker instead. */
export const MAX_GROUPS_IN_TOKEN = 200;
/** Entra's default refresh token lifetime for public clients (90 days, sliding). */
export const REFRESH_TOKEN_LIFETIME_SEC = 90 * 24 * 3600;
/** Issuer of our refresh tokens: deliberately not a Microsoft issuer, so none is mistaken for an access token. */
const REFRESH_ISSUER = 'urn:access:dev-tenant:refresh-token';

export interface TokenIssuerOptions {
  tenantId: string;
  keys: SigningKeys;
  refreshTokenSecret: string;
  accessTokenLifetimeSec: number;
  /** The cloud whose issuers and Graph the tokens name. Default CLOUDS.public. */
  cloud?: Cloud;
  now: () => number;
}

/** An app (service principal) as a token subject. */
export interface AppPrincipal {
  clientId: string;
  servicePrincipalId: string;
  displayName: string;
}

export type RefreshCheck = { ok: true; oid: string; signIn: SignInRecord } | { ok: false; reason: 'invalid' | 'expired' | 'other_client' };

export class TokenIssuer {
  readonly #o: TokenIssuerOptions;
  readonly #refreshKey: Uint8Array;

  constructor(options: TokenIssuerOptions) {
    this.#o = options;
    this.#refreshKey = Buffer.from(options.refreshTokenSecret, 'base64url');
  }

  get accessTokenLifetimeSec(): number {
    return this.#o.accessTokenLifetimeSec;
  }

  /** The v1 issuer of this tenant in its cloud (Graph's tokens, v1 API tokens). */
  get v1Issuer(): string {
    return v1IssuerOf(this.#cloud, this.#o.tenantId);
  }

  /** The v2 issuer Entra writes into new tokens of this tenant in its cloud. */
  get v2Issuer(): string {
    return v2IssuersOf(this.#cloud, this.#o.tenantId)[0] as string;
  }

  /** Microsoft Graph of the cloud, as the `aud` of Graph tokens. */
  get graphResource(): string {
    return this.#cloud.graphHost;
  }

  get #cloud(): Cloud {
    return this.#o.cloud ?? CLOUDS.public;
  }

  /** A v2 delegated access token for the API, as the CLI gets from the device code flow. */
  userAccessToken(input: {
    user: DirectoryUser;
    groups: readonly DirectoryGroup[];
    clientId: string;
    apiClientId: string;
    scopes: readonly string[];
    /** What the sign-in proved: amr, acrs (when any) and auth_time go into the token. */
    signIn: SignInRecord;
  }): Promise<string> {
    const { user, groups } = input;
    const tenantId = this.#o.tenantId;
    const groupClaims: JWTPayload =
      groups.length <= MAX_GROUPS_IN_TOKEN
        ? { groups: groups.map((g) => g.id) }
        : {
            _claim_names: { groups: 'src1' },
            _claim_sources: {
              src1: { endpoint: `https://graph.windows.net/${tenantId}/users/${user.oid}/getMemberObjects` },
            },
          };
    return this.#sign({
      aud: input.apiClientId,
      iss: this.v2Issuer,
      azp: input.clientId,
      azpacr: '0',
      name: user.name,
      oid: user.oid,
      preferred_username: user.upn,
      scp: input.scopes.join(' '),
      sub: pairwiseSubject(user.oid, input.apiClientId),
      tid: tenantId,
      ver: '2.0',
      amr: input.signIn.amr,
      ...(input.signIn.acrs.length > 0 ? { acrs: input.signIn.acrs } : {}),
      auth_time: input.signIn.authTime,
      ...groupClaims,
    });
  }

  /** The v2 id token MSAL builds its account from. */
  idToken(user: DirectoryUser, clientId: string): Promise<string> {
    return this.#sign({
      aud: clientId,
      iss: this.v2Issuer,
      name: user.name,
      oid: user.oid,
      preferred_username: user.upn,
      sub: pairwiseSubject(user.oid, clientId),
      tid: this.#o.tenantId,
      ver: '2.0',
    });
  }

  /** An app-only token: v1 for Graph (as Graph's tokens are), v2 for the API. */
  appToken(input: { app: AppPrincipal; resource: 'graph' | 'api'; apiClientId: string; roles: readonly string[] }): Promise<string> {
    const tenantId = this.#o.tenantId;
    const roles = input.roles.length ? { roles: [...input.roles] } : {};
    const common = { oid: input.app.servicePrincipalId, sub: input.app.servicePrincipalId, tid: tenantId, idtyp: 'app', ...roles };
    if (input.resource === 'graph') {
      return this.#sign({
        aud: this.graphResource,
        iss: this.v1Issuer,
        app_displayname: input.app.displayName,
        appid: input.app.clientId,
        appidacr: '1',
        idp: this.v1Issuer,
        ver: '1.0',
        ...common,
      });
    }
    return this.#sign({
      aud: input.apiClientId,
      iss: this.v2Issuer,
      azp: input.app.clientId,
      azpacr: '1',
      ver: '2.0',
      ...common,
    });
  }

  /** A refresh token bound to the client and the user's object id, carrying what the sign-in proved. */
  refreshToken(oid: string, clientId: string, signIn: SignInRecord): Promise<string> {
    const now = this.#seconds();
    return new SignJWT({ tid: this.#o.tenantId, token_use: 'refresh', amr: signIn.amr, acrs: signIn.acrs, auth_time: signIn.authTime })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer(REFRESH_ISSUER)
      .setSubject(oid)
      .setAudience(clientId)
      .setIssuedAt(now)
      .setExpirationTime(now + REFRESH_TOKEN_LIFETIME_SEC)
      .setJti(randomBytes(16).toString('base64url'))
      .sign(this.#refreshKey);
  }

  async checkRefreshToken(token: string, clientId: string): Promise<RefreshCheck> {
    try {
      const { payload } = await jwtVerify(token, this.#refreshKey, {
        algorithms: ['HS256'],
        issuer: REFRESH_ISSUER,
        audience: clientId,
        currentDate: new Date(this.#o.now()),
      });
      if (payload.tid !== this.#o.tenantId || payload.token_use !== 'refresh' || !payload.sub) {
        return { ok: false, reason: 'invalid' };
      }
      return { ok: true, oid: payload.sub, signIn: signInOf(payload) };
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { ok: false, reason: 'expired' };
      if (error instanceof errors.JWTClaimValidationFailed && error.claim === 'aud') return { ok: false, reason: 'other_client' };
      return { ok: false, reason: 'invalid' };
    }
  }

  #seconds(): number {
    return Math.floor(this.#o.now() / 1000);
  }

  #sign(claims: JWTPayload): Promise<string> {
    const now = this.#seconds();
    const key = this.#o.keys.active;
    return new SignJWT({ ...claims, uti: randomBytes(16).toString('base64url') })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid: key.kid })
      .setIssuedAt(now)
      .setNotBefore(now)
      .setExpirationTime(now + this.#o.accessTokenLifetimeSec)
      .sign(key.privateKey);
  }
}

/** The sign-in a refresh token carries; one from before sign-ins were recorded counts as a password sign-in at its issue. */
function signInOf(payload: JWTPayload): SignInRecord {
  const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : []);
  const amr = strings(payload['amr']);
  const authTime = typeof payload['auth_time'] === 'number' ? payload['auth_time'] : (payload.iat ?? 0);
  return { amr: amr.length > 0 ? amr : ['pwd'], acrs: strings(payload['acrs']), authTime };
}

/**
 * Entra's `sub` is pairwise: the same user has a different `sub` in each application. Reproducing
 * that keeps anyone from keying users on `sub` by accident; the stable key is `oid`.
 */
function pairwiseSubject(oid: string, appId: string): string {
  return createHash('sha256').update(`${oid}:${appId}`).digest('base64url').slice(0, 43);
}
