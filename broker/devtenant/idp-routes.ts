// The identity provider half of the dev tenant, at Entra's paths under `/{tenant}`: OpenID
// discovery, the JWKS, the device authorization endpoint and the token endpoint with the
// device_code, refresh_token and client_credentials grants. Unmodified MSAL talks to it.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError } from '../../shared/errors.js';
import { API_SCOPE_NAME, type AppRegistration } from './apps.js';
import { apiPermissions, publicClient, Refusal, required } from './oauth-checks.js';
import { checkClientAssertion } from './client-assertion.js';
import type { TenantContext } from './context.js';
import { DEVICE_CODE_POLL_INTERVAL_SEC, MAX_PENDING_DEVICE_CODES, MAX_PENDING_DEVICE_CODES_PER_CLIENT } from './device-codes.js';
import type { DirectoryUser } from './directory.js';
import { EntraErrors, sendEntraError } from './entra-errors.js';
import { renderPage } from './html.js';
import { handleAuthorize } from './authorize-page.js';
import { completeSignIn, NOTHING_REQUESTED, parseRequestedSignIn, satisfies, type RequestedSignIn, type SignInRecord } from './sign-in-claims.js';
import { mediaType, parseForm, MAX_REQUEST_BODY_BYTES, sendHtml } from './http-io.js';
import { readBody, sendJson } from '../http/respond.js';

/** Tenant names Entra accepts in place of a tenant id for user sign-in (not for app tokens). */
const TENANT_ALIASES = new Set(['common', 'organizations']);
/** RFC 8628's grant type, and the short form MSAL sends (Entra accepts both). */
const DEVICE_CODE_GRANTS = new Set(['urn:ietf:params:oauth:grant-type:device_code', 'device_code']);

type Route = 'metadata' | 'keys' | 'devicecode' | 'token' | 'authorize' | 'logout';

/** Paths below `/{tenant}/`, with Entra's v1 aliases for discovery and keys. */
const ROUTES = new Map<string, Route>([
  ['v2.0/.well-known/openid-configuration', 'metadata'],
  ['.well-known/openid-configuration', 'metadata'],
  ['discovery/v2.0/keys', 'keys'],
  ['discovery/keys', 'keys'],
  ['oauth2/v2.0/devicecode', 'devicecode'],
  ['oauth2/v2.0/token', 'token'],
  ['oauth2/v2.0/authorize', 'authorize'],
  ['oauth2/v2.0/logout', 'logout'],
]);

const POST_ROUTES = new Set<Route>(['devicecode', 'token']);
/** Routes that take both: the authorize page and the form it posts to itself. */
const GET_OR_POST_ROUTES = new Set<Route>(['authorize']);

