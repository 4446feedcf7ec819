// The Graph emulator remembers a verified app token until its exp (with Graph's skew) and only while
// the key that signed it is still the tenant's; beyond MAX_VERIFIED_GRAPH_TOKENS the oldest is forgotten.

import { describe, expect, it } from 'vitest';
import { MAX_VERIFIED_GRAPH_TOKENS, VerifiedGraphTokens } from '../../../broker/devtenant/graph-tokens.js';

const NOW = Date.parse('2026-06-01T12:00:00Z');
const EXP = NOW / 1000 + 3600;
const SKEW_MS = 300_000;
const anyKey = (): boolean => true;

describe('VerifiedGraphTokens', () => {
  it('gives the roles of a remembered token until its exp plus the skew, then forgets it', () => {
    const tokens = new VerifiedGraphTokens();
    expect(tokens.roles('t', NOW, anyKey)).toBeUndefined();
    tokens.remember('t', { kid: 'k1', exp: EXP, roles: ['GroupMember.Read.All'] });
    expect(tokens.roles('t', NOW, anyKey)).toEqual(['GroupMember.Read.All']);
    expect(tokens.roles('t', EXP * 1000 + SKEW_MS - 1000, anyKey)).toEqual(['GroupMember.Read.All']);
    expect(tokens.roles('t', EXP * 1000 + SKEW_MS, anyKey)).toBeUndefined();
    // Forgotten, not merely refused: an earlier clock does not bring it back.
    expect(tokens.roles('t', NOW, anyKey)).toBeUndefined();
  });

  it('forgets a token whose signing key the tenant no longer has', () => {
    const tokens = new VerifiedGraphTokens();
    tokens.remember('t', { kid: 'k1', exp: EXP, roles: [] });
    expect(tokens.roles('t', NOW, (kid) => kid !== 'k1')).toBeUndefined();
    expect(tokens.roles('t', NOW, anyKey)).toBeUndefined();
  });

  it(`keeps at most ${MAX_VERIFIED_GRAPH_TOKENS} tokens, forgetting the oldest`, () => {
    const tokens = new VerifiedGraphTokens();
    for (let i = 0; i <= MAX_VERIFIED_GRAPH_TOKENS; i++) tokens.remember(`t${i}`, { kid: 'k1', exp: EXP, roles: [i] });
    expect(tokens.roles('t0', NOW, anyKey)).toBeUndefined();
    expect(tokens.roles('t1', NOW, anyKey)).toEqual([1]);
    expect(tokens.roles(`t${MAX_VERIFIED_GRAPH_TOKENS}`, NOW, anyKey)).toEqual([MAX_VERIFIED_GRAPH_TOKENS]);
  });
});
