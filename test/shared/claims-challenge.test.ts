// The claims challenge as Entra-protected APIs send it, written by the broker and read by the CLI.

import { describe, expect, it } from 'vitest';
import { claimsChallengeHeader, parseClaimsChallenge } from '../../shared/claims-challenge.js';

const CLAIMS = '{"access_token":{"acrs":{"essential":true,"value":"c1"}}}';

describe('claims challenge', () => {
  it("writes Microsoft's documented form: Bearer, realm, authorization_uri, error, base64 claims", () => {
    // learn.microsoft.com/entra/identity-platform/claims-challenge: the c1 example's claims value.
    expect(claimsChallengeHeader(CLAIMS, 'https://login.microsoftonline.com/t/oauth2/v2.0/authorize')).toBe(
      'Bearer realm="", authorization_uri="https://login.microsoftonline.com/t/oauth2/v2.0/authorize", error="insufficient_claims", claims="eyJhY2Nlc3NfdG9rZW4iOnsiYWNycyI6eyJlc3NlbnRpYWwiOnRydWUsInZhbHVlIjoiYzEifX19"',
    );
  });

  it('reads back the claims JSON', () => {
    expect(parseClaimsChallenge(claimsChallengeHeader(CLAIMS, ''))).toBe(CLAIMS);
  });

  it.each([
    ['an invalid_token challenge', 'Bearer error="invalid_token", error_description="token_expired"'],
    ['no header', undefined],
    ['another scheme', 'Basic realm="x", error="insufficient_claims", claims="e30="'],
    ['claims that are not base64', 'Bearer error="insufficient_claims", claims="not base64!"'],
    ['claims that are not a JSON object', `Bearer error="insufficient_claims", claims="${Buffer.from('[1]').toString('base64')}"`],
  ])('is null for %s', (_name, header) => {
    expect(parseClaimsChallenge(header)).toBeNull();
  });
});
