// Errors of the identity provider in Entra's shape: `error` (the OAuth code clients branch on),
// `error_description` starting with the AADSTS number, `error_codes`, `timestamp`, `trace_id` and
// `correlation_id`. MSAL and people read the same fields they would read from Entra.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../http/respond.js';

export interface EntraError {
  status: number;
  /** OAuth error code (RFC 6749 / RFC 8628), e.g. `authorization_pending`. */
  error: string;
  /** The AADSTS number Entra uses for the same situation. */
  aadsts: number;
  description: string;
  /** Entra's `suberror`, where it sends one (MSAL reads it to tell kinds of interaction_required apart). */
  suberror?: string;
}

const entra = (status: number, error: string, aadsts: number, description: string, suberror?: string): EntraError => ({
  status,
  error,
  aadsts,
  description,
  ...(suberror ? { suberror } : {}),
});

/** The situations the dev tenant refuses, with Entra's codes and wording. */
export const EntraErrors = {
  missingParameter: (name: string) => entra(400, 'invalid_request', 900144, `The request body must contain the following parameter: '${name}'.`),
  notAForm: () => entra(400, 'invalid_request', 900144, "The request body must be application/x-www-form-urlencoded and contain the parameter 'grant_type'."),
  bodyTooLarge: (message: string) => entra(413, 'invalid_request', 90036, message),
  methodNotAllowed: (method: string, allowed: string) =>
    entra(405, 'invalid_request', 900561, `The endpoint only accepts ${allowed} requests. Received a ${method} request.`),
  tenantNotFound: (tenant: string) =>
    entra(
      400,
      'invalid_tenant',
      90002,
      `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
    ),
  noTenantForClientCredentials: () =>
    entra(
      400,
      'invalid_request',
      50059,
      'No tenant-identifying information found in either the request or implied by any provided credentials. Use the tenant id in the authority, not common or organizations.',
    ),
  unknownClient: (clientId: string, tenantId: string) =>
    entra(
      400,
      'unauthorized_client',
      700016,
      `Application with identifier '${clientId}' was not found in the directory '${tenantId}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`,
    ),
  invalidScope: (scope: string) =>
    entra(
      400,
      'invalid_scope',
      70011,
      `The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope '${scope}' is not valid.`,
    ),
  apiScopeRequired: (scope: string, apiScope: string) =>
    entra(
      400,
      'invalid_scope',
      70011,
      `The provided value for the input parameter 'scope' is not valid. '${scope}' names no scope of the access broker API; ask for '${apiScope}'.`,
    ),
  unsupportedGrantType: (grantType: string) => entra(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`),
  notPublicClient: (clientId: string) =>
    entra(
      400,
      'invalid_client',
      7000218,
      `The request body must contain the following parameter: 'client_assertion' or 'client_secret'. App '${clientId}' is not a public client.`,
    ),
  authorizationPending: () => entra(400, 'authorization_pending', 70016, 'OAuth 2.0 device flow error. Authorization is pending. Continue polling.'),
  deviceCodeExpired: () =>
    entra(400, 'expired_token', 70020, "The provided value for the input parameter 'device_code' is not valid. This device code has expired."),
  deviceCodeInvalid: () =>
    entra(
      400,
      'invalid_grant',
      70000,
      "The provided value for the input parameter 'device_code' is not valid. It is unknown, was already used, or was issued to another client.",
    ),
  tooManyPendingSignIns: (limit: number) =>
    entra(503, 'temporarily_unavailable', 90033, `Too many pending device sign-ins (${limit}). Finish or let some expire, then try again.`),
  tooManyPendingSignInsFromClient: (limit: number) =>
    entra(429, 'temporarily_unavailable', 90033, `Too many pending device sign-ins from this address (${limit}). Finish or let some expire, then try again.`),
  missingClientSecret: (clientId: string) =>
    entra(401, 'invalid_client', 7000218, `The request body must contain the following parameter: 'client_assertion' or 'client_secret'. App: '${clientId}'.`),
  invalidClientSecret: (clientId: string) =>
    entra(
      401,
      'invalid_client',
      7000215,
      `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${clientId}'.`,
    ),
  clientCredentialsScope: (scope: string) =>
    entra(
      400,
      'invalid_scope',
      1002012,
      `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
    ),
  resourceNotFound: (resource: string, tenantId: string) =>
    entra(
      400,
      'invalid_resource',
      500011,
      `The resource principal named ${resource} was not found in the tenant named ${tenantId}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    ),
  assertionTypeInvalid: (type: string) =>
    entra(400, 'invalid_request', 90014, `client_assertion_type must be 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', not '${type}'.`),
  assertionMalformed: (why: string) => entra(401, 'invalid_client', 50027, `JWT token is invalid or malformed: ${why}.`),
  assertionKeyNotFound: (clientId: string, thumbprint: string) =>
    entra(
      401,
      'invalid_client',
      700027,
      `Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprint}']. Register the certificate on app '${clientId}' (az ad app credential reset --cert).`,
    ),
  assertionSignature: () => entra(401, 'invalid_client', 700027, 'Client assertion contains an invalid signature.'),
  assertionExpired: () => entra(401, 'invalid_client', 700024, 'Client assertion is not within its valid time range.'),
  assertionAudience: (expected: string) => entra(401, 'invalid_client', 700212, `The audience of the client assertion is not valid; expected ${expected}.`),
  assertionCertificateExpired: (thumbprint: string) =>
    entra(401, 'invalid_client', 700027, `The certificate with thumbprint '${thumbprint}' used to sign the client assertion has expired.`),
  federatedIssuerNotFound: (issuer: string, clientId: string) =>
    entra(
      400,
      'invalid_request',
      700211,
      `No matching federated identity record found for presented assertion issuer '${issuer}'. Add a federated credential for this issuer to app '${clientId}'.`,
    ),
  federatedSubjectNotFound: (subject: string, issuer: string, clientId: string) =>
    entra(
      400,
      'invalid_request',
      700213,
      `No matching federated identity record found for presented assertion subject '${subject}' (issuer '${issuer}', app '${clientId}'). Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.`,
    ),
  federatedIssuerUnreachable: (issuer: string) =>
    entra(
      400,
      'invalid_request',
      700211,
      `The dev tenant cannot fetch the signing keys of issuer '${issuer}' (it has no internet); only its own federation issuer is checked.`,
    ),
  refreshTokenInvalid: () =>
    entra(400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid: the refresh token is not one this tenant issued. Sign in again.'),
  /** The `claims` request parameter is not a claims request (dev tenant wording). */
  invalidClaims: (why: string) => entra(400, 'invalid_request', 90014, `The 'claims' parameter is not valid: ${why}`),
  /** A refresh cannot prove what the claims request asks (MFA, an authentication context, a fresh sign-in): sign in interactively. */
  interactionRequired: () =>
    entra(
      400,
      'interaction_required',
      50076,
      'Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access this resource. Sign in again interactively.',
    ),
  /** The sign-in asked for MFA of a user with no second factor registered. */
  mfaNotRegistered: (upn: string) =>
    entra(
      400,
      'invalid_grant',
      50079,
      `Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access this resource. ${upn} has no second factor registered (in the dev tenant: mfa: true on the dev user).`,
    ),
  refreshTokenExpired: () => entra(400, 'invalid_grant', 700082, 'The refresh token has expired due to inactivity. Sign in again.'),
  refreshTokenOtherClient: () =>
    entra(
      400,
      'invalid_grant',
      70000,
      "The provided value for the input parameter 'refresh_token' or 'assertion' is not valid. The refresh token was issued to a different client.",
    ),
  // Interactive sign-in (authorization code + PKCE, authorize-page.ts and the authorization_code grant).
  /** The person pressed Decline on the sign-in page: Entra's wording for a declined consent, sent to the redirect URI. */
  userDeclined: () => entra(400, 'access_denied', 65004, 'User declined to consent to access the app.'),
  /** The person pressed Decline on the device-login page; `authorization_declined` is the device flow's word for it. */
  deviceSignInDeclined: () => entra(400, 'authorization_declined', 65004, 'User declined to consent to access the app.'),
  /**
   * A Conditional Access policy (e.g. Microsoft's managed "Block device code flow") blocked the sign-in:
   * the token endpoint answers invalid_grant AADSTS53003 and MSAL's `message_only` suberror (nothing the
   * person can do in that flow).
   */
  blockedByConditionalAccess: () =>
    entra(
      400,
      'invalid_grant',
      53003,
      'Access has been blocked by Conditional Access policies. The access policy does not allow token issuance.',
      'message_only',
    ),
  redirectUriMismatch: (redirectUri: string, clientId: string) =>
    entra(
      400,
      'invalid_request',
      50011,
      `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'. Make sure the redirect URI sent in the request matches one added to your application in the Azure portal.`,
    ),
  unsupportedResponseType: (responseType: string) =>
    entra(400, 'unsupported_response_type', 700054, `response_type '${responseType}' is not enabled for the application; use 'code'.`),
  unsupportedResponseMode: (mode: string) => entra(400, 'invalid_request', 900144, `The response_mode '${mode}' is not supported; use form_post or query.`),
  pkceRequired: () =>
    entra(400, 'invalid_request', 9002325, 'Proof Key for Code Exchange is required for this sign-in: send code_challenge and code_challenge_method=S256.'),
  codeChallengeMethodInvalid: (method: string) => entra(400, 'invalid_request', 50149, `Invalid Code_Challenge_method parameter '${method}'; use S256.`),
  codeVerifierMissing: () =>
    entra(400, 'invalid_grant', 50148, 'The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.'),
  codeVerifierMismatch: () => entra(400, 'invalid_grant', 501481, 'The Code_Verifier does not match the code_challenge supplied in the authorization request.'),
  authorizationCodeInvalid: () =>
    entra(400, 'invalid_grant', 70000, "The provided value for the input parameter 'code' is not valid. It is unknown or was issued to another client."),
  authorizationCodeRedeemed: () =>
    entra(400, 'invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.'),
  authorizationCodeExpired: () =>
    entra(
      400,
      'invalid_grant',
      70008,
      'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.',
    ),
  authorizationCodeRedirectMismatch: () =>
    entra(400, 'invalid_grant', 500112, 'The reply address does not match the reply address provided when requesting Authorization code.'),
  userNotFound: (oid: string, tenantId: string) =>
    entra(
      400,
      'invalid_grant',
      50034,
      `The user account ${oid} does not exist in the '${tenantId}' directory. To sign into this application, the account must be added to the directory.`,
    ),
} as const;

/** Entra's timestamp format: `2024-05-01 12:34:56Z`. */
export function entraTimestamp(ms: number): string {
  return `${new Date(ms).toISOString().slice(0, 19).replace('T', ' ')}Z`;
}

/** Entra's `error_description`: the AADSTS number, the words, then the ids a support case quotes. */
export function entraDescription(err: EntraError, ids: { traceId: string; correlationId: string; timestamp: string }): string {
  return `AADSTS${err.aadsts}: ${err.description} Trace ID: ${ids.traceId} Correlation ID: ${ids.correlationId} Timestamp: ${ids.timestamp}`;
}

export function sendEntraError(req: IncomingMessage, res: ServerResponse, err: EntraError, now: number): void {
  const traceId = randomUUID();
  // Entra echoes the client's request id (MSAL sends one) as the correlation id.
  const header = req.headers['client-request-id'];
  const correlationId = typeof header === 'string' && header ? header : randomUUID();
  const timestamp = entraTimestamp(now);
  sendJson(
    res,
    err.status,
    {
      error: err.error,
      error_description: entraDescription(err, { traceId, correlationId, timestamp }),
      error_codes: [err.aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: correlationId,
      error_uri: `https://login.microsoftonline.com/error?code=${err.aadsts}`,
      ...(err.suberror ? { suberror: err.suberror } : {}),
    },
    { pragma: 'no-cache', 'x-ms-request-id': traceId, 'client-request-id': correlationId },
  );
}
