// Pre-generated RSA 2048 signing keys for dev tenants in tests (test/fixtures/dev-tenant-signing-
// keys.json, made once the way generateSigningKey makes them). Generating a key per tenant was most
// of the dev tenant tests' time. These keys are public test data: they sign nothing outside tests.

import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { NewSigningKey, StoredSigningKey } from '../../broker/devtenant/signing-keys.js';

const KEYS = JSON.parse(readFileSync(new URL('../fixtures/dev-tenant-signing-keys.json', import.meta.url), 'utf8')) as Array<
  Omit<StoredSigningKey, 'createdAt'>
>;

let next = 0;

/**
 * A NewSigningKey that hands out the fixture's keys in turn, so calls close together (two tenants
 * in one test, a few rotations) get different keys, as fresh ones would be.
 */
export const preGeneratedSigningKey: NewSigningKey = async (createdAt) => {
  const key = KEYS[next++ % KEYS.length] as Omit<StoredSigningKey, 'createdAt'>;
  return { kid: key.kid, createdAt, privateJwk: structuredClone(key.privateJwk) };
};

/** The fixture's key number `index` as a key pair, for tests that sign tokens themselves. */
export function preGeneratedKeyPair(index: number): { privateKey: KeyObject; publicKey: KeyObject } {
  const key = KEYS[index];
  if (!key) throw new Error(`the fixture has ${KEYS.length} keys, no key number ${index}`);
  const privateKey = createPrivateKey({ key: key.privateJwk, format: 'jwk' });
  return { privateKey, publicKey: createPublicKey(privateKey) };
}
