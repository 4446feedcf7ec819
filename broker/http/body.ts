// Checking the shape of a JSON request body before anything reads it: an object, no fields the
// endpoint does not know (a typo such as `reson` must not be silently ignored), and each field of
// the expected type. Policy checks of the values (lengths, patterns) belong to the domain.

import { AccessError } from '../../shared/errors.js';

/** The body as a plain object whose keys are all in `allowed`; `what` names the body in messages. */
export function bodyObject(raw: unknown, allowed: readonly string[], what: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new AccessError('bad_request', `the ${what} body must be a JSON object with the fields ${allowed.join(', ')}`);
  }
  const record = raw as Record<string, unknown>;
  const unknown = Object.keys(record).filter((key) => !allowed.includes(key));
  if (unknown.length > 0) {
    const names = unknown.map((key) => JSON.stringify(key)).join(', ');
    throw new AccessError('bad_request', `unknown field${unknown.length === 1 ? '' : 's'} ${names} in the ${what} body — allowed: ${allowed.join(', ')}`);
  }
  return record;
}

/** A string field that may be absent (undefined or null). */
export function optionalString(body: Record<string, unknown>, key: string, what: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  throw new AccessError('bad_request', `"${key}" in the ${what} body must be a string, not ${describe(value)}`);
}

export function requiredString(body: Record<string, unknown>, key: string, what: string): string {
  const value = optionalString(body, key, what);
  if (value !== undefined && value.trim() !== '') return value;
  throw new AccessError('bad_request', `the ${what} body needs "${key}"`);
}

/** A string field that must be one of `choices`. */
export function requiredChoice<T extends string>(body: Record<string, unknown>, key: string, choices: readonly T[], what: string): T {
  const value = requiredString(body, key, what);
  const choice = choices.find((c) => c === value);
  if (choice !== undefined) return choice;
  throw new AccessError('bad_request', `"${key}" in the ${what} body is ${JSON.stringify(value)}; use one of ${choices.join(', ')}`);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}
