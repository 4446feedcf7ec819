// Extracting the bearer token from an `Authorization` header (RFC 6750 section 2.1). The token
// itself never appears in an error message: a message may be logged or shown on a screen.

import { AccessError } from '../../shared/errors.js';

/**
 * Longest token accepted. Node's HTTP parser already caps all request headers at 16 KiB by
 * default, and an Entra access token (even with a long `groups` claim) stays well below; a
 * longer value is refused before any base64 or JSON decoding.
 */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** RFC 6750 `b64token`: the characters a bearer token may contain. */
const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** An auth scheme is a short token; longer or odder "schemes" are likely a credential and are not quoted. */
const QUOTABLE_SCHEME = /^[A-Za-z][A-Za-z0-9-]{0,19}$/;

const HOW_TO_SEND = 'send "Authorization: Bearer <access token>" (the CLI does this after `access login`)';

export function bearerTokenFrom(authorization: string | undefined): string {
  const header = authorization?.trim() ?? '';
  if (header === '') {
    throw new AccessError('token_missing', `the request has no Authorization header; ${HOW_TO_SEND}`);
  }
  const space = header.indexOf(' ');
  const scheme = space === -1 ? header : header.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') {
    const named = space !== -1 && QUOTABLE_SCHEME.test(scheme) ? ` uses the "${scheme}" scheme` : ' is not a bearer token';
    throw new AccessError('token_malformed', `the Authorization header${named}; ${HOW_TO_SEND}`);
  }
  const token = space === -1 ? '' : header.slice(space + 1).trimStart();
  if (token === '') {
    throw new AccessError('token_malformed', `the Authorization header says Bearer but carries no token; ${HOW_TO_SEND}`);
  }
  if (token.length > MAX_TOKEN_LENGTH) {
    throw new AccessError(
      'token_malformed',
      `the bearer token in the Authorization header is ${token.length} characters long, above the ${MAX_TOKEN_LENGTH} accepted; send an Entra ID access token`,
    );
  }
  if (!B64TOKEN.test(token)) {
    throw new AccessError(
      'token_malformed',
      `the bearer token contains characters a token cannot have (spaces, quotes or other non-base64url characters); ${HOW_TO_SEND}`,
    );
  }
  return token;
}
