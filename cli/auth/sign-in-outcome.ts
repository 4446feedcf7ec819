// What a failed sign-in means, in words and an error code (and so an exit code): one pure function
// over what MSAL raised and what the tenant last answered, so every path — device code and browser,
// real tenant and dev tenant — is explained the same way, and a table of cases tests it.
//
// What MSAL 7 really raises (measured against the dev tenant, test/e2e/sign-in-browser.test.ts):
//   - a device code poll the tenant refuses: AuthError `post_request_failed` whose message is only
//     the OAuth error word (`authorization_declined`, `invalid_grant`, `expired_token`); the AADSTS
//     number is not in the error, so the tenant's last answer (`server`) is read beside it;
//   - a device code past its `expires_in`, on the client's clock: ClientAuthError `device_code_expired`;
//   - the browser page's Decline: ServerError `access_denied` from the redirect;
//   - a refused code redemption: ServerError (or InteractionRequiredAuthError) with the token
//     endpoint's `error`, AADSTS text in the message and `suberror`.

import type { ErrorCode } from '../../shared/errors.js';
import type { SignInMethod } from '../../shared/wire.js';

/** Entra's AADSTS code for "blocked by Conditional Access" (the managed "Block device code flow" policy among others). */
export const AADSTS_BLOCKED_BY_CONDITIONAL_ACCESS = 53003;

/** The tenant's last error answer, as its JSON body had it (Entra's fields). */
export interface TenantErrorAnswer {
  error: string;
  errorCodes: readonly number[];
  suberror?: string;
  description?: string;
}

export interface SignInFailure {
  /** How the person was signing in. */
  method: SignInMethod;
  /** MSAL's `errorCode` (AuthError and subclasses); absent for anything else. */
  msalCode?: string;
  /** MSAL's `errorMessage` (for `post_request_failed`: the tenant's OAuth error word). */
  msalMessage?: string;
  /** The tenant's last error answer during this sign-in, when there was one. */
  server?: TenantErrorAnswer | null;
}

export interface SignInExplanation {
  code: ErrorCode;
  message: string;
}

const DECLINED = new Set(['authorization_declined', 'access_denied']);
const EXPIRED = new Set(['device_code_expired', 'user_timeout_reached', 'expired_token', 'device_code_polling_cancelled']);

/** Why the sign-in failed and what to do, from what MSAL raised and what the tenant said. */
export function explainSignInFailure(failure: SignInFailure): SignInExplanation {
  const oauthError = failure.server?.error ?? (failure.msalCode === 'post_request_failed' ? failure.msalMessage : failure.msalCode);
  const codes = failure.server?.errorCodes ?? [];
  const again = failure.method === 'browser' ? '`access login --browser`' : '`access login`';

  if (codes.includes(AADSTS_BLOCKED_BY_CONDITIONAL_ACCESS)) {
    if (failure.method === 'device-code') {
      return {
        code: 'sign_in_blocked',
        message:
          'your tenant blocks device code sign-in (Conditional Access, AADSTS53003) — run `access login --browser` to sign in through your browser instead',
      };
    }
    return {
      code: 'sign_in_blocked',
      message: `a Conditional Access policy of your tenant blocked this sign-in (AADSTS53003) — ask your Entra administrator which policy applies to you${detail(failure)}`,
    };
  }
  if (oauthError && DECLINED.has(oauthError)) {
    return { code: 'sign_in_declined', message: `the sign-in was declined on the sign-in page, so nobody was signed in — run ${again} to try again` };
  }
  if ((failure.msalCode && EXPIRED.has(failure.msalCode)) || (oauthError && EXPIRED.has(oauthError))) {
    return { code: 'sign_in_timed_out', message: `the sign-in code expired before the sign-in was finished — run ${again} again and finish it in time` };
  }
  if (failure.msalCode === 'post_request_failed' && !failure.server) {
    // MSAL's word for a token request that got no usable answer at all.
    return { code: 'tenant_unreachable', message: 'sign-in failed: the tenant did not answer the token request — check your network and try again' };
  }
  const what = oauthError ?? failure.msalCode ?? 'unknown error';
  return { code: 'sign_in_failed', message: `sign-in failed: ${what}${detail(failure)}` };
}

/** The tenant's own words (first line, with the AADSTS number), or MSAL's when the tenant said none. */
function detail(failure: SignInFailure): string {
  const text = failure.server?.description ?? (failure.msalCode === 'post_request_failed' ? undefined : failure.msalMessage);
  if (!text) return '';
  const first = text.split(/\r?\n/)[0]?.trim() ?? '';
  return first ? ` — ${first}` : '';
}
