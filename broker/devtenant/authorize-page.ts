// The interactive sign-in page of the dev tenant, at Entra's authorize endpoint
// (`/{tenant}/oauth2/v2.0/authorize`): the authorization code flow with PKCE that MSAL's
// `acquireTokenInteractive` runs with a loopback redirect. `GET` checks the request and shows the
// dev users with Sign in and Decline; `POST` (the page's own form) issues a one-time code for the
// picked user, or the `access_denied` a Decline means, and hands it to the redirect URI the way the
// request asked (`form_post`, what MSAL asks for, or `query`).
//
// What is refused before anything goes to the redirect URI (Entra shows an error page instead):
// an unknown or non-public client, and a redirect URI that is not a loopback address — a code must
// never be sent somewhere the client did not prove it listens. Everything else wrong with a request
// (response type, PKCE, scope) goes back to the redirect URI as an error, as Entra does.
// There is no password, as on the device-login page: a post must come from the page itself
// (form-guard.ts), never from a page on another site.

import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError } from '../../shared/errors.js';
import { readBody } from '../http/respond.js';
import { MAX_PENDING_AUTH_CODES, type AuthorizationGrant } from './auth-codes.js';
import type { TenantContext } from './context.js';
import type { DirectoryUser } from './directory.js';
import { EntraErrors, entraDescription, entraTimestamp, type EntraError } from './entra-errors.js';
import { FORM_TOKEN_FIELD } from './form-guard.js';
import { signInFormPage } from './sign-in-form.js';
import { completeSignIn, parseRequestedSignIn, type SignInRecord } from './sign-in-claims.js';
import { escapeHtml, renderPage } from './html.js';
import { MAX_REQUEST_BODY_BYTES, mediaType, parseForm, sendHtml } from './http-io.js';
import { apiPermissions, publicClient, Refusal, required } from './oauth-checks.js';

/** Host names a public client's loopback redirect may use (Entra ignores the port of a loopback redirect URI). */
const LOOPBACK_REDIRECT_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
/** The authorize request fields the page carries from the GET to its POST (and checks again there). */
const REQUEST_FIELDS = ['client_id', 'redirect_uri', 'response_type', 'response_mode', 'scope', 'state', 'code_challenge', 'code_challenge_method', 'claims'];
const RESPONSE_MODES = new Set(['form_post', 'query']);

/** An authorize request that passed the checks that decide whether the redirect URI may be used at all. */
interface Addressed {
  clientId: string;
  redirectUri: string;
  responseMode: 'form_post' | 'query';
  state: string | undefined;
  fields: Map<string, string>;
}

/** Answers GET (the page) and POST (its form) of the authorize endpoint. */
export async function handleAuthorize(ctx: TenantContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
  const method = req.method ?? 'GET';
  let addressed: Addressed;
  let fields: Map<string, string>;
  try {
    fields = method === 'POST' ? await readPageForm(req) : new Map(url.searchParams);
    addressed = address(ctx, fields);
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    // Nowhere safe to send the answer: say it on the page, as Entra does.
    sendHtml(res, 400, renderPage('Sign-in request refused', `<p class="error">${escapeHtml(`AADSTS${error.entra.aadsts}: ${error.entra.description}`)}</p>`));
    return;
  }
  try {
    const scopes = checkRequest(ctx, fields);
    if (method !== 'POST') {
      sendHtml(res, 200, pickerPage(ctx, url.pathname, addressed, null));
      return;
    }
    const forged = ctx.forms.checkForm(req, fields.get(FORM_TOKEN_FIELD));
    if (forged) {
      sendHtml(res, 403, pickerPage(ctx, url.pathname, addressed, forged));
      return;
    }
    if (fields.get('action') === 'decline') throw new Refusal(EntraErrors.userDeclined());
    const username = fields.get('username')?.trim() ?? '';
    const user = username ? ctx.directory.findUser(username) : undefined;
    if (!user) {
      const problem = username ? `There is no dev user "${username}". Choose one of the users below.` : 'Choose the dev user to sign in as.';
      sendHtml(res, 400, pickerPage(ctx, url.pathname, addressed, problem));
      return;
    }
    // A sign-in asked for MFA (a resource's claims challenge) completes only for a user who has it.
    const requested = parseRequestedSignIn(fields.get('claims'));
    if (typeof requested === 'string') throw new Refusal(EntraErrors.invalidClaims(requested));
    const signIn = completeSignIn(requested, user.mfa, ctx.now());
    if (!signIn) throw new Refusal(EntraErrors.mfaNotRegistered(user.upn));
    const code = ctx.authCodes.issue(grantFor(addressed, fields, scopes, user, signIn));
    if (!code) throw new Refusal(EntraErrors.tooManyPendingSignIns(MAX_PENDING_AUTH_CODES));
    respond(res, addressed, {
      code,
      // MSAL keys its account on this, as in the token response.
      client_info: Buffer.from(JSON.stringify({ uid: user.oid, utid: ctx.tenantId })).toString('base64url'),
    });
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    respond(res, addressed, errorFields(error.entra, ctx.now()));
  }
}

