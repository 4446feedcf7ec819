import { describe, expect, it } from 'vitest';
import { DecisionCache, FORWARD_AUTH_CACHE_MS, MAX_CACHED_DECISIONS, decisionKey } from '../../../broker/forward-auth/decision-cache.js';
import type { Allowed } from '../../../broker/forward-auth/decide.js';
import { principal, resource } from '../requests/harness.js';

const NOW = 1_000_000;

function decision(grantId: string | null, validUntil = NOW + 3_600_000) {
  const allowed: Allowed = {
    policy: resource('web'),
    grant: grantId === null ? null : { id: grantId, expiresAt: validUntil, breakGlass: false },
    groups: [],
    validUntil,
  };
  return { principal: principal('alice'), allowed, headers: {} };
}

describe('forward-auth decision cache', () => {
  it('keeps an allowed decision for FORWARD_AUTH_CACHE_MS at most', () => {
    const cache = new DecisionCache();
    cache.set('k', decision('g1'), NOW);
    expect(cache.get('k', NOW + FORWARD_AUTH_CACHE_MS - 1)).not.toBeNull();
    expect(cache.get('k', NOW + FORWARD_AUTH_CACHE_MS)).toBeNull();
  });

  it('never keeps a decision past the end of its grant', () => {
    const cache = new DecisionCache();
    cache.set('k', decision('g1', NOW + 10), NOW);
    expect(cache.get('k', NOW + 9)).not.toBeNull();
    expect(cache.get('k', NOW + 10)).toBeNull();
  });

  it('drops every decision under a grant at once, and only those', () => {
    const cache = new DecisionCache();
    cache.set('a', decision('g1'), NOW);
    cache.set('b', decision('g1'), NOW);
    cache.set('c', decision('g2'), NOW);
    cache.dropGrant('g1');
    expect(cache.get('a', NOW)).toBeNull();
    expect(cache.get('b', NOW)).toBeNull();
    expect(cache.get('c', NOW)).not.toBeNull();
  });

  it('holds at most MAX_CACHED_DECISIONS, forgetting the oldest first', () => {
    const cache = new DecisionCache();
    for (let i = 0; i <= MAX_CACHED_DECISIONS; i++) cache.set(`k${i}`, decision(`g${i}`), NOW);
    expect(cache.size).toBe(MAX_CACHED_DECISIONS);
    expect(cache.get('k0', NOW)).toBeNull();
    expect(cache.get(`k${MAX_CACHED_DECISIONS}`, NOW)).not.toBeNull();
  });

  it('keys by a hash of the token, never the token itself', () => {
    const key = decisionKey('eyJsecret.token', 'web');
    expect(key).not.toContain('eyJsecret');
    expect(key.endsWith(' web')).toBe(true);
    expect(decisionKey('eyJsecret.token', 'other')).not.toBe(key);
  });
});
