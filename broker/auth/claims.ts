// Reading claims out of a verified JWT payload without trusting their types, and quoting
// untrusted values safely in error messages.

import type { JWTPayload } from 'jose';

/**
 * Claim and header values come from the caller; an error message quotes at most this many
 * characters of one so a hostile token cannot flood the broker's logs through our messages.
 */
export const MAX_QUOTED_VALUE_CHARS = 120;

export function stringClaim(claims: JWTPayload, name: string): string | null {
  const value = claims[name];
  return typeof value === 'string' ? value : null;
}

/** A claim that must be an array of strings; anything else reads as absent. */
export function stringListClaim(claims: JWTPayload, name: string): string[] | null {
  const value = claims[name];
  if (!Array.isArray(value)) return null;
  return value.every((item): item is string => typeof item === 'string') ? value : null;
}

/** JSON-quoted, truncated form of an untrusted value for an error message. */
export function quote(value: unknown): string {
  const text = value === undefined ? 'undefined' : (JSON.stringify(value) ?? String(value));
  return text.length <= MAX_QUOTED_VALUE_CHARS ? text : `${text.slice(0, MAX_QUOTED_VALUE_CHARS)}…`;
}
