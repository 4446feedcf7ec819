// The signed identity an http resource's target may verify instead of trusting plain headers: a
// short-lived JWT (`X-Access-Token`) the broker signs for each request with its own key, whose
// public half is served as a JWKS at `GET /v1/identity/jwks` (no sign-in needed). A target checks:
//
//   alg ES256, a `kid` found in the JWKS; iss = ISSUER; aud = the resource's name;
//   exp/iat (lifetime IDENTITY_TOKEN_TTL_SECONDS); then reads sub (the person's Entra object id),
//   upn, sid (the tunnel session) and grant.
//
// The key lives in the database (store/identity-keys.ts): the first broker to start makes it and
// every broker on that database signs with it and publishes it, so a target behind a load
// balancer verifies a token whichever broker signed it and whichever broker served its JWKS. Keys
// are not rotated on a schedule; replacing the key is deleting its row while the brokers are
// stopped (a target's JWKS client fetches the set again on an unknown `kid`, as jose's
// createRemoteJWKSet does).

import { createHash, createPrivateKey, generateKeyPairSync, type JsonWebKey, type KeyObject } from 'node:crypto';
import { SignJWT, type JWK } from 'jose';
import type { IdentityKeyStore, StoredIdentityKey } from '../../store/identity-keys.js';

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
  readonly #signing: { kid: string; key: KeyObject };
  readonly #jwks: { keys: JWK[] };

  /** Signs with the newest of `keys` and publishes them all. Default: a key of its own, in memory only (tests). */
  constructor(keys: readonly StoredIdentityKey[] = [newIdentityKey(Date.now())]) {
    const newest = keys.at(-1);
    if (!newest) throw new Error('IdentityTokens needs at least one key');
    this.#signing = { kid: newest.kid, key: createPrivateKey({ key: newest.privateJwk as JsonWebKey, format: 'jwk' }) };
    this.#jwks = { keys: keys.map((k) => k.publicJwk) };
  }

  /** The keys every broker on the database shares: the stored ones, or one made now if there are none. */
  static shared(store: IdentityKeyStore, now: number): IdentityTokens {
    return new IdentityTokens(store.loadOrCreate(() => newIdentityKey(now)));
  }

  /** The JWKS a target verifies tokens with. */
  async jwks(): Promise<{ keys: JWK[] }> {
    return this.#jwks;
  }

  /** A token for one request made at `now` (ms). */
  async sign(claims: IdentityClaims, now: number): Promise<string> {
    const iat = Math.floor(now / 1000);
    return new SignJWT({ upn: claims.upn, sid: claims.session, grant: claims.grant })
      .setProtectedHeader({ alg: IDENTITY_TOKEN_ALG, typ: 'JWT', kid: this.#signing.kid })
      .setIssuer(ISSUER)
      .setAudience(claims.resource)
      .setSubject(claims.oid)
      .setIssuedAt(iat)
      .setExpirationTime(iat + IDENTITY_TOKEN_TTL_SECONDS)
      .sign(this.#signing.key);
  }
}

/** A fresh P-256 key pair as JWKs, its `kid` the RFC 7638 thumbprint of the public key. */
export function newIdentityKey(now: number): StoredIdentityKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { crv, kty, x, y } = publicKey.export({ format: 'jwk' });
  // RFC 7638: the required members, in lexicographic order, without whitespace.
  const kid = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
  return {
    kid,
    privateJwk: privateKey.export({ format: 'jwk' }) as JWK,
    publicJwk: { crv, kty, x, y, kid, alg: IDENTITY_TOKEN_ALG, use: 'sig' } as JWK,
    createdAt: now,
  };
}
