// The broker's side of a resource's conditions: the facts of a caller (their token's sign-in and
// the address their call came from) at an instant, and the refusal as an AccessError with its
// claims challenge. policy/conditions.ts decides; this only gathers and throws.

import { AccessError } from '../../shared/errors.js';
import type { Principal } from '../auth/principal.js';
import type { ResourcePolicy } from '../config/types.js';
import { evaluateConditions, type ConditionFacts, type ConditionResult } from './conditions.js';

export function conditionFacts(principal: Pick<Principal, 'signIn' | 'clientAddress'>, now: number): ConditionFacts {
  return { ...principal.signIn, clientAddress: principal.clientAddress, now };
}

export function checkConditions(policy: ResourcePolicy, principal: Pick<Principal, 'signIn' | 'clientAddress'>, now: number): ConditionResult {
  return evaluateConditions(policy.name, policy.conditions, conditionFacts(principal, now));
}

/**
 * Throws the refusal when `principal` does not meet `policy`'s conditions at `now` (with a claims
 * challenge when a new sign-in can help); returns when they stop holding by themselves (null: never).
 */
export function requireConditions(policy: ResourcePolicy, principal: Pick<Principal, 'signIn' | 'clientAddress'>, now: number): number | null {
  const result = checkConditions(policy, principal, now);
  if (result.ok) return result.until;
  throw new AccessError(result.code, result.message, { claims: result.claims });
}
