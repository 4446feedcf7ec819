// Checking the shape of a JSON request body before anything reads it: an object, no fields the
// endpoint does not know (a typo such as `reson` must not be silently ignored), and each field of
// the expected type. Policy checks of the values (lengths, patterns) belong to the domain.

import { AccessError } from '../../shared/errors.js';

/** A choice is a short word; anything longer is none of them (and the refusal quotes what was sent). */
const MAX_CHOICE_CHARS = 32;

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

/**
 * `value` when it is at most `maxChars` long; else `field_too_long`, quoting the limit (never the
 * value: it may be huge). `where` names the field ("\"reason\" in the request body", "the request id").
 */
export function boundedText(value: string, maxChars: number, where: string): string {
  if (value.length <= maxChars) return value;
  throw new AccessError('field_too_long', `${where} is ${value.length} characters long; the limit is ${maxChars} — shorten it`);
}

/** A string field that may be absent (undefined or null), at most `maxChars` long (shared/limits.ts). */
export function optionalString(body: Record<string, unknown>, key: string, what: string, maxChars: number): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return boundedText(value, maxChars, `"${key}" in the ${what} body`);
  throw new AccessError('bad_request', `"${key}" in the ${what} body must be a string, not ${describe(value)}`);
}

export function requiredString(body: Record<string, unknown>, key: string, what: string, maxChars: number): string {
  const value = optionalString(body, key, what, maxChars);
  if (value !== undefined && value.trim() !== '') return value;
  throw new AccessError('bad_request', `the ${what} body needs "${key}"`);
}

/** A string field that must be one of `choices`. */
export function requiredChoice<T extends string>(body: Record<string, unknown>, key: string, choices: readonly T[], what: string): T {
  const value = requiredString(body, key, what, MAX_CHOICE_CHARS);
  const choice = choices.find((c) => c === value);
  if (choice !== undefined) return choice;
  throw new AccessError('bad_request', `"${key}" in the ${what} body is ${JSON.stringify(value)}; use one of ${choices.join(', ')}`);
}

function describe(value: unknown): string {
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'an object' : `${typeof value} ${JSON.stringify(value)}`;
}
