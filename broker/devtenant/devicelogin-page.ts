// The page a person opens to finish a device code sign-in: `GET /devicelogin` shows a form with a
// code field and the dev users; `POST /devicelogin` (`user_code`, `username` = a dev user's UPN)
// approves that pending sign-in for that user; with `action=decline` (the Decline button) it ends the
// sign-in instead, and the client's next poll hears `authorization_declined`. While the tenant blocks
// device code (DevTenantOptions.blockDeviceCode) the page says so after the person picks a user, as
// Conditional Access does, and the poll hears AADSTS53003. Tests and scripts drive the same form. There is no
// password: whoever can reach the loopback dev broker may be any dev user, which is the point — so
// a post must come from the page itself (form-guard.ts: same origin, and the form's own token, which
// a script reads from the page as a browser does), never from a page on another site.

import type { IncomingMessage, ServerResponse } from 'node:http';
import { AccessError } from '../../shared/errors.js';
import type { TenantContext } from './context.js';
import { type ApproveResult, normalizeUserCode } from './device-codes.js';
import { EntraErrors } from './entra-errors.js';
import { completeSignIn } from './sign-in-claims.js';
import { FORM_TOKEN_FIELD } from './form-guard.js';
import { signInFormPage } from './sign-in-form.js';
import type { DirectoryUser } from './directory.js';
import { escapeHtml, renderPage } from './html.js';
import { mediaType, parseForm, MAX_REQUEST_BODY_BYTES, sendHtml } from './http-io.js';
import { readBody } from '../http/respond.js';

export const DEVICE_LOGIN_PATH = '/devicelogin';

interface FormState {
  userCode: string;
  username: string;
  error: string | null;
}

export async function handleDeviceLogin(ctx: TenantContext, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  if (url.pathname !== DEVICE_LOGIN_PATH && url.pathname !== `${DEVICE_LOGIN_PATH}/`) return false;
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') {
    sendHtml(res, 200, formPage(ctx, { userCode: url.searchParams.get('user_code') ?? '', username: '', error: null }));
    return true;
  }
  if (method !== 'POST') {
    res.setHeader('allow', 'GET, POST');
    sendHtml(res, 405, renderPage('Method not allowed', `<p class="error">${escapeHtml(method)} is not supported here; open this page in a browser.</p>`));
    return true;
  }
  let form: Map<string, string>;
  try {
    const body = await readBody(req, MAX_REQUEST_BODY_BYTES);
    form = mediaType(req) === 'application/x-www-form-urlencoded' ? parseForm(body) : new Map();
  } catch (error) {
    if (!(error instanceof AccessError)) throw error;
    sendHtml(res, error.status, renderPage('Sign-in failed', `<p class="error">${escapeHtml(error.message)}</p>`));
    return true;
  }
  const state: FormState = { userCode: form.get('user_code') ?? '', username: form.get('username') ?? '', error: null };
  const forged = ctx.forms.checkForm(req, form.get(FORM_TOKEN_FIELD));
  if (forged) {
    // Nothing approved; the page offers a fresh form for a person who did mean to sign in.
    sendHtml(res, 403, formPage(ctx, { ...state, error: forged }));
    return true;
  }
  if (form.get('action') === 'decline') {
    state.error = settleOrExplain(state, (code) => ctx.deviceCodes.refuse(code, EntraErrors.deviceSignInDeclined()));
    if (state.error) sendHtml(res, 400, formPage(ctx, state));
    else sendHtml(res, 200, renderPage('Sign-in declined', '<p class="ok">You declined the sign-in. Nobody was signed in; you can close this window.</p>'));
    return true;
  }
  const user = state.username ? ctx.directory.findUser(state.username.trim()) : undefined;
  state.error = approveOrExplain(ctx, state, user);
  if (state.error || !user) {
    sendHtml(res, 400, formPage(ctx, state));
    return true;
  }
  if (ctx.deviceCodeBlocked()) {
    // The tenant blocks this flow (as Conditional Access does after the person signs in): the page
    // says so in Entra's words, and the client's next poll gets AADSTS53003.
    sendHtml(
      res,
      403,
      renderPage(
        'You cannot access this right now',
        `<p class="error">Your sign-in was successful but does not meet the criteria to access this resource. For example, you might be signing in from a browser, app, or location that is restricted by your admin.</p>
<p>This tenant blocks device code sign-in. In your terminal, run <code>access login --browser</code>.</p>`,
      ),
    );
    return true;
  }
  sendHtml(
    res,
    200,
    renderPage(
      'Signed in',
      `<p class="ok">Signed in as <strong>${escapeHtml(user.name)}</strong> (${escapeHtml(user.upn)}).</p>
<p>You can close this window and return to your terminal.</p>`,
    ),
  );
  return true;
}

/** Approves the sign-in the form names; returns what is wrong instead when it cannot. */
function approveOrExplain(ctx: TenantContext, state: FormState, user: DirectoryUser | undefined): string | null {
  if (!normalizeUserCode(state.userCode)) return 'Enter the code your terminal shows.';
  if (!state.username.trim()) return 'Choose the dev user to sign in as.';
  if (!user) return `There is no dev user "${state.username}". Choose one of the users below.`;
  const code = normalizeUserCode(state.userCode) as string;
  if (ctx.deviceCodeBlocked()) return explainSettled(state, ctx.deviceCodes.refuse(code, EntraErrors.blockedByConditionalAccess()));
  // A sign-in asked for MFA (a resource's claims challenge) completes only for a user who has it.
  const requested = ctx.deviceCodes.requestedFor(code);
  const signIn = requested ? completeSignIn(requested, user.mfa, ctx.now()) : null;
  if (requested && !signIn) {
    ctx.deviceCodes.refuse(code, EntraErrors.mfaNotRegistered(user.upn));
    return `This sign-in asks for multi-factor authentication, and ${user.upn} has no second factor registered, so it was refused. Your terminal says so; sign in again as a user with MFA.`;
  }
  return explainSettled(state, ctx.deviceCodes.approve(code, user.oid, signIn));
}

/** Settles the pending sign-in the form names (`settle`: approve or refuse it); returns what is wrong instead when it cannot. */
function settleOrExplain(state: FormState, settle: (code: string) => ApproveResult): string | null {
  const code = normalizeUserCode(state.userCode);
  if (!code) return 'Enter the code your terminal shows.';
  return explainSettled(state, settle(code));
}

/** What is wrong with the code the form named, when settling it did not work; null when it did. */
function explainSettled(state: FormState, result: ApproveResult): string | null {
  if (result === 'unknown') {
    return `The code "${state.userCode}" is not a pending sign-in (unknown, or already used). Check the code your terminal shows.`;
  }
  if (result === 'expired') return `The code "${state.userCode}" has expired. Run the sign-in again to get a new code.`;
  return null;
}

function formPage(ctx: TenantContext, state: FormState): string {
  return signInFormPage(ctx, {
    action: DEVICE_LOGIN_PATH,
    intro: '<p class="note">Enter the code shown by <code>access login</code> and pick who you want to be.</p>',
    error: state.error,
    chosen: state.username,
    fields: `<p><label>Code <input name="user_code" value="${escapeHtml(state.userCode)}" autocomplete="off" spellcheck="false" maxlength="32" required autofocus></label></p>`,
  });
}
