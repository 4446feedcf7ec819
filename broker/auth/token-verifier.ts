// Bearer-token validation for every broker call: an Entra ID access token for the broker's API,
// signed RS256 by the configured tenant. The checks run in a fixed order so each failure gets its
// own code whatever else is wrong with the token:
//   1. shape and protected header (no key is touched for a token we would refuse anyway:
//      `alg: none`, HS256 signed with our public key, JWE, a missing kid);
//   2. signature against the tenant's JWKS, then exp/nbf with a small skew (jose);
//   3. issuer, tenant, audience, subject, then scope (users) or app role (service principals);
//   4. the calling app (`azp` v2 / `appid` v1): the CLI for users, a configured automation app for
//      service principals — a token the tenant issued to some other client is not ours to honour.
// Messages name the failed check and quote the offending value where it is safe (issuer,
// audience, tid, kid, alg, times), never the token.

import { decodeProtectedHeader, errors, jwtVerify, type JWSHeaderParameters, type JWTPayload } from 'jose';
import { AccessError } from '../../shared/errors.js';
import type { HttpTransport } from '../../shared/http-transport.js';
import { CLOUDS, issuersOf, type Cloud } from '../identity/clouds.js';
import { MAX_TOKEN_LENGTH } from './bearer-token.js';
import { quote, stringClaim, stringListClaim } from './claims.js';
import { callingAppOf, checkCallingApp } from './calling-app.js';
import { checkIssuer } from './issuer.js';
import { remoteKeyResolver, type KeyResolver } from './jwks.js';
import { principalFromClaims, type Principal } from './principal.js';
import { setBounded } from '../../shared/bounded-map.js';

export { bearerTokenFrom } from './bearer-token.js';

/** The only signature algorithm Entra uses for access tokens; anything else is refused. */
export const ALLOWED_ALGORITHM = 'RS256';
/** "Small skew" between Entra's clock and ours for exp/nbf. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 60;
/** Minimum time between JWKS refetches on an unknown kid (jose's default). */
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;
/** Keys are refetched when older than this, so a rotation is seen even without an unknown kid. */
export const DEFAULT_JWKS_CACHE_MAX_AGE_MS = 10 * 60_000;
/** Time a JWKS fetch may take before the request is answered 503 (jose's default). */
export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;

/**
 * A token that passed every check is accepted again for this long without its signature being
 * verified again (an RSA verification is the largest single cost of opening a tunnel; a listener
 * presents the same token for every connection it opens). Its times are still checked on every use,
 * so an expired token is refused exactly as before. The only check it defers is the key: a signing
 * key the tenant withdraws stops being honoured for such a token up to this much later than the
 * JWKS refresh (DEFAULT_JWKS_CACHE_MAX_AGE_MS) alone would allow.
 */
export const VERIFIED_TOKEN_REUSE_MS = 60_000;
/** Verified tokens remembered at once; beyond it the oldest is forgotten (and verified fully when seen again). */
export const MAX_VERIFIED_TOKENS = 1_000;

/** Tenant aliases that name no single directory: a broker serves exactly one tenant. */
const MULTI_TENANT_ALIASES = new Set(['common', 'organizations', 'consumers']);
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface TokenVerifierOptions {
  /** The tenant whose tokens are accepted (a directory id, not common/organizations). */
  tenantId: string;
  /** Accepted aud values: the API's App ID URI and/or its client id. */
  audiences: string[];
  /** scp value a user token must have, e.g. 'user_impersonation'. */
  requiredScope: string;
  /** roles value an app token must have, e.g. 'Access.Automation'. */
  requiredAppRole: string;
  /** Client id of the CLI's app registration: the only client user tokens may come from. */
  cliClientId: string;
  /** Client ids of the automation apps whose app tokens are accepted; none: app tokens are refused. */
  automationClientIds: readonly string[];
  /** The Entra cloud the tenant lives in: which issuers are accepted. Default CLOUDS.public. */
  cloud?: Cloud;
  /** The tenant's JWKS (https; a loopback dev tenant is reached through the transport's plaintextOrigins). */
  jwksUri: string;
  transport: HttpTransport;
  /** Allowed clock skew for exp/nbf in seconds. Default DEFAULT_CLOCK_TOLERANCE_SEC (60). */
  clockToleranceSec?: number;
  /** Minimum time between refetches on an unknown kid. Default DEFAULT_JWKS_COOLDOWN_MS (30 s). */
  jwksCooldownMs?: number;
  /** Maximum age of cached keys. Default DEFAULT_JWKS_CACHE_MAX_AGE_MS (10 min). */
  jwksCacheMaxAgeMs?: number;
  /** Time a JWKS fetch may take. Default DEFAULT_JWKS_TIMEOUT_MS (5 s). */
  jwksTimeoutMs?: number;
  /** Clock (ms since epoch) for the exp/nbf checks. Default Date.now. */
  now?: () => number;
}

