// What the dev tenant reads from MSAL's claims parameter and what a sign-in then proves.

import { describe, expect, it } from 'vitest';
import { completeSignIn, NOTHING_REQUESTED, parseRequestedSignIn, satisfies } from '../../../broker/devtenant/sign-in-claims.js';

const NOW = Date.UTC(2026, 11, 9, 10, 0, 0);

describe('sign-in claims', () => {
  it('reads amr mfa, acrs values and auth_time from an access_token claims request', () => {
    expect(parseRequestedSignIn('{"access_token":{"amr":{"essential":true,"values":["mfa"]},"auth_time":{"essential":true}}}')).toEqual({
      mfa: true,
      acrs: [],
      fresh: true,
    });
    expect(parseRequestedSignIn('{"access_token":{"acrs":{"essential":true,"value":"c1"}}}')).toEqual({ mfa: false, acrs: ['c1'], fresh: false });
    expect(parseRequestedSignIn(undefined)).toEqual(NOTHING_REQUESTED);
  });

  it('refuses what is not a claims request', () => {
    expect(parseRequestedSignIn('{nope')).toBe('The claims parameter is not valid JSON.');
    expect(parseRequestedSignIn('[]')).toBe('The claims parameter must be a JSON object.');
  });

  it('gives a user with MFA amr mfa and the contexts asked for; refuses a user without; a plain sign-in is pwd only', () => {
    expect(completeSignIn({ mfa: false, acrs: ['c1'], fresh: false }, true, NOW)).toEqual({ amr: ['pwd', 'mfa'], acrs: ['c1'], authTime: NOW / 1000 });
    expect(completeSignIn({ mfa: true, acrs: [], fresh: false }, false, NOW)).toBeNull();
    expect(completeSignIn(NOTHING_REQUESTED, false, NOW)).toEqual({ amr: ['pwd'], acrs: [], authTime: NOW / 1000 });
  });

  it('lets a refresh prove only what its sign-in proved, never a fresh sign-in', () => {
    const mfa = { amr: ['pwd', 'mfa'], acrs: ['c1'], authTime: NOW / 1000 };
    expect(satisfies(mfa, { mfa: true, acrs: ['c1'], fresh: false })).toBe(true);
    expect(satisfies({ ...mfa, amr: ['pwd'] }, { mfa: true, acrs: [], fresh: false })).toBe(false);
    expect(satisfies(mfa, { mfa: false, acrs: ['c2'], fresh: false })).toBe(false);
    expect(satisfies(mfa, { mfa: false, acrs: [], fresh: true })).toBe(false);
  });
});
