// Request ids: random, url-safe and short enough to read out or type (`access approve 7f3ck2q9xm`).

import { randomBytes } from 'node:crypto';

/**
 * 32 symbols: lower-case letters and digits without i, l, o and u, which are misread as 1, 1, 0
 * and v. 32 divides 256, so `byte & 31` picks each symbol with equal probability.
 */
const ALPHABET = 'abcdefghjkmnpqrstvwxyz0123456789';
/** 10 symbols × 5 bits = 50 random bits: collisions stay negligible for millions of requests. */
export const REQUEST_ID_LENGTH = 10;

export type IdGenerator = () => string;

export function randomRequestId(): string {
  const bytes = randomBytes(REQUEST_ID_LENGTH);
  let id = '';
  for (const byte of bytes) id += ALPHABET[byte & 31];
  return id;
}
