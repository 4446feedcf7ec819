// Graph app tokens the dev tenant's Graph emulator has verified (graph-auth.ts), remembered by the
// token itself until it expires: the broker presents the same app token on every membership check
// (one per tunnel opened), and an RSA verification per call was the emulator's largest cost. A
// remembered token's exp and its signing key are still checked on every call.

import { setBounded } from '../../shared/bounded-map.js';

/** Clock skew Graph tolerates on `nbf`/`exp` (seconds). */
export const CLOCK_TOLERANCE_SEC = 300;
/** Verified tokens remembered at once; beyond it the oldest is forgotten (and verified again when seen). */
export const MAX_VERIFIED_GRAPH_TOKENS = 1_000;

interface VerifiedGraphToken {
  kid: string;
  /** The token's exp claim (seconds). */
  exp: number;
  roles: unknown;
}

/** Graph tokens whose signature, issuer and audience this tenant verified, by the token itself. */
export class VerifiedGraphTokens {
  readonly #entries = new Map<string, VerifiedGraphToken>();

  /** The roles of a remembered `token` still within its exp (with Graph's skew) and signed by a key the tenant still has; else undefined. */
  roles(token: string, now: number, keyKnown: (kid: string) => boolean): unknown {
    const known = this.#entries.get(token);
    if (!known) return undefined;
    if (Math.floor(now / 1000) < known.exp + CLOCK_TOLERANCE_SEC && keyKnown(known.kid)) return known.roles;
    // Expired or its key withdrawn: the full check refuses it with the reason.
    this.#entries.delete(token);
    return undefined;
  }

  remember(token: string, verified: VerifiedGraphToken): void {
    setBounded(this.#entries, token, verified, MAX_VERIFIED_GRAPH_TOKENS);
  }
}
