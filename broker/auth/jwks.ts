// The tenant's signing keys, fetched from its JWKS endpoint through the product's one HTTP
// client and cached by jose (refetched when a token names an unknown `kid`, at most once per
// cooldown, so key rotation needs no restart and a flood of made-up kids cannot hammer Entra).
// Every failure here becomes an AccessError: an unknown kid is the caller's problem
// (token_key_unknown, 401); anything else is ours (jwks_unavailable, 503).

import { createRemoteJWKSet, customFetch, errors, type CryptoKey, type FetchImplementation, type FlattenedJWSInput, type JWSHeaderParameters } from 'jose';
import { AccessError } from '../../shared/errors.js';
import type { HttpTransport } from '../../shared/http-transport.js';
import { quote } from './claims.js';

/** RS256 keys below this size are refused (jose's own floor; Entra publishes 2048-bit keys). */
const MIN_RSA_MODULUS_BITS = 2048;

export interface JwksOptions {
  jwksUri: string;
  transport: HttpTransport;
  /** Minimum time between refetches triggered by an unknown kid. */
  cooldownMs: number;
  /** Keys older than this are refetched before use. */
  cacheMaxAgeMs: number;
  /** Time a JWKS fetch may take. */
  timeoutMs: number;
}

export type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

export function remoteKeyResolver(options: JwksOptions): KeyResolver {
  const { jwksUri, timeoutMs } = options;
  const remote = createRemoteJWKSet(new URL(jwksUri), {
    [customFetch]: jwksFetch(options.transport, jwksUri),
    cooldownDuration: options.cooldownMs,
    cacheMaxAge: options.cacheMaxAgeMs,
    timeoutDuration: timeoutMs,
  });
  return async (header, token) => {
    let key: CryptoKey;
    try {
      key = await remote(header, token);
    } catch (err) {
      throw keyError(err, header, jwksUri, timeoutMs);
    }
    checkKeyStrength(key, header, jwksUri);
    return key;
  };
}

function keyError(err: unknown, header: JWSHeaderParameters, jwksUri: string, timeoutMs: number): AccessError {
  if (err instanceof errors.JWKSNoMatchingKey) {
    return new AccessError(
      'token_key_unknown',
      `the token is signed with key ${quote(header.kid)}, which the tenant does not publish at ${jwksUri}; use a token issued by this broker's tenant`,
    );
  }
  if (err instanceof errors.JWKSMultipleMatchingKeys) {
    return new AccessError('jwks_unavailable', `the signing keys at ${jwksUri} publish more than one key with kid ${quote(header.kid)}`, { cause: err });
  }
  if (err instanceof errors.JWKSTimeout) {
    return new AccessError('jwks_unavailable', `no answer from the signing keys endpoint ${jwksUri} within ${timeoutMs} ms; try again shortly`, { cause: err });
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new AccessError('jwks_unavailable', `cannot read the signing keys from ${jwksUri}: ${reason}; try again shortly`, { cause: err });
}

function checkKeyStrength(key: CryptoKey, header: JWSHeaderParameters, jwksUri: string): void {
  const { modulusLength } = key.algorithm as { modulusLength?: unknown };
  if (typeof modulusLength === 'number' && modulusLength >= MIN_RSA_MODULUS_BITS) return;
  throw new AccessError(
    'jwks_unavailable',
    `key ${quote(header.kid)} at ${jwksUri} is ${typeof modulusLength === 'number' ? modulusLength : 'an unknown number of'} bits, below the ${MIN_RSA_MODULUS_BITS} required for RS256`,
  );
}

/**
 * jose's fetch contract over HttpTransport: non-200 answers are reported with their status (jose's
 * own message does not say which); jose's abort signal (`timeoutDuration`) ends the request.
 */
function jwksFetch(transport: HttpTransport, jwksUri: string): FetchImplementation {
  return async (url, init) => {
    const response = await transport.fetch(url, init);
    if (response.status !== 200) throw new Error(`${jwksUri} answered HTTP ${response.status}, not 200`);
    return response;
  };
}
