// `signin.seen`: the first time the broker accepts a given access token, one audit entry says who
// signed in, with which client application, until when. Every later request with the same token is
// a lookup in a small in-memory LRU, not a database write.
//
// A token is known by the SHA-256 of its text: exact per token (two tokens issued in the same
// second are two sign-ins), without keeping bearer tokens in memory or in the log. After a restart,
// or once a token falls out of the LRU, its next use is recorded again: the log may say a token was
// seen twice, never that it was not seen.

import { hash } from 'node:crypto';
import type { Principal } from '../auth/principal.js';
import type { AuditAppender } from './audit-log.js';
import { setBounded } from '../../shared/bounded-map.js';

/**
 * Tokens remembered. An Entra access token lives about an hour, so this covers the tokens of ten
 * thousand people active in the same hour; beyond that the oldest are forgotten (and re-recorded
 * if used again). About 100 bytes each.
 */
export const SEEN_TOKENS_MAX = 10_000;
/** Hex characters of the token hash kept as its id in the log and the LRU: 64 bits, ample to tell tokens apart. */
const TOKEN_ID_CHARS = 16;

export class SignInRecorder {
  readonly #log: AuditAppender;
  readonly #now: () => number;
  readonly #max: number;
  /** Token id → nothing; Map keeps insertion order, refreshed on every hit: least recently seen first. */
  readonly #seen = new Map<string, true>();

  constructor(log: AuditAppender, now: () => number, max = SEEN_TOKENS_MAX) {
    this.#log = log;
    this.#now = now;
    this.#max = max;
  }

  /**
   * Records `principal`'s sign-in the first time `token` is seen; returns whether it did. Call it
   * only after the token passed every check. A failing append throws (and the token is not
   * remembered, so the next request tries again): the caller fails closed rather than serve
   * someone the log did not record.
   */
  seen(principal: Principal, token: string): boolean {
    const id = hash('sha256', token, 'hex').slice(0, TOKEN_ID_CHARS);
    if (this.#seen.delete(id)) {
      this.#seen.set(id, true);
      return false;
    }
    this.#log.append({
      type: 'signin.seen',
      at: this.#now(),
      actor: { oid: principal.oid, upn: principal.upn },
      subject: null,
      resource: null,
      body: {
        kind: principal.kind,
        name: principal.name,
        appId: principal.appId,
        tenantId: principal.tenantId,
        tokenId: id,
        tokenExpiresAt: principal.expiresAt.toISOString(),
      },
    });
    setBounded(this.#seen, id, true, this.#max);
    return true;
  }
}