/** Answers an identity provider request; false when the path is not one of its paths. */
export async function handleIdp(ctx: TenantContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const slash = url.pathname.indexOf('/', 1);
  if (slash < 0) return false;
  const route = ROUTES.get(url.pathname.slice(slash + 1));
  if (!route) return false;
  const tenant = url.pathname.slice(1, slash).toLowerCase();
  const alias = TENANT_ALIASES.has(tenant);
  try {
    if (tenant !== ctx.tenantId && !alias) throw new Refusal(EntraErrors.tenantNotFound(tenant));
    const method = req.method ?? 'GET';
    const expected = POST_ROUTES.has(route) ? 'POST' : 'GET';
    const allowed = method === expected || (expected === 'GET' && method === 'HEAD') || (GET_OR_POST_ROUTES.has(route) && method === 'POST');
    if (!allowed) {
      res.setHeader('allow', expected);
      throw new Refusal(EntraErrors.methodNotAllowed(method, expected));
    }
    // Endpoints are advertised under the tenant segment the client used, as Entra does.
    const base = `${ctx.publicOrigin}/${alias ? tenant : ctx.tenantId}`;
    switch (route) {
      case 'metadata':
        sendJson(res, 200, discoveryDocument(ctx, base, alias));
        return true;
      case 'keys':
        sendJson(res, 200, ctx.keys.jwks(ctx.tokens.v2Issuer), { 'cache-control': 'max-age=300' });
        return true;
      case 'devicecode':
        sendJson(res, 200, await deviceAuthorization(ctx, await readForm(req), req.socket.remoteAddress ?? 'unknown'), { pragma: 'no-cache' });
        return true;
      case 'token':
        sendJson(res, 200, await token(ctx, await readForm(req), alias), { pragma: 'no-cache' });
        return true;
      case 'authorize':
        await handleAuthorize(ctx, req, res, url);
        return true;
      case 'logout':
        sendHtml(res, 200, renderPage('Signed out', '<p class="ok">You have signed out. You can close this window.</p>'));
        return true;
    }
  } catch (error) {
    if (error instanceof Refusal) {
      sendEntraError(req, res, error.entra, ctx.now());
      return true;
    }
    if (error instanceof AccessError && error.code === 'payload_too_large') {
      sendEntraError(req, res, EntraErrors.bodyTooLarge(error.message), ctx.now());
      return true;
    }
    throw error;
  }
}

async function readForm(req: IncomingMessage): Promise<Map<string, string>> {
  const body = await readBody(req, MAX_REQUEST_BODY_BYTES);
  if (mediaType(req) !== 'application/x-www-form-urlencoded') throw new Refusal(EntraErrors.notAForm());
  return parseForm(body);
}

function discoveryDocument(ctx: TenantContext, base: string, alias: boolean): Record<string, unknown> {
  // MSAL requires the issuer to share the authority's host, so it is the public origin here;
  // tokens themselves carry the Microsoft issuer. Entra's multi-tenant documents use `{tenantid}`.
  const issuerTenant = alias ? '{tenantid}' : ctx.tenantId;
  return {
    issuer: `${ctx.publicOrigin}/${issuerTenant}/v2.0`,
    authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
    token_endpoint: `${base}/oauth2/v2.0/token`,
    device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
    end_session_endpoint: `${base}/oauth2/v2.0/logout`,
    jwks_uri: `${base}/discovery/v2.0/keys`,
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
    grant_types_supported: ['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
    claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'name', 'oid', 'tid', 'preferred_username', 'ver'],
    request_uri_parameter_supported: false,
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    tenant_region_scope: null,
    cloud_instance_name: 'microsoftonline.com',
  };
}

/** Starts a device sign-in for the client at address `from` (the per-client bound of device-codes.ts). */
async function deviceAuthorization(ctx: TenantContext, form: Map<string, string>, from: string): Promise<Record<string, unknown>> {
  const app = publicClient(ctx, form);
  const permissions = apiPermissions(ctx, required(form, 'scope'));
  const result = ctx.deviceCodes.start(app.clientId, permissions, from, requestedSignIn(form));
  if ('refused' in result) {
    throw new Refusal(
      result.refused === 'full'
        ? EntraErrors.tooManyPendingSignIns(MAX_PENDING_DEVICE_CODES)
        : EntraErrors.tooManyPendingSignInsFromClient(MAX_PENDING_DEVICE_CODES_PER_CLIENT),
    );
  }
  const authorization = result.started;
  const page = `${ctx.browserOrigin}/devicelogin`;
  return {
    user_code: authorization.userCode,
    device_code: authorization.deviceCode,
    verification_uri: page,
    expires_in: ctx.deviceCodes.lifetimeSec,
    interval: DEVICE_CODE_POLL_INTERVAL_SEC,
    message: `To sign in, use a web browser to open the page ${page} and enter the code ${authorization.userCode} to authenticate.`,
  };
}

