import { describe, expect, it } from 'vitest';
import { DecisionTally } from '../../../broker/forward-auth/tally.js';
import { AccessError } from '../../../shared/errors.js';
import { principal } from '../requests/harness.js';

const T = Date.UTC(2026, 0, 1);

describe('forward-auth decision tally', () => {
  it('writes one entry per grant per window, however many requests it let through', () => {
    const tally = new DecisionTally();
    for (let i = 0; i < 1000; i++) tally.allowed(principal('alice'), 'web', 'g1', T + i);
    tally.allowed(principal('carol'), 'web', 'g2', T + 5);
    const entries = tally.drain(T, T + 60_000);
    expect(entries).toHaveLength(2);
    const [alice, carol] = entries;
    expect(alice).toMatchObject({ type: 'forward_auth.allowed', subject: 'g1', resource: 'web', actor: { oid: 'alice' } });
    expect(alice?.body).toMatchObject({ count: 1000, kind: 'user', firstAt: new Date(T).toISOString(), lastAt: new Date(T + 999).toISOString() });
    expect(carol?.body.count).toBe(1);
    expect(tally.drain(T + 60_000, T + 120_000)).toEqual([]);
  });

  it('counts refusals per caller, resource and code; an unauthenticated caller by source address', () => {
    const tally = new DecisionTally();
    const noGrant = new AccessError('no_live_grant', 'no grant');
    tally.refused(principal('mallory'), 'web', noGrant, '10.0.0.1', T);
    tally.refused(principal('mallory'), 'web', noGrant, '10.0.0.1', T + 1);
    tally.refused(principal('mallory'), 'db', noGrant, '10.0.0.1', T + 2);
    tally.refused(null, 'web', new AccessError('token_missing', 'no token'), '10.0.0.9', T + 3);
    const entries = tally.drain(T, T + 60_000);
    expect(entries.map((e) => [e.type, e.actor?.oid ?? null, e.resource, e.body.code, e.body.count])).toEqual([
      ['forward_auth.refused', 'mallory', 'web', 'no_live_grant', 2],
      ['forward_auth.refused', 'mallory', 'db', 'no_live_grant', 1],
      ['forward_auth.refused', null, 'web', 'token_missing', 1],
    ]);
    expect(entries[2]?.body).toMatchObject({ kind: 'unauthenticated', source: '10.0.0.9' });
  });

  it('names a workload by its client id and display name', () => {
    const tally = new DecisionTally();
    tally.allowed({ ...principal('robot-sp', 'app'), appId: 'app-1', name: 'nightly-export' }, 'web', null, T);
    const [entry] = tally.drain(T, T + 60_000);
    expect(entry).toMatchObject({ subject: null, body: { kind: 'workload', appId: 'app-1', appName: 'nightly-export', count: 1 } });
  });
});
