// The password proofs of MySQL's two common authentication plugins, for the broker's own logins
// (KILL QUERY at a cut, kill.ts). Neither sends the password: each hashes it with the server's
// 20-byte nonce (the greeting's scramble, or an AuthSwitchRequest's).
//   mysql_native_password:  SHA1(pw) XOR SHA1(nonce + SHA1(SHA1(pw)))
//   caching_sha2_password:  SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + nonce)   (the fast path; a
//                           server whose cache does not hold the user asks for the password itself,
//                           which the broker sends only over TLS, and MariaDB has no such plugin)
// An empty password is an empty proof in both.

import { createHash } from 'node:crypto';

export const NATIVE_PASSWORD = 'mysql_native_password';
export const CACHING_SHA2_PASSWORD = 'caching_sha2_password';

const hash = (algorithm: 'sha1' | 'sha256', ...parts: Buffer[]): Buffer => {
  const digest = createHash(algorithm);
  for (const part of parts) digest.update(part);
  return digest.digest();
};

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
}

/** The proof `plugin` expects for `password` and the server's nonce; null for a plugin the broker cannot answer. */
export function passwordProof(plugin: string, password: string, nonce: Buffer): Buffer | null {
  if (password === '') return Buffer.alloc(0);
  const secret = Buffer.from(password, 'utf8');
  // The nonce travels with a trailing NUL in some messages; the proof uses its 20 bytes.
  const seed = nonce.subarray(0, 20);
  if (plugin === NATIVE_PASSWORD) {
    const stage1 = hash('sha1', secret);
    return xor(stage1, hash('sha1', seed, hash('sha1', stage1)));
  }
  if (plugin === CACHING_SHA2_PASSWORD) {
    const stage1 = hash('sha256', secret);
    return xor(stage1, hash('sha256', hash('sha256', stage1), seed));
  }
  return null;
}