async function token(ctx: TenantContext, form: Map<string, string>, alias: boolean): Promise<Record<string, unknown>> {
  const grantType = required(form, 'grant_type');
  if (DEVICE_CODE_GRANTS.has(grantType)) return deviceCodeGrant(ctx, form);
  switch (grantType) {
    case 'authorization_code':
      return authorizationCodeGrant(ctx, form);
    case 'refresh_token':
      return refreshTokenGrant(ctx, form);
    case 'client_credentials':
      if (alias) throw new Refusal(EntraErrors.noTenantForClientCredentials());
      return clientCredentialsGrant(ctx, form);
    default:
      throw new Refusal(EntraErrors.unsupportedGrantType(grantType));
  }
}

async function deviceCodeGrant(ctx: TenantContext, form: Map<string, string>): Promise<Record<string, unknown>> {
  const app = publicClient(ctx, form);
  const result = ctx.deviceCodes.poll(required(form, 'device_code'), app.clientId);
  switch (result.state) {
    case 'pending':
      throw new Refusal(EntraErrors.authorizationPending());
    case 'expired':
      throw new Refusal(EntraErrors.deviceCodeExpired());
    case 'unknown':
    case 'other_client':
      throw new Refusal(EntraErrors.deviceCodeInvalid());
    case 'refused':
      throw new Refusal(result.error);
    case 'approved': {
      const { approvedOid, scopes, signIn } = result.authorization;
      const user = existingUser(ctx, approvedOid as string);
      // Approved before sign-ins were recorded (never now): a password sign-in at this instant.
      return userTokens(ctx, app, user, scopes, signIn ?? (completeSignIn(NOTHING_REQUESTED, false, ctx.now()) as SignInRecord));
    }
  }
}

/** Redeems a code from the authorize page: once, by its client, with its redirect URI and the PKCE verifier. */
async function authorizationCodeGrant(ctx: TenantContext, form: Map<string, string>): Promise<Record<string, unknown>> {
  const app = publicClient(ctx, form);
  const result = ctx.authCodes.redeem(required(form, 'code'), {
    clientId: app.clientId,
    redirectUri: form.get('redirect_uri'),
    codeVerifier: form.get('code_verifier'),
  });
  switch (result.state) {
    case 'ok':
      return userTokens(ctx, app, existingUser(ctx, result.grant.oid), result.grant.scopes, result.grant.signIn);
    case 'unknown':
    case 'other_client':
      throw new Refusal(EntraErrors.authorizationCodeInvalid());
    case 'redeemed':
      throw new Refusal(EntraErrors.authorizationCodeRedeemed());
    case 'expired':
      throw new Refusal(EntraErrors.authorizationCodeExpired());
    case 'redirect_mismatch':
      throw new Refusal(EntraErrors.authorizationCodeRedirectMismatch());
    case 'verifier_missing':
      throw new Refusal(EntraErrors.codeVerifierMissing());
    case 'verifier_mismatch':
      throw new Refusal(EntraErrors.codeVerifierMismatch());
  }
}

async function refreshTokenGrant(ctx: TenantContext, form: Map<string, string>): Promise<Record<string, unknown>> {
  const app = publicClient(ctx, form);
  const check = await ctx.tokens.checkRefreshToken(required(form, 'refresh_token'), app.clientId);
  if (!check.ok) {
    if (check.reason === 'expired') throw new Refusal(EntraErrors.refreshTokenExpired());
    if (check.reason === 'other_client') throw new Refusal(EntraErrors.refreshTokenOtherClient());
    throw new Refusal(EntraErrors.refreshTokenInvalid());
  }
  const user = existingUser(ctx, check.oid);
  // A refresh proves what the sign-in proved; asked for more (MFA, a context, a fresh sign-in), the client must sign in again.
  if (!satisfies(check.signIn, requestedSignIn(form))) throw new Refusal(EntraErrors.interactionRequired());
  const scope = form.get('scope')?.trim();
  return userTokens(ctx, app, user, scope ? apiPermissions(ctx, scope) : [API_SCOPE_NAME], check.signIn);
}

