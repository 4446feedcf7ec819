// The pure evaluator of a resource's conditions: each row is a resource's conditions, the caller's
// facts, and the decision (the condition refused, its code, and the claims a new sign-in must carry).

import { describe, expect, it } from 'vitest';
import { describeConditions, evaluateConditions, type ConditionFacts, type ResourceConditions } from '../../../broker/policy/conditions.js';
import { parseHours, type HoursWindow } from '../../../broker/policy/hours.js';
import { NetworkList, parseNetwork, type Network } from '../../../broker/policy/networks.js';

const HOUR = 3_600_000;
/** Wednesday 2026-12-09 10:00 UTC = 11:00 in Berlin. */
const WED_10_UTC = Date.UTC(2026, 11, 9, 10, 0, 0);

function networks(...cidrs: string[]): NetworkList {
  return new NetworkList(cidrs.map((c) => parseNetwork(c) as Network));
}
function hours(text: string): HoursWindow {
  return parseHours(text) as HoursWindow;
}

const none: ResourceConditions = { requireMfa: false, requireAuthContext: null, maxSignInAgeMs: null, sourceNetworks: null, hours: null };
const facts: ConditionFacts = { amr: ['pwd'], acrs: [], authTime: WED_10_UTC - HOUR, clientAddress: '10.1.2.3', now: WED_10_UTC };
const claimsOf = (claims: string | null): unknown => (claims === null ? null : JSON.parse(claims));

interface Row {
  name: string;
  conditions: Partial<ResourceConditions>;
  facts?: Partial<ConditionFacts>;
  /** null: admitted. */
  refused: { condition: string; code: string; claims: unknown; says: RegExp } | null;
}

const rows: Row[] = [
  { name: 'no conditions admit anyone', conditions: {}, facts: { amr: [], clientAddress: null }, refused: null },
  {
    name: 'requireMfa refuses a password-only sign-in, asking for amr mfa',
    conditions: { requireMfa: true },
    refused: {
      condition: 'requireMfa',
      code: 'mfa_required',
      claims: { access_token: { amr: { essential: true, values: ['mfa'] } } },
      says: /^prod-db requires multi-factor sign-in; run `access login` again and complete MFA\.$/,
    },
  },
  { name: 'requireMfa admits amr mfa', conditions: { requireMfa: true }, facts: { amr: ['pwd', 'mfa'] }, refused: null },
  {
    name: 'requireMfa with an auth context asks for the context (how Entra is asked for MFA)',
    conditions: { requireMfa: true, requireAuthContext: 'c1' },
    refused: {
      condition: 'requireAuthContext',
      code: 'auth_context_required',
      claims: { access_token: { acrs: { essential: true, value: 'c1' } } },
      says: /requires the authentication context c1 \(your sign-in has none\)/,
    },
  },
  {
    name: 'the auth context satisfies requireMfa without amr',
    conditions: { requireMfa: true, requireAuthContext: 'c1' },
    facts: { amr: [], acrs: ['c1'] },
    refused: null,
  },
  {
    name: 'another auth context does not count',
    conditions: { requireAuthContext: 'c2' },
    facts: { acrs: ['c1'] },
    refused: {
      condition: 'requireAuthContext',
      code: 'auth_context_required',
      claims: { access_token: { acrs: { essential: true, value: 'c2' } } },
      says: /has c1\)/,
    },
  },
  {
    name: 'maxSignInAge refuses a sign-in older than the limit',
    conditions: { maxSignInAgeMs: 30 * 60_000 },
    refused: {
      condition: 'maxSignInAge',
      code: 'sign_in_too_old',
      claims: { access_token: { auth_time: { essential: true } } },
      says: /requires a sign-in within the last 30m; you signed in 1h ago\. Run `access login` again\./,
    },
  },
  { name: 'maxSignInAge admits a recent sign-in', conditions: { maxSignInAgeMs: 8 * HOUR }, refused: null },
  {
    name: 'maxSignInAge refuses a token that does not say when',
    conditions: { maxSignInAgeMs: 8 * HOUR },
    facts: { authTime: null },
    refused: {
      condition: 'maxSignInAge',
      code: 'sign_in_too_old',
      claims: { access_token: { auth_time: { essential: true } } },
      says: /does not say when you signed in/,
    },
  },
  {
    name: 'one challenge asks for everything a new sign-in must show',
    conditions: { requireMfa: true, maxSignInAgeMs: 30 * 60_000 },
    refused: {
      condition: 'requireMfa',
      code: 'mfa_required',
      claims: { access_token: { amr: { essential: true, values: ['mfa'] }, auth_time: { essential: true } } },
      says: /multi-factor/,
    },
  },
  {
    name: 'a sign-in grown too old asks again for the MFA the old one had: the new token replaces it',
    conditions: { requireMfa: true, maxSignInAgeMs: 30 * 60_000 },
    facts: { amr: ['pwd', 'mfa'] },
    refused: {
      condition: 'maxSignInAge',
      code: 'sign_in_too_old',
      claims: { access_token: { amr: { essential: true, values: ['mfa'] }, auth_time: { essential: true } } },
      says: /within the last 30m/,
    },
  },
  {
    name: 'sourceNetworks refuses an address outside, naming both, with no claims (a sign-in cannot help)',
    conditions: { sourceNetworks: networks('10.0.0.0/8', '2001:db8::/32') },
    facts: { clientAddress: '192.0.2.7' },
    refused: {
      condition: 'sourceNetworks',
      code: 'network_not_allowed',
      claims: null,
      says: /^prod-db can be reached from 10\.0\.0\.0\/8, 2001:db8::\/32 only; you connected from 192\.0\.2\.7\./,
    },
  },
  {
    name: 'sourceNetworks admits an IPv4-mapped IPv6 address inside',
    conditions: { sourceNetworks: networks('10.0.0.0/8') },
    facts: { clientAddress: '::ffff:10.9.8.7' },
    refused: null,
  },
  {
    name: 'sourceNetworks admits IPv6 inside',
    conditions: { sourceNetworks: networks('2001:db8::/32') },
    facts: { clientAddress: '2001:db8:1::5' },
    refused: null,
  },
  {
    name: 'sourceNetworks refuses an unknown address',
    conditions: { sourceNetworks: networks('10.0.0.0/8') },
    facts: { clientAddress: null },
    refused: { condition: 'sourceNetworks', code: 'network_not_allowed', claims: null, says: /cannot tell where you connected from/ },
  },
  {
    name: 'network is decided before MFA: a new sign-in would not help',
    conditions: { requireMfa: true, sourceNetworks: networks('10.0.0.0/8') },
    facts: { clientAddress: '192.0.2.7' },
    refused: { condition: 'sourceNetworks', code: 'network_not_allowed', claims: null, says: /only/ },
  },
  { name: 'hours admit inside the window (11:00 Wednesday in Berlin)', conditions: { hours: hours('Mon-Fri 07:00-19:00 Europe/Berlin') }, refused: null },
  {
    name: 'hours refuse outside the window, with the local time there',
    conditions: { hours: hours('Mon-Fri 12:00-19:00 Europe/Berlin') },
    refused: {
      condition: 'hours',
      code: 'outside_hours',
      claims: null,
      says: /^prod-db may be used Mon-Fri 12:00-19:00 Europe\/Berlin only; it is Wed 11:00 there now\./,
    },
  },
];

