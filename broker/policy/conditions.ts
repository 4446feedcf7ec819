// A resource's conditions (config `conditions:`), decided from the caller's token and connection.
// Pure: `(resource, conditions, facts) → ok | refusal`; the broker gathers the facts (auth/principal.ts
// for the token, policy/networks.ts for the address, its clock) at request, at approval (the
// approver's token), at tunnel open and at every re-check of a live tunnel.
//
// Order: where the person is (network) and when (hours) first — a new sign-in cannot change those;
// then what the sign-in proved (auth context, MFA, age). Those three are answered together by one
// claims challenge asking for everything the resource's sign-in conditions need (not only what is
// missing: the new token replaces the old one); an authentication context also satisfies requireMfa.

import { formatDuration } from '../../shared/duration.js';
import type { ErrorCode } from '../../shared/errors.js';
import type { ClaimRequest, ClaimsRequest } from '../../shared/claims-challenge.js';
import { checkHours, type HoursWindow } from './hours.js';
import type { NetworkList } from './networks.js';

export interface ResourceConditions {
  /** The token shows multi-factor sign-in: `amr` contains "mfa", or (with requireAuthContext) the context is in `acrs`. */
  requireMfa: boolean;
  /** An Entra authentication context id (c1 … c99) that must be in the token's `acrs`. */
  requireAuthContext: string | null;
  /** The sign-in behind the token (auth_time, else iat) is at most this old. */
  maxSignInAgeMs: number | null;
  /** The client address the broker sees is in one of these networks. */
  sourceNetworks: NetworkList | null;
  /** The instant is inside this weekly window. */
  hours: HoursWindow | null;
}

/** The names of the conditions, as written in the config and in audit entries. */
export type ConditionName = 'requireMfa' | 'requireAuthContext' | 'maxSignInAge' | 'sourceNetworks' | 'hours';

/** What the broker knows of a caller when it decides. */
export interface ConditionFacts {
  /** The token's `amr` (authentication methods); empty when it has none (Entra v2 access tokens). */
  amr: readonly string[];
  /** The token's `acrs` (authentication contexts satisfied). */
  acrs: readonly string[];
  /** When the person signed in (ms): the token's auth_time, else its iat; null when it has neither. */
  authTime: number | null;
  /** The client address (policy/networks.ts clientAddress); null when unknown. */
  clientAddress: string | null;
  now: number;
}

export interface ConditionRefusal {
  ok: false;
  condition: ConditionName;
  code: ErrorCode;
  message: string;
  /** The claims request (JSON text) a new sign-in must satisfy; null when signing in again cannot help. */
  claims: string | null;
}

/** `until`: when the conditions stop holding by themselves (the window's end, the sign-in's age limit); null: not by time. */
export type ConditionResult = { ok: true; until: number | null } | ConditionRefusal;

/** The audit name of a condition's error code, for entries that only carry the code. */
export const CONDITION_OF_CODE: Partial<Record<ErrorCode, ConditionName>> = {
  mfa_required: 'requireMfa',
  auth_context_required: 'requireAuthContext',
  sign_in_too_old: 'maxSignInAge',
  network_not_allowed: 'sourceNetworks',
  outside_hours: 'hours',
};

/** The conditions in words, for people choosing what to request (GET /v1/resources). */
export function describeConditions(conditions: ResourceConditions | undefined): string[] {
  if (!conditions) return [];
  const words: string[] = [];
  if (conditions.requireMfa) words.push('multi-factor sign-in');
  if (conditions.requireAuthContext !== null) words.push(`authentication context ${conditions.requireAuthContext}`);
  if (conditions.maxSignInAgeMs !== null) words.push(`signed in within ${formatDuration(conditions.maxSignInAgeMs)}`);
  if (conditions.sourceNetworks) words.push(`from ${conditions.sourceNetworks.describe()}`);
  if (conditions.hours) words.push(conditions.hours.text);
  return words;
}