function existingUser(ctx: TenantContext, oid: string): DirectoryUser {
  const user = ctx.directory.users().find((u) => u.oid === oid);
  if (!user) throw new Refusal(EntraErrors.userNotFound(oid, ctx.tenantId));
  return user;
}

/** The client's `claims` request parameter (sign-in-claims.ts), refused in Entra's shape when it is not one. */
function requestedSignIn(form: Map<string, string>): RequestedSignIn {
  const requested = parseRequestedSignIn(form.get('claims'));
  if (typeof requested === 'string') throw new Refusal(EntraErrors.invalidClaims(requested));
  return requested;
}

async function userTokens(
  ctx: TenantContext,
  app: AppRegistration,
  user: DirectoryUser,
  permissions: readonly string[],
  signIn: SignInRecord,
): Promise<Record<string, unknown>> {
  const lifetime = ctx.tokens.accessTokenLifetimeSec;
  const [accessToken, idToken, refreshToken] = await Promise.all([
    ctx.tokens.userAccessToken({
      user,
      groups: ctx.directory.transitiveGroups(user),
      clientId: app.clientId,
      apiClientId: ctx.apps.api.clientId,
      scopes: permissions,
      signIn,
    }),
    ctx.tokens.idToken(user, app.clientId),
    ctx.tokens.refreshToken(user.oid, app.clientId, signIn),
  ]);
  return {
    token_type: 'Bearer',
    scope: permissions.map((p) => `${ctx.apps.apiAppIdUri}/${p}`).join(' '),
    expires_in: lifetime,
    ext_expires_in: lifetime,
    access_token: accessToken,
    refresh_token: refreshToken,
    id_token: idToken,
    // MSAL keys its account on this: home account id `${uid}.${utid}`.
    client_info: Buffer.from(JSON.stringify({ uid: user.oid, utid: ctx.tenantId })).toString('base64url'),
  };
}

async function clientCredentialsGrant(ctx: TenantContext, form: Map<string, string>): Promise<Record<string, unknown>> {
  const clientId = required(form, 'client_id');
  const app = ctx.apps.byClientId(clientId);
  if (!app) throw new Refusal(EntraErrors.unknownClient(clientId, ctx.tenantId));
  await authenticateClient(ctx, app, form);
  const scope = required(form, 'scope');
  if (scope.includes(' ') || !scope.endsWith('/.default')) throw new Refusal(EntraErrors.clientCredentialsScope(scope));
  const resource = ctx.apps.defaultScopeResource(scope);
  if (!resource) throw new Refusal(EntraErrors.resourceNotFound(scope.slice(0, -'/.default'.length), ctx.tenantId));
  const lifetime = ctx.tokens.accessTokenLifetimeSec;
  // Like Entra, an app without a role on the resource still gets a token, just without `roles`:
  // the resource decides what that token may do.
  const accessToken = await ctx.tokens.appToken({
    app,
    resource,
    apiClientId: ctx.apps.api.clientId,
    roles: ctx.applications.grantedRoles(app, resource),
  });
  return { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken };
}

/** A confidential client proves itself with its secret or with a client assertion (certificate or federated). */
async function authenticateClient(ctx: TenantContext, app: AppRegistration, form: Map<string, string>): Promise<void> {
  const assertion = form.get('client_assertion');
  const application = ctx.applications.find(app.clientId);
  if (assertion && application) {
    const refusal = await checkClientAssertion(ctx, application, form.get('client_assertion_type'), assertion);
    if (refusal) throw new Refusal(refusal);
    return;
  }
  const secret = form.get('client_secret');
  if (!secret || app.clientSecret === null) throw new Refusal(EntraErrors.missingClientSecret(app.clientId));
  if (!ctx.apps.secretMatches(app, secret)) throw new Refusal(EntraErrors.invalidClientSecret(app.clientId));
}
