// The reason text of the close frames the tunnel sends. RFC 6455 (section 5.5) caps a control
// frame's payload at 125 bytes, two of which carry the code, so a reason is at most 123 bytes of
// UTF-8: a revoker's free-text reason is cut on a character boundary to fit.

import { CLOSE_REASONS, CloseCode } from '../../shared/close-codes.js';
import type { ConditionRefusal } from '../policy/conditions.js';
import type { Actor } from '../requests/types.js';
import { actorName } from '../requests/wording.js';

/** 125-byte control frame payload minus the 2-byte close code. */
export const MAX_CLOSE_REASON_BYTES = 123;
const ELLIPSIS = '…';
const ELLIPSIS_BYTES = Buffer.byteLength(ELLIPSIS);

/** `text` when it fits in MAX_CLOSE_REASON_BYTES, else its longest whole-character prefix that fits with "…". */
export function fitCloseReason(text: string): string {
  if (Buffer.byteLength(text) <= MAX_CLOSE_REASON_BYTES) return text;
  let fitted = '';
  let bytes = 0;
  // for…of walks code points, so a surrogate pair (an emoji) is never split into invalid UTF-8.
  for (const character of text) {
    const size = Buffer.byteLength(character);
    if (bytes + size > MAX_CLOSE_REASON_BYTES - ELLIPSIS_BYTES) break;
    fitted += character;
    bytes += size;
  }
  return `${fitted}${ELLIPSIS}`;
}

/** "access expired at 2025-03-04T10:00:00.000Z": the grant's absolute end, which the CLI prints in local time. */
export function expiredReason(expiresAt: number): string {
  return `${CLOSE_REASONS[CloseCode.grantExpired]} at ${new Date(expiresAt).toISOString()}`;
}

/** "revoked by bob@contoso.dev: <reason>", fitted. */
export function revokedReason(by: Actor | null, reason: string | null): string {
  const who = by ? actorName(by) : 'an administrator';
  return fitCloseReason(reason ? `revoked by ${who}: ${reason}` : `revoked by ${who}`);
}

/** "you are no longer in a group allowed to use demo-db", fitted. */
export function membershipLostReason(resource: string): string {
  return fitCloseReason(`you are no longer in a group allowed to use ${resource}`);
}

/**
 * The close code and reason for a live tunnel whose resource's conditions stopped holding: the
 * window's end ("the time window of prod-db (Mon-Fri 07:00-19:00 Europe/Berlin) closed"), or the
 * condition's own message (a sign-in grown too old), fitted.
 */
export function conditionCut(
  resource: string,
  refusal: Pick<ConditionRefusal, 'condition' | 'message'>,
  hours: string | null,
): { code: CloseCode; reason: string } {
  if (refusal.condition === 'hours') {
    return { code: CloseCode.outsideHours, reason: fitCloseReason(`the time window of ${resource}${hours ? ` (${hours})` : ''} closed`) };
  }
  return { code: CloseCode.conditionUnmet, reason: fitCloseReason(refusal.message) };
}
