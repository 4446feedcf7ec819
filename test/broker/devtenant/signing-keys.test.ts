// The dev tenant's own key source (generateSigningKey, used whenever no newSigningKey is given):
// tests elsewhere sign with pre-generated keys, so this is where a fresh key is checked.

import { createPrivateKey } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, SigningKeys } from '../../../broker/devtenant/signing-keys.js';

describe('generateSigningKey', () => {
  it('makes an RSA 2048 key whose kid is its RFC 7638 thumbprint, stamped with the given time', async () => {
    const key = await generateSigningKey(1_700_000_000_000);
    expect(key.createdAt).toBe(1_700_000_000_000);
    const privateKey = createPrivateKey({ key: key.privateJwk, format: 'jwk' });
    expect(privateKey.asymmetricKeyType).toBe('rsa');
    expect(privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(key.kid).toBe(await calculateJwkThumbprint({ kty: 'RSA', n: String(key.privateJwk.n), e: String(key.privateJwk.e) }));
    expect(new SigningKeys([key]).jwks('https://issuer.example').keys).toEqual([expect.objectContaining({ kid: key.kid, kty: 'RSA', use: 'sig' })]);
  });
});
