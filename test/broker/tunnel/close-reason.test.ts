// Close reasons fit RFC 6455's 123 bytes and stay valid UTF-8.

import { describe, expect, it } from 'vitest';
import { expiredReason, fitCloseReason, MAX_CLOSE_REASON_BYTES, membershipLostReason, revokedReason } from '../../../broker/tunnel/close-reason.js';

describe('fitCloseReason', () => {
  it('leaves a reason that fits as it is', () => {
    const text = 'x'.repeat(MAX_CLOSE_REASON_BYTES);
    expect(fitCloseReason(text)).toBe(text);
  });

  it.each([
    ['ASCII', 'a'.repeat(300)],
    ['two-byte characters', 'ü'.repeat(100)],
    ['three-byte characters', '漢'.repeat(100)],
    ['emoji (surrogate pairs)', '🔥'.repeat(60)],
    ['a mix', `revoked by bob@contoso.dev: ${'à🔥b漢'.repeat(30)}`],
  ])('cuts %s on a character boundary to at most 123 bytes, marked with …', (_kind, text) => {
    const fitted = fitCloseReason(text);
    expect(Buffer.byteLength(fitted)).toBeLessThanOrEqual(MAX_CLOSE_REASON_BYTES);
    expect(fitted.endsWith('…')).toBe(true);
    // Round-trips through UTF-8 unchanged: nothing was split into an invalid sequence.
    expect(Buffer.from(fitted).toString('utf8')).toBe(fitted);
    expect(text.startsWith(fitted.slice(0, -1))).toBe(true);
  });
});

describe('tunnel close reasons', () => {
  it('says who revoked and why', () => {
    expect(revokedReason({ oid: 'o', upn: 'bob@contoso.dev' }, 'INC-4211 closed')).toBe('revoked by bob@contoso.dev: INC-4211 closed');
    expect(revokedReason({ oid: 'o-robot', upn: null }, null)).toBe('revoked by o-robot');
  });

  it('gives the absolute expiry as an ISO instant', () => {
    expect(expiredReason(Date.UTC(2025, 2, 4, 10, 0))).toBe('access expired at 2025-03-04T10:00:00.000Z');
  });

  it('names the resource a removed member loses', () => {
    expect(membershipLostReason('demo-db')).toBe('you are no longer in a group allowed to use demo-db');
  });
});
