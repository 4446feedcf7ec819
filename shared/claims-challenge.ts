// The claims challenge of an Entra-protected API (learn.microsoft.com/entra/identity-platform/claims-challenge):
// a 401 whose `WWW-Authenticate` is
//   Bearer realm="", authorization_uri="…", error="insufficient_claims", claims="<base64 of a claims request>"
// where the claims request is OpenID Connect's (`{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`).
// The broker writes it when a resource's conditions need a stronger sign-in; the CLI reads it and
// signs in again passing the decoded JSON as MSAL's `claims` request parameter.

/** The `error` of a claims challenge. */
export const INSUFFICIENT_CLAIMS = 'insufficient_claims';

/** One claim's request: essential, with the value (or one of the values) it must have. */
export interface ClaimRequest {
  essential: true;
  value?: string;
  values?: string[];
}

/** A claims request for the access token (the only token the broker sees). */
export interface ClaimsRequest {
  access_token: Record<string, ClaimRequest>;
}

/** The header value for `claims` (the JSON text) and the authorize endpoint a client may use. */
export function claimsChallengeHeader(claimsJson: string, authorizationUri: string): string {
  const encoded = Buffer.from(claimsJson, 'utf8').toString('base64');
  return `Bearer realm="", authorization_uri="${authorizationUri}", error="${INSUFFICIENT_CLAIMS}", claims="${encoded}"`;
}

/** The longest `claims` the CLI accepts from a broker: a claims request is a few hundred bytes. */
const MAX_CLAIMS_CHARS = 4096;

/**
 * The claims request (JSON text) of a `WWW-Authenticate` value, or null when it is not a claims
 * challenge, or its claims are not a JSON object.
 */
export function parseClaimsChallenge(header: string | string[] | undefined): string | null {
  const value = Array.isArray(header) ? header.join(', ') : header;
  if (!value || !/^\s*Bearer\s/i.test(value)) return null;
  const params = new Map<string, string>();
  for (const match of value.matchAll(/([A-Za-z_]+)="([^"]*)"/g)) params.set((match[1] as string).toLowerCase(), match[2] as string);
  if (params.get('error') !== INSUFFICIENT_CLAIMS) return null;
  const encoded = params.get('claims');
  if (!encoded || encoded.length > MAX_CLAIMS_CHARS || !/^[A-Za-z0-9+/_-]+={0,2}$/.test(encoded)) return null;
  const json = Buffer.from(encoded, 'base64').toString('utf8');
  try {
    const parsed: unknown = JSON.parse(json);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? json : null;
  } catch {
    return null;
  }
}
