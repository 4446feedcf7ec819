// The dev tenant's token signing keys: RSA 2048, published as a JWKS the way Entra publishes its
// keys, newest one used for signing. Rotation keeps recent keys published so tokens signed before
// the rotation still verify until they expire.

import { createPrivateKey, createPublicKey, generateKeyPair, type JsonWebKey, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint } from 'jose';

/** Entra signs with RSA 2048; so do we, so the broker's RS256-only validation runs unchanged. */
const RSA_MODULUS_BITS = 2048;
/**
 * Keys kept in the JWKS after rotations (the newest signs). Three covers a rotation during the
 * lifetime of tokens signed by the previous key, and a second rotation in a test, without letting
 * the JWKS grow without bound.
 */
export const MAX_PUBLISHED_KEYS = 3;

/** A key as persisted in the tenant state. */
export interface StoredSigningKey {
  kid: string;
  /** Milliseconds since the epoch (the tenant's clock). */
  createdAt: number;
  privateJwk: JsonWebKey;
}

/** The public half as published in the JWKS. */
export interface PublishedKey {
  kty: string;
  use: 'sig';
  kid: string;
  n: string;
  e: string;
  issuer: string;
}

interface LoadedKey {
  readonly kid: string;
  readonly stored: StoredSigningKey;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

const generateRsa = promisify(generateKeyPair);

/** Makes the key a fresh tenant starts with and each rotation adds; `createdAt` is the tenant's clock. */
export type NewSigningKey = (createdAt: number) => Promise<StoredSigningKey>;

/** The default NewSigningKey: a fresh RSA 2048 key (tens to hundreds of milliseconds of CPU). */
export async function generateSigningKey(createdAt: number): Promise<StoredSigningKey> {
  const { privateKey } = await generateRsa('rsa', { modulusLength: RSA_MODULUS_BITS });
  const privateJwk = privateKey.export({ format: 'jwk' });
  // The kid is the RFC 7638 thumbprint: derived from the key, so it never collides or drifts.
  const kid = await calculateJwkThumbprint({ kty: 'RSA', n: String(privateJwk.n), e: String(privateJwk.e) });
  return { kid, createdAt, privateJwk };
}

export class SigningKeys {
  #keys: LoadedKey[];

  /** `stored` is oldest first; the last one signs. */
  constructor(stored: readonly StoredSigningKey[]) {
    if (stored.length === 0) throw new Error('the dev tenant needs at least one signing key');
    this.#keys = stored.map(load);
  }

  /** The key new tokens are signed with. */
  get active(): { kid: string; privateKey: KeyObject } {
    return this.#keys[this.#keys.length - 1] as LoadedKey;
  }

  publicKey(kid: string): KeyObject | undefined {
    return this.#keys.find((k) => k.kid === kid)?.publicKey;
  }

  /** Throws unless every stored key loads (used to report a damaged state file early). */
  static check(stored: readonly StoredSigningKey[]): void {
    for (const key of stored) load(key);
  }

  /** Makes `key` the signing key, keeping at most MAX_PUBLISHED_KEYS published. */
  add(key: StoredSigningKey): void {
    this.#keys = [...this.#keys, load(key)].slice(-MAX_PUBLISHED_KEYS);
  }

  stored(): StoredSigningKey[] {
    return this.#keys.map((k) => k.stored);
  }

  /** The JWKS document, newest key first (Entra lists its current key first too). */
  jwks(issuer: string): { keys: PublishedKey[] } {
    return {
      keys: [...this.#keys].reverse().map((k) => {
        const jwk = k.publicKey.export({ format: 'jwk' });
        return { kty: String(jwk.kty), use: 'sig', kid: k.kid, n: String(jwk.n), e: String(jwk.e), issuer };
      }),
    };
  }
}

function load(stored: StoredSigningKey): LoadedKey {
  const privateKey = createPrivateKey({ key: stored.privateJwk, format: 'jwk' });
  return { kid: stored.kid, stored, privateKey, publicKey: createPublicKey(privateKey) };
}