export class TokenVerifier {
  readonly #tenantId: string;
  readonly #issuers: readonly string[];
  readonly #audiences: readonly string[];
  readonly #requiredScope: string;
  readonly #requiredAppRole: string;
  readonly #cliClientId: string;
  readonly #automationClientIds: ReadonlySet<string>;
  readonly #clockToleranceSec: number;
  readonly #now: () => number;
  readonly #keys: KeyResolver;
  /** Tokens that passed every check, by the token itself (see VERIFIED_TOKEN_REUSE_MS). */
  readonly #verified = new Map<string, { principal: Principal; exp: number; nbf: number | null; until: number }>();

  constructor(options: TokenVerifierOptions) {
    validateOptions(options);
    // Entra prints tenant ids in lower case in iss and tid; accept a GUID configured in any case.
    this.#tenantId = GUID.test(options.tenantId) ? options.tenantId.toLowerCase() : options.tenantId;
    this.#issuers = issuersOf(options.cloud ?? CLOUDS.public, this.#tenantId);
    this.#audiences = [...options.audiences];
    this.#requiredScope = options.requiredScope;
    this.#requiredAppRole = options.requiredAppRole;
    // Client ids are GUIDs that Entra writes in lower case; compare them that way.
    this.#cliClientId = options.cliClientId.toLowerCase();
    this.#automationClientIds = new Set(options.automationClientIds.map((id) => id.toLowerCase()));
    this.#clockToleranceSec = options.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
    this.#now = options.now ?? Date.now;
    this.#keys = remoteKeyResolver({
      jwksUri: options.jwksUri,
      transport: options.transport,
      cooldownMs: options.jwksCooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS,
      cacheMaxAgeMs: options.jwksCacheMaxAgeMs ?? DEFAULT_JWKS_CACHE_MAX_AGE_MS,
      timeoutMs: options.jwksTimeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
    });
  }

  /** The caller behind `token`, or an AccessError with a token_* code (jwks_unavailable when the keys cannot be read). */
  async verify(token: string): Promise<Principal> {
    const now = this.#now();
    const known = this.#verified.get(token);
    if (known && now < known.until && this.#inTime(known.exp, known.nbf, now)) return known.principal;
    // Gone stale, or past its times: the full path refuses it with the precise reason, or renews it.
    if (known) this.#verified.delete(token);
    const { principal, claims } = await this.#verifyFully(token);
    const nbf = typeof claims.nbf === 'number' ? claims.nbf : null;
    setBounded(this.#verified, token, { principal, exp: claims.exp as number, nbf, until: now + VERIFIED_TOKEN_REUSE_MS }, MAX_VERIFIED_TOKENS);
    return principal;
  }

  /** exp and nbf (seconds) against `now` (ms), with the clock tolerance, as jose checks them. */
  #inTime(exp: number, nbf: number | null, now: number): boolean {
    const seconds = Math.floor(now / 1000);
    return seconds < exp + this.#clockToleranceSec && (nbf === null || seconds >= nbf - this.#clockToleranceSec);
  }

  async #verifyFully(token: string): Promise<{ principal: Principal; claims: JWTPayload }> {
    const header = checkHeader(token);
    const claims = await this.#verifySignatureAndTime(token, header);
    checkIssuer(claims.iss, this.#tenantId, this.#issuers);
    this.#checkTenantClaim(claims);
    this.#checkAudience(claims);
    const oid = stringClaim(claims, 'oid');
    if (!oid) {
      throw new AccessError(
        'token_subject_missing',
        'the token has no oid claim (object id of the user or service principal); use an access token issued by Entra ID for this API',
      );
    }
    const exp = claims.exp as number; // required and type-checked by jwtVerify
    const roles = stringListClaim(claims, 'roles') ?? [];
    const scp = stringClaim(claims, 'scp');
    if (scp !== null) {
      const scopes = scp.split(' ').filter(Boolean);
      this.#checkScope(scopes, oid);
      checkCallingApp(claims, 'user', [this.#cliClientId]);
      return { principal: principalFromClaims(claims, { kind: 'user', oid, tenantId: this.#tenantId, scopes, roles, exp }), claims };
    }
    this.#checkAppToken(claims, roles, oid);
    checkCallingApp(claims, 'app', [...this.#automationClientIds]);
    return { principal: principalFromClaims(claims, { kind: 'app', oid, tenantId: this.#tenantId, scopes: [], roles, exp }), claims };
  }

  async #verifySignatureAndTime(token: string, header: JWSHeaderParameters): Promise<JWTPayload> {
    try {
      const { payload } = await jwtVerify(token, this.#keys, {
        algorithms: [ALLOWED_ALGORITHM],
        clockTolerance: this.#clockToleranceSec,
        currentDate: new Date(this.#now()),
        requiredClaims: ['exp'],
      });
      return payload;
    } catch (err) {
      throw this.#joseError(err, header);
    }
  }

  #joseError(err: unknown, header: JWSHeaderParameters): unknown {
    if (err instanceof AccessError) return err; // from the key resolver
    const skew = `allowing ${this.#clockToleranceSec} s of clock skew, now is ${new Date(this.#now()).toISOString()}`;
    if (err instanceof errors.JWTExpired) {
      return new AccessError('token_expired', `the token expired at ${timeOf(err.payload.exp)} (${skew}); sign in again (access login)`);
    }
    if (err instanceof errors.JWTClaimValidationFailed) {
      if (err.claim === 'nbf' && err.reason === 'check_failed') {
        return new AccessError(
          'token_not_yet_valid',
          `the token is not valid before ${timeOf(err.payload.nbf)} (${skew}); one of the clocks is off, or the token was used too early: retry in a moment`,
        );
      }
      const problem = err.reason === 'missing' ? 'is missing' : `has the invalid value ${quote(err.payload[err.claim])}`;
      return new AccessError('token_malformed', `the token's ${quote(err.claim)} claim ${problem}; use an access token issued by Entra ID`);
    }
    if (err instanceof errors.JWSSignatureVerificationFailed) {
      return new AccessError(
        'token_signature_invalid',
        `the token's signature does not match key ${quote(header.kid)} of the tenant; the token was altered or not issued by the tenant`,
      );
    }
    if (err instanceof errors.JOSEAlgNotAllowed) return algorithmNotAllowed(header.alg);
    if (err instanceof errors.JOSEError) {
      return new AccessError('token_malformed', `the token is not a valid signed JWT (${err.message}); use an access token issued by Entra ID`);
    }
    return err;
  }

  #checkTenantClaim(claims: JWTPayload): void {
    const tid = claims['tid'];
    if (tid === this.#tenantId) return;
    const found = tid === undefined ? 'has no tid claim' : `names tenant ${quote(tid)} in its tid claim`;
    throw new AccessError(
      'token_tenant_invalid',
      `the token ${found}, but this broker accepts only tenant ${this.#tenantId}; sign in to that tenant (access login)`,
    );
  }

  #checkAudience(claims: JWTPayload): void {
    const aud = claims.aud;
    const values = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (values.some((value) => this.#audiences.includes(value))) return;
    const found = aud === undefined ? 'has no audience (aud)' : `is for audience ${quote(aud)}`;
    throw new AccessError(
      'token_audience_invalid',
      `the token ${found}, but this broker accepts only ${this.#audiences.map((a) => `"${a}"`).join(' or ')}; request a token for the broker's API (the scope from GET /v1/config)`,
    );
  }

  #checkScope(scopes: string[], oid: string): void {
    if (scopes.includes(this.#requiredScope)) return;
    throw new AccessError(
      'token_scope_missing',
      `the user token for ${oid} has scopes ${quote(scopes.join(' '))} but not ${quote(this.#requiredScope)}; sign in again through the access CLI, which requests it`,
    );
  }

  /** A token without scp acts for a service principal: it must carry the app role. */
  #checkAppToken(claims: JWTPayload, roles: string[], oid: string): void {
    if (claims['idtyp'] === 'user') {
      throw new AccessError(
        'token_scope_missing',
        `the user token for ${oid} has no scp claim, so it does not carry ${quote(this.#requiredScope)}; sign in again through the access CLI`,
      );
    }
    if (roles.includes(this.#requiredAppRole)) return;
    const client = callingAppOf(claims) ?? oid;
    throw new AccessError(
      'token_role_missing',
      `the app token for ${quote(client)} has roles ${quote(roles)} but not ${quote(this.#requiredAppRole)}; an administrator must assign that app role of the broker's API to the application`,
    );
  }
}

/** Step 1: refuse by shape and header alone, before any key is fetched. */
function checkHeader(token: string): JWSHeaderParameters {
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new AccessError('token_malformed', `the token is ${token.length} characters long, above the ${MAX_TOKEN_LENGTH} accepted`);
  }
  const parts = token.split('.').length;
  if (parts === 5) {
    throw new AccessError('token_malformed', 'the token is encrypted (JWE); the broker accepts only signed Entra ID access tokens for its API');
  }
  if (parts !== 3) {
    throw new AccessError('token_malformed', `the token is not a JWT (${parts} dot-separated parts instead of 3); use an access token issued by Entra ID`);
  }
  let header: JWSHeaderParameters;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new AccessError('token_malformed', "the token's header is not base64url-encoded JSON; use an access token issued by Entra ID");
  }
  if (header.alg !== ALLOWED_ALGORITHM) throw algorithmNotAllowed(header.alg);
  if (typeof header.kid !== 'string' || header.kid === '') {
    throw new AccessError('token_key_unknown', 'the token names no signing key (no kid in its header); use an access token issued by Entra ID');
  }
  return header;
}

function algorithmNotAllowed(alg: unknown): AccessError {
  return new AccessError('token_algorithm_not_allowed', `the token is signed with algorithm ${quote(alg)}; only ${ALLOWED_ALGORITHM} is accepted`);
}

function timeOf(seconds: unknown): string {
  return typeof seconds === 'number' && Number.isFinite(seconds) ? new Date(seconds * 1000).toISOString() : quote(seconds);
}

function validateOptions(options: TokenVerifierOptions): void {
  const bad = (what: string): never => {
    throw new AccessError('config_invalid', `token verifier: ${what}`);
  };
  if (!options.tenantId) bad('tenantId is empty; set the Entra tenant (directory) id');
  if (MULTI_TENANT_ALIASES.has(options.tenantId.toLowerCase())) {
    bad(`tenantId "${options.tenantId}" is not a single tenant; set the directory id of the tenant the broker serves`);
  }
  if (options.audiences.length === 0 || options.audiences.some((a) => !a)) {
    bad("audiences must list the API's App ID URI and/or client id");
  }
  if (!options.requiredScope) bad('requiredScope is empty');
  if (!options.requiredAppRole) bad('requiredAppRole is empty');
  if (!options.cliClientId) bad("cliClientId is empty; set the client id of the CLI's app registration");
  let jwks: URL | undefined;
  try {
    jwks = new URL(options.jwksUri);
  } catch {
    bad(`jwksUri "${options.jwksUri}" is not a URL`);
  }
  if (jwks?.protocol !== 'https:') bad(`jwksUri "${options.jwksUri}" must be an https URL`);
  for (const [name, value] of [
    ['clockToleranceSec', options.clockToleranceSec],
    ['jwksCooldownMs', options.jwksCooldownMs],
    ['jwksCacheMaxAgeMs', options.jwksCacheMaxAgeMs],
    ['jwksTimeoutMs', options.jwksTimeoutMs],
  ] as const) {
    if (value !== undefined && !(Number.isFinite(value) && value >= 0)) bad(`${name} must be a non-negative number, not ${value}`);
  }
  if (options.jwksTimeoutMs !== undefined && !Number.isInteger(options.jwksTimeoutMs)) {
    bad(`jwksTimeoutMs must be a whole number of milliseconds, not ${options.jwksTimeoutMs}`);
  }
}
