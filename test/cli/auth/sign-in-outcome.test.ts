// The one mapping from what MSAL raised (and what the tenant last answered) to what the CLI says and
// its exit code. Each row is a situation measured against the dev tenant (session-sign-in.test.ts)
// or one Entra answers with.

import { describe, expect, it } from 'vitest';
import { explainSignInFailure, type SignInFailure } from '../../../cli/auth/sign-in-outcome.js';
import { ErrorCodes } from '../../../shared/errors.js';

const blocked = {
  error: 'invalid_grant',
  errorCodes: [53003],
  suberror: 'message_only',
  description: 'AADSTS53003: Access has been blocked by Conditional Access policies.',
};

const rows: Array<{ situation: string; failure: SignInFailure; code: keyof typeof ErrorCodes; exit: number; says: RegExp }> = [
  {
    situation: 'device code declined on the page (MSAL: post_request_failed authorization_declined)',
    failure: {
      method: 'device-code',
      msalCode: 'post_request_failed',
      msalMessage: 'authorization_declined',
      server: { error: 'authorization_declined', errorCodes: [65004] },
    },
    code: 'sign_in_declined',
    exit: 3,
    says: /declined on the sign-in page.*run `access login` to try again/,
  },
  {
    situation: 'browser Decline (MSAL: ServerError access_denied from the redirect)',
    failure: { method: 'browser', msalCode: 'access_denied', msalMessage: 'AADSTS65004: User declined to consent to access the app.' },
    code: 'sign_in_declined',
    exit: 3,
    says: /declined.*`access login --browser`/,
  },
  {
    situation: 'device code blocked by Conditional Access (MSAL: post_request_failed invalid_grant; tenant: 53003)',
    failure: { method: 'device-code', msalCode: 'post_request_failed', msalMessage: 'invalid_grant', server: blocked },
    code: 'sign_in_blocked',
    exit: 3,
    says: /tenant blocks device code sign-in.*AADSTS53003.*run `access login --browser`/,
  },
  {
    situation: 'browser sign-in blocked by Conditional Access (nothing for the CLI to switch to)',
    failure: { method: 'browser', msalCode: 'invalid_grant', msalMessage: blocked.description, server: blocked },
    code: 'sign_in_blocked',
    exit: 3,
    says: /Conditional Access policy.*AADSTS53003.*administrator/,
  },
  {
    situation: 'device code past expires_in on the client (MSAL: device_code_expired)',
    failure: { method: 'device-code', msalCode: 'device_code_expired', msalMessage: 'Device code is expired.' },
    code: 'sign_in_timed_out',
    exit: 5,
    says: /code expired.*run `access login` again/,
  },
  {
    situation: 'device code expired at the tenant first (MSAL: post_request_failed expired_token)',
    failure: { method: 'device-code', msalCode: 'post_request_failed', msalMessage: 'expired_token', server: { error: 'expired_token', errorCodes: [70020] } },
    code: 'sign_in_timed_out',
    exit: 5,
    says: /code expired/,
  },
  {
    situation: "the CLI's own wait ran out (MSAL: user_timeout_reached)",
    failure: { method: 'device-code', msalCode: 'user_timeout_reached' },
    code: 'sign_in_timed_out',
    exit: 5,
    says: /expired/,
  },
  {
    situation: 'a token request with no usable answer (MSAL: post_request_failed, no tenant body)',
    failure: { method: 'device-code', msalCode: 'post_request_failed', msalMessage: '', server: null },
    code: 'tenant_unreachable',
    exit: 1,
    says: /did not answer.*check your network/,
  },
  {
    situation: 'any other refusal keeps the tenant’s AADSTS words',
    failure: {
      method: 'browser',
      msalCode: 'invalid_grant',
      msalMessage: 'x',
      server: { error: 'invalid_grant', errorCodes: [501481], description: 'AADSTS501481: The Code_Verifier does not match.\r\nTrace ID: 1' },
    },
    code: 'sign_in_failed',
    exit: 1,
    says: /^sign-in failed: invalid_grant — AADSTS501481: The Code_Verifier does not match\.$/,
  },
];

describe('explainSignInFailure', () => {
  it.each(rows)('$situation → $code (exit $exit)', ({ failure, code, exit, says }) => {
    const explained = explainSignInFailure(failure);
    expect(explained.code).toBe(code);
    expect(ErrorCodes[explained.code].exit).toBe(exit);
    expect(explained.message).toMatch(says);
  });
});
