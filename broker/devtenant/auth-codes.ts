// Authorization codes of the interactive sign-in (authorization code flow with PKCE, RFC 7636, as
// Entra runs it): the sign-in page issues one for the dev user the person picked; the client redeems
// it once at the token endpoint with the code_verifier whose S256 hash the authorize request carried,
// the same redirect_uri and the same client id. Held in memory and bounded like device codes: anyone
// who reaches the page may pick a user, so a loop cannot grow the map without end.

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { SignInRecord } from './sign-in-claims.js';

/** Entra's authorization codes live about ten minutes; a redirect takes seconds, so this is generous. */
export const AUTH_CODE_LIFETIME_SEC = 600;
/** Codes kept at once (issued, not yet redeemed or expired); bounds memory if a script loops on the page. */
export const MAX_PENDING_AUTH_CODES = 1000;
/** Random bytes of a code (it is a bearer credential until redeemed: it must not be guessable). */
const AUTH_CODE_BYTES = 32;
/** A redeemed or expired code is remembered this long so a second try hears "already redeemed" or "expired", not "unknown". */
const SPENT_RETENTION_MS = 15 * 60_000;

export interface AuthorizationGrant {
  readonly clientId: string;
  readonly redirectUri: string;
  /** BASE64URL(SHA256(code_verifier)) from the authorize request. */
  readonly codeChallenge: string;
  readonly scopes: readonly string[];
  /** The dev user the person picked. */
  readonly oid: string;
  /** What the sign-in proved (MFA, auth contexts, when), for the tokens the code is redeemed for. */
  readonly signIn: SignInRecord;
}

interface IssuedCode {
  readonly grant: AuthorizationGrant;
  readonly expiresAt: number;
  redeemed: boolean;
}

export type RedeemResult =
  | { state: 'ok'; grant: AuthorizationGrant }
  | { state: 'unknown' | 'other_client' | 'redeemed' | 'expired' | 'redirect_mismatch' | 'verifier_missing' | 'verifier_mismatch' };

/** What the client proves when it redeems a code. */
export interface Redemption {
  clientId: string;
  redirectUri: string | undefined;
  codeVerifier: string | undefined;
}

/** The S256 code challenge of a verifier (RFC 7636 §4.2). */
export function s256Challenge(verifier: string): string {
  return createHash('sha256').update(verifier, 'ascii').digest('base64url');
}

export class AuthorizationCodes {
  readonly #now: () => number;
  readonly #codes = new Map<string, IssuedCode>();

  constructor(now: () => number) {
    this.#now = now;
  }

  /** A new code for `grant`, or null when MAX_PENDING_AUTH_CODES are outstanding. */
  issue(grant: AuthorizationGrant): string | null {
    this.#prune();
    let live = 0;
    for (const issued of this.#codes.values()) if (!issued.redeemed && issued.expiresAt > this.#now()) live++;
    if (live >= MAX_PENDING_AUTH_CODES) return null;
    const code = randomBytes(AUTH_CODE_BYTES).toString('base64url');
    this.#codes.set(code, { grant, expiresAt: this.#now() + AUTH_CODE_LIFETIME_SEC * 1000, redeemed: false });
    return code;
  }

  /**
   * Redeems `code`. Any attempt that names a live code uses it up, a failed one included (a code
   * is one try, as RFC 6749 §4.1.2 asks): a wrong verifier cannot be followed by a right guess.
   */
  redeem(code: string, proof: Redemption): RedeemResult {
    this.#prune();
    const issued = this.#codes.get(code);
    if (!issued) return { state: 'unknown' };
    const { grant } = issued;
    if (grant.clientId !== proof.clientId) return { state: 'other_client' };
    if (issued.redeemed) return { state: 'redeemed' };
    if (this.#now() >= issued.expiresAt) return { state: 'expired' };
    issued.redeemed = true;
    if (proof.redirectUri !== grant.redirectUri) return { state: 'redirect_mismatch' };
    if (!proof.codeVerifier) return { state: 'verifier_missing' };
    const given = Buffer.from(s256Challenge(proof.codeVerifier));
    const expected = Buffer.from(grant.codeChallenge);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { state: 'verifier_mismatch' };
    return { state: 'ok', grant };
  }

  #prune(): void {
    const cutoff = this.#now() - SPENT_RETENTION_MS;
    for (const [code, issued] of this.#codes) if (issued.expiresAt <= cutoff) this.#codes.delete(code);
  }
}
