import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../../shared/errors.js';
import { bearerTokenFrom, MAX_TOKEN_LENGTH } from '../../../broker/auth/bearer-token.js';

const TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJvaWQiOiJ4In0.c2lnbmF0dXJl';

describe('bearerTokenFrom', () => {
  it.each([
    ['Bearer TOKEN', TOKEN],
    ['bearer TOKEN', TOKEN],
    ['BEARER   TOKEN  ', TOKEN],
    ['Bearer abc-._~+/==', 'abc-._~+/=='],
  ])('reads the token from %j', (header, expected) => {
    expect(bearerTokenFrom(header.replace('TOKEN', TOKEN))).toBe(expected);
  });

  it.each<[string, string | undefined, ErrorCode]>([
    ['no header', undefined, 'token_missing'],
    ['an empty header', '', 'token_missing'],
    ['a blank header', '   ', 'token_missing'],
    ['Basic credentials', 'Basic dXNlcjpwYXNz', 'token_malformed'],
    ['a bare token without a scheme', TOKEN, 'token_malformed'],
    ['Bearer with no token', 'Bearer', 'token_malformed'],
    ['Bearer followed by spaces only', 'Bearer    ', 'token_malformed'],
    ['a token with a space inside', `Bearer ${TOKEN} extra`, 'token_malformed'],
    ['a quoted token', `Bearer "${TOKEN}"`, 'token_malformed'],
    ['an overlong token', `Bearer ${'a'.repeat(MAX_TOKEN_LENGTH + 1)}`, 'token_malformed'],
    ['garbage', '%%%', 'token_malformed'],
  ])('refuses %s with its code and never echoes the credential', (_, header, code) => {
    let caught: unknown;
    try {
      bearerTokenFrom(header);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code, status: 401 });
    const message = (caught as Error).message;
    expect(message).not.toContain(TOKEN);
    expect(message).not.toContain('dXNlcjpwYXNz');
    expect(message).toContain('Authorization');
  });

  it('names the scheme it got when it is a plain scheme name', () => {
    expect(() => bearerTokenFrom('Basic dXNlcjpwYXNz')).toThrow(/"Basic" scheme/);
  });
});