describe('evaluateConditions', () => {
  it.each(rows)('$name', ({ conditions, facts: overrides, refused }) => {
    const result = evaluateConditions('prod-db', { ...none, ...conditions }, { ...facts, ...overrides });
    if (refused === null) {
      expect(result.ok).toBe(true);
      return;
    }
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect({ condition: result.condition, code: result.code, claims: claimsOf(result.claims) }).toEqual({
      condition: refused.condition,
      code: refused.code,
      claims: refused.claims,
    });
    expect(result.message).toMatch(refused.says);
  });

  it('says until when the conditions hold: the window end or the sign-in age limit, whichever is first', () => {
    const window = hours('Mon-Fri 07:00-19:00 Europe/Berlin');
    const windowOnly = evaluateConditions('prod-db', { ...none, hours: window }, facts);
    // 19:00 Berlin (UTC+1 in December) is 18:00 UTC.
    expect(windowOnly).toEqual({ ok: true, until: Date.UTC(2026, 11, 9, 18, 0, 0) });
    const both = evaluateConditions('prod-db', { ...none, hours: window, maxSignInAgeMs: 2 * HOUR }, facts);
    expect(both).toEqual({ ok: true, until: (facts.authTime as number) + 2 * HOUR });
    expect(evaluateConditions('prod-db', none, facts)).toEqual({ ok: true, until: null });
  });
});

describe('describeConditions', () => {
  it('says every condition in words, for `access resources`', () => {
    const all: ResourceConditions = {
      requireMfa: true,
      requireAuthContext: 'c1',
      maxSignInAgeMs: 8 * HOUR,
      sourceNetworks: networks('10.0.0.0/8'),
      hours: hours('Mon-Fri 07:00-19:00 Europe/Berlin'),
    };
    expect(describeConditions(all)).toEqual([
      'multi-factor sign-in',
      'authentication context c1',
      'signed in within 8h',
      'from 10.0.0.0/8',
      'Mon-Fri 07:00-19:00 Europe/Berlin',
    ]);
    expect(describeConditions(undefined)).toEqual([]);
  });
});
