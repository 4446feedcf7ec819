// Authorization codes as a store: one redemption each, by the client they were issued to, and a
// bounded number outstanding (anyone who reaches the sign-in page may ask for one).

import { describe, expect, it } from 'vitest';
import { AuthorizationCodes, MAX_PENDING_AUTH_CODES, s256Challenge } from '../../../broker/devtenant/auth-codes.js';

const VERIFIER = 'dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk';
const grant = {
  clientId: 'cli',
  redirectUri: 'http://localhost:1234',
  codeChallenge: s256Challenge(VERIFIER),
  scopes: ['user_impersonation'],
  oid: 'u1',
  signIn: { amr: ['pwd'], acrs: [], authTime: 0 },
};

describe('AuthorizationCodes', () => {
  it("computes RFC 7636's S256 example challenge", () => {
    expect(s256Challenge(VERIFIER)).toBe('E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM');
  });

  it('refuses a code to another client without spending it', () => {
    const codes = new AuthorizationCodes(() => 0);
    const code = codes.issue(grant) as string;
    expect(codes.redeem(code, { clientId: 'other', redirectUri: grant.redirectUri, codeVerifier: VERIFIER })).toEqual({ state: 'other_client' });
    expect(codes.redeem(code, { clientId: 'cli', redirectUri: grant.redirectUri, codeVerifier: VERIFIER })).toEqual({ state: 'ok', grant });
    expect(codes.redeem(code, { clientId: 'cli', redirectUri: grant.redirectUri, codeVerifier: VERIFIER })).toEqual({ state: 'redeemed' });
  });

  it(`issues at most ${MAX_PENDING_AUTH_CODES} outstanding codes, and again once they expire`, () => {
    const clock = { now: 0 };
    const codes = new AuthorizationCodes(() => clock.now);
    for (let i = 0; i < MAX_PENDING_AUTH_CODES; i++) expect(codes.issue(grant)).not.toBeNull();
    expect(codes.issue(grant)).toBeNull();
    clock.now += 600_000;
    expect(codes.issue(grant)).not.toBeNull();
  });
});