async function readPageForm(req: IncomingMessage): Promise<Map<string, string>> {
  try {
    const body = await readBody(req, MAX_REQUEST_BODY_BYTES);
    return mediaType(req) === 'application/x-www-form-urlencoded' ? parseForm(body) : new Map();
  } catch (error) {
    if (error instanceof AccessError && error.code === 'payload_too_large') throw new Refusal(EntraErrors.bodyTooLarge(error.message));
    throw error;
  }
}

/** The client and where its answer goes; refuses (without redirecting) when either cannot be trusted. */
function address(ctx: TenantContext, fields: Map<string, string>): Addressed {
  const app = publicClient(ctx, fields);
  const redirectUri = required(fields, 'redirect_uri');
  if (!isLoopbackRedirect(redirectUri)) throw new Refusal(EntraErrors.redirectUriMismatch(redirectUri, app.clientId));
  const mode = fields.get('response_mode') ?? 'query';
  if (!RESPONSE_MODES.has(mode)) throw new Refusal(EntraErrors.unsupportedResponseMode(mode));
  return { clientId: app.clientId, redirectUri, responseMode: mode as Addressed['responseMode'], state: fields.get('state'), fields };
}

/** A public client's loopback redirect: `http://localhost|127.0.0.1|[::1][:port][/path]`, nothing else. */
export function isLoopbackRedirect(text: string): boolean {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return false;
  }
  return url.protocol === 'http:' && LOOPBACK_REDIRECT_HOSTS.has(url.hostname) && !url.username && !url.password && !url.search && !url.hash;
}

/** The rest of the request: a code response with PKCE S256 for the API's scope. Returns the permissions asked for. */
function checkRequest(ctx: TenantContext, fields: Map<string, string>): string[] {
  const responseType = required(fields, 'response_type');
  if (responseType !== 'code') throw new Refusal(EntraErrors.unsupportedResponseType(responseType));
  const challenge = fields.get('code_challenge');
  if (!challenge) throw new Refusal(EntraErrors.pkceRequired());
  const method = fields.get('code_challenge_method') ?? 'plain';
  if (method !== 'S256') throw new Refusal(EntraErrors.codeChallengeMethodInvalid(method));
  return apiPermissions(ctx, required(fields, 'scope'));
}

function grantFor(addressed: Addressed, fields: Map<string, string>, scopes: string[], user: DirectoryUser, signIn: SignInRecord): AuthorizationGrant {
  return {
    clientId: addressed.clientId,
    redirectUri: addressed.redirectUri,
    codeChallenge: fields.get('code_challenge') as string,
    scopes,
    oid: user.oid,
    signIn,
  };
}

/** An error as Entra puts it on the redirect: `error`, `error_description` with the AADSTS number, and its ids. */
function errorFields(err: EntraError, now: number): Record<string, string> {
  const traceId = randomUUID();
  const correlationId = randomUUID();
  const timestamp = entraTimestamp(now);
  return {
    error: err.error,
    error_description: entraDescription(err, { traceId, correlationId, timestamp }),
    error_uri: `https://login.microsoftonline.com/error?code=${err.aadsts}`,
    ...(err.error === 'access_denied' ? { error_subcode: 'cancel' } : {}),
  };
}

/** Sends `answer` (plus the request's state) to the redirect URI the way the request asked. */
function respond(res: ServerResponse, addressed: Addressed, answer: Record<string, string>): void {
  const fields = { ...answer, ...(addressed.state === undefined ? {} : { state: addressed.state }) };
  if (addressed.responseMode === 'query') {
    const target = new URL(addressed.redirectUri);
    for (const [key, value] of Object.entries(fields)) target.searchParams.set(key, value);
    res.writeHead(302, { location: target.toString(), 'cache-control': 'no-store' });
    res.end();
    return;
  }
  // form_post: a page that posts the fields to the redirect URI at once (Entra's way); without
  // scripts a person presses Continue. Only this page's own script may run, and its form may post
  // only to the redirect URI's origin.
  const nonce = randomBytes(16).toString('base64');
  const inputs = Object.entries(fields)
    .map(([key, value]) => `<input type="hidden" name="${escapeHtml(key)}" value="${escapeHtml(value)}">`)
    .join('\n');
  const body = `<form method="post" action="${escapeHtml(addressed.redirectUri)}">
${inputs}
<p class="note">Returning to your terminal…</p>
<noscript><button type="submit">Continue</button></noscript>
</form>
<script nonce="${nonce}">document.forms[0].submit();</script>`;
  sendHtml(res, 200, renderPage('Signing you in', body), {
    csp: `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'unsafe-inline'; form-action ${new URL(addressed.redirectUri).origin}; frame-ancestors 'none'`,
  });
}

function pickerPage(ctx: TenantContext, action: string, addressed: Addressed, error: string | null): string {
  const carried = REQUEST_FIELDS.filter((name) => addressed.fields.has(name))
    .map((name) => `<input type="hidden" name="${name}" value="${escapeHtml(addressed.fields.get(name) as string)}">`)
    .join('\n');
  const returnTo = new URL(addressed.redirectUri);
  return signInFormPage(ctx, {
    action,
    intro: `<p class="note">Pick who you want to be. Your browser then returns to <code>${escapeHtml(returnTo.origin)}</code>, the terminal that asked.</p>`,
    error,
    chosen: addressed.fields.get('username') ?? '',
    fields: carried,
  });
}
