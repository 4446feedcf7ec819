// tls-server-end-point (RFC 5929): the certificate's DER hashed with its signature's hash, SHA-256
// for MD5 and SHA-1; null when that hash cannot be told (the broker then does not bind).

import { createHash, X509Certificate } from 'node:crypto';
import { generate } from 'selfsigned';
import { describe, expect, it } from 'vitest';
import { serverEndPoint } from '../../../../broker/tunnel/postgres/channel-binding.js';

async function der(options: { keyType: 'ec' | 'rsa'; algorithm: string }): Promise<Buffer> {
  const { cert } = await generate([{ name: 'commonName', value: 'db' }], { ...options, keySize: 2048 });
  return new X509Certificate(cert).raw;
}

describe('serverEndPoint', () => {
  it.each([
    ['ECDSA with SHA-256', { keyType: 'ec' as const, algorithm: 'sha256' }, 'sha256'],
    ['RSA with SHA-384', { keyType: 'rsa' as const, algorithm: 'sha384' }, 'sha384'],
    ['RSA with SHA-512', { keyType: 'rsa' as const, algorithm: 'sha512' }, 'sha512'],
    ['RSA with SHA-1 (hashed with SHA-256 instead)', { keyType: 'rsa' as const, algorithm: 'sha1' }, 'sha256'],
  ])('hashes a certificate signed %s as the RFC says', async (_, options, hash) => {
    const certificate = await der(options);
    expect(serverEndPoint(certificate)).toEqual(createHash(hash).update(certificate).digest());
  });

  it('is null for bytes that are not a certificate', () => {
    expect(serverEndPoint(Buffer.from('not a certificate'))).toBeNull();
    expect(serverEndPoint(Buffer.alloc(0))).toBeNull();
  });
});
