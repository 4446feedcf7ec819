// The audit commands' flag values, checked before anything is sent so a mistake is named by its
// flag (`--since`), not by the API's query parameter.
//
// Times: a duration back from now ("7d", "12h", "1h30m") goes to the broker as typed (it counts
// back from its own clock); a calendar time is turned into an exact instant here. A time without a
// zone is the reader's local wall clock, as every time the CLI prints is; "Z" or "+02:00" name
// the zone. A date alone is local midnight.

import { parseDuration } from '../../shared/duration.js';
import { AccessError } from '../../shared/errors.js';
import { parseWholeNumber } from '../../shared/whole-number.js';

/** 2025-03-04, 2025-03-04T09:30, 2025-03-04 09:30:15.250, each with an optional Z or ±hh:mm. */
const CALENDAR_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?(?:(Z)|([+-])(\d{2}):?(\d{2}))?$/i;

const MINUTE_MS = 60_000;

/** The value to send for a time flag: the duration as typed, or the instant as ISO 8601 UTC. */
export function timeFlag(flag: string, text: string): string {
  const trimmed = text.trim();
  if (parseDuration(trimmed) !== undefined) return trimmed;
  const at = calendarTime(trimmed);
  if (at === null) {
    throw new AccessError(
      'usage',
      `--${flag} "${text}" is neither a duration back from now (7d, 12h, 30m) nor a time (2025-03-04, 2025-03-04T09:30 local, 2025-03-04T09:30:00Z)`,
    );
  }
  return new Date(at).toISOString();
}

/**
 * ms since the epoch, or null when the text is not a real calendar time (month 13, 25:00, Feb 30,
 * or a local time skipped by a daylight-saving change).
 */
export function calendarTime(text: string): number | null {
  const match = CALENDAR_TIME.exec(text);
  if (!match) return null;
  const part = (i: number): number => Number(match[i] ?? 0);
  const millis = Number((match[7] ?? '0').padEnd(3, '0'));
  const fields = [part(1), part(2) - 1, part(3), part(4), part(5), part(6), millis] as const;
  const zoned = match[8] !== undefined || match[9] !== undefined;
  const date = zoned ? new Date(Date.UTC(...fields)) : new Date(...fields);
  // Date rolls an impossible field over (Feb 30 → Mar 2); reading the fields back catches that.
  const read = zoned
    ? [date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate(), date.getUTCHours(), date.getUTCMinutes(), date.getUTCSeconds()]
    : [date.getFullYear(), date.getMonth(), date.getDate(), date.getHours(), date.getMinutes(), date.getSeconds()];
  if (read.some((value, i) => value !== fields[i])) return null;
  if (!zoned) return date.getTime();
  const sign = match[9] === '-' ? -1 : 1;
  return date.getTime() - sign * (part(10) * 60 + part(11)) * MINUTE_MS;
}

/** A whole number flag from `min` to `max`, or undefined when the flag was not given. */
export function wholeNumberFlag(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const value = parseWholeNumber(text, min, max);
  if (value !== undefined) return value;
  throw new AccessError('usage', `--${flag} "${text}" is not a whole number from ${min} to ${max}`);
}