/** Whether any condition is set: resources without conditions skip the evaluation entirely. */
export function hasConditions(conditions: ResourceConditions | undefined): conditions is ResourceConditions {
  if (!conditions) return false;
  const { requireMfa, requireAuthContext, maxSignInAgeMs, sourceNetworks, hours } = conditions;
  return requireMfa || requireAuthContext !== null || maxSignInAgeMs !== null || sourceNetworks !== null || hours !== null;
}

export function evaluateConditions(resource: string, conditions: ResourceConditions | undefined, facts: ConditionFacts): ConditionResult {
  if (!hasConditions(conditions)) return { ok: true, until: null };
  const { sourceNetworks, hours, requireAuthContext, requireMfa, maxSignInAgeMs } = conditions;
  if (sourceNetworks && !sourceNetworks.contains(facts.clientAddress)) {
    const from = facts.clientAddress === null ? 'the broker cannot tell where you connected from' : `you connected from ${facts.clientAddress}`;
    return refuse(
      'sourceNetworks',
      'network_not_allowed',
      `${resource} can be reached from ${sourceNetworks.describe()} only; ${from}. Connect from one of those networks (VPN or office).`,
    );
  }
  let until: number | null = null;
  if (hours) {
    const check = checkHours(hours, facts.now);
    if (!check.inside) {
      return refuse('hours', 'outside_hours', `${resource} may be used ${hours.text} only; it is ${check.localTime} there now. Try again inside the window.`);
    }
    until = check.endsAt;
  }
  const unmet: Array<{ condition: ConditionName; code: ErrorCode; message: string }> = [];
  const hasContext = requireAuthContext !== null && facts.acrs.includes(requireAuthContext);
  if (requireAuthContext !== null && !hasContext) {
    unmet.push({
      condition: 'requireAuthContext',
      code: 'auth_context_required',
      message: `${resource} requires the authentication context ${requireAuthContext} (your sign-in has ${facts.acrs.length ? facts.acrs.join(', ') : 'none'}); run \`access login\` again and complete what your organisation asks (usually MFA).`,
    });
  }
  if (requireMfa && !facts.amr.includes('mfa') && !hasContext) {
    unmet.push({
      condition: 'requireMfa',
      code: 'mfa_required',
      message: `${resource} requires multi-factor sign-in; run \`access login\` again and complete MFA.`,
    });
  }
  if (maxSignInAgeMs !== null) {
    const age = facts.authTime === null ? null : facts.now - facts.authTime;
    if (age === null || age > maxSignInAgeMs) {
      const when = age === null ? 'your token does not say when you signed in' : `you signed in ${formatDuration(age)} ago`;
      unmet.push({
        condition: 'maxSignInAge',
        code: 'sign_in_too_old',
        message: `${resource} requires a sign-in within the last ${formatDuration(maxSignInAgeMs)}; ${when}. Run \`access login\` again.`,
      });
    } else {
      const expires = (facts.authTime as number) + maxSignInAgeMs;
      until = until === null ? expires : Math.min(until, expires);
    }
  }
  const first = unmet[0];
  if (!first) return { ok: true, until };
  return { ok: false, ...first, claims: JSON.stringify(signInClaims(conditions)) };
}

/**
 * Everything a new sign-in must prove for this resource — not only what is missing now: a new
 * sign-in replaces the token, so asking only for a fresh sign-in would drop the MFA the old one had.
 */
function signInClaims({ requireAuthContext, requireMfa, maxSignInAgeMs }: ResourceConditions): ClaimsRequest {
  const wanted: Record<string, ClaimRequest> = {};
  // With an authentication context configured, the context is how Entra is asked for MFA.
  if (requireAuthContext !== null) wanted['acrs'] = { essential: true, value: requireAuthContext };
  else if (requireMfa) wanted['amr'] = { essential: true, values: ['mfa'] };
  if (maxSignInAgeMs !== null) wanted['auth_time'] = { essential: true };
  return { access_token: wanted };
}

function refuse(condition: ConditionName, code: ErrorCode, message: string): ConditionRefusal {
  return { ok: false, condition, code, message, claims: null };
}
