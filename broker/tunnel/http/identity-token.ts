// The signed identity an http resource's target may verify instead of trusting plain headers: a
// short-lived JWT (`X-Access-Token`) the broker signs for each request with its own key, whose
// public half is served as a JWKS at `GET /v1/identity/jwks` (no sign-in needed). A target checks:
//
//   alg ES256, a `kid` found in the JWKS; iss = ISSUER; aud = the resource's name;
//   exp/iat (lifetime IDENTITY_TOKEN_TTL_SECONDS); then reads sub (the person's Entra object id),
//   upn, sid (the tunnel session) and grant.
//
// The key lives in memory: a broker makes a new one at each start (a target's JWKS client fetches
// the set again on an unknown `kid`, as jose's createRemoteJWKSet does). Several brokers behind one
// address each serve their own key; such a target should fetch each broker's JWKS.

import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, SignJWT, type JWK } from 'jose';

/** The `iss` of every identity token. */
export const ISSUER = 'access-broker';
/**
 * Lifetime of one token. A request is signed as the broker forwards it; a minute covers clock skew
 * between broker and target while keeping a leaked token nearly worthless.
 */
export const IDENTITY_TOKEN_TTL_SECONDS = 60;
export const IDENTITY_TOKEN_ALG = 'ES256';

export interface IdentityClaims {
  oid: string;
  upn: string | null;
  resource: string;
  session: string;
  grant: string;
}

export class IdentityTokens {
  readonly #privateKey: KeyObject;
  readonly #publicJwk: Promise<JWK>;

  constructor() {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.#privateKey = privateKey;
    this.#publicJwk = (async () => {
      const jwk = await exportJWK(publicKey);
      return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: IDENTITY_TOKEN_ALG, use: 'sig' };
    })();
  }

  /** The JWKS a target verifies tokens with. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return { keys: [await this.#publicJwk] };
  }

  /** A token for one request made at `now` (ms). */
  async sign(claims: IdentityClaims, now: number): Promise<string> {
    const { kid } = await this.#publicJwk;
    const iat = Math.floor(now / 1000);
    return new SignJWT({ upn: claims.upn, sid: claims.session, grant: claims.grant })
      .setProtectedHeader({ alg: IDENTITY_TOKEN_ALG, typ: 'JWT', ...(kid ? { kid } : {}) })
      .setIssuer(ISSUER)
      .setAudience(claims.resource)
      .setSubject(claims.oid)
      .setIssuedAt(iat)
      .setExpirationTime(iat + IDENTITY_TOKEN_TTL_SECONDS)
      .sign(this.#privateKey);
  }
}
