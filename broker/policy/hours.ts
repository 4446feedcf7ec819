// A resource's time window, `hours: "Mon-Fri 07:00-19:00 Europe/Berlin"`: the days the window
// opens on, its local start and end (HH:MM, or HH:MM:SS for windows shorter than a minute), and
// the IANA time zone the times are in. Intl turns instants into that zone's wall clock, so the
// window follows daylight saving time: 07:00 in Berlin is 05:00 UTC in summer, 06:00 in winter.
//
// An end before the start is a window over midnight ("Mon-Fri 22:00-06:00": from Monday 22:00 to
// Tuesday 06:00, …, Friday 22:00 to Saturday 06:00); the days name the day a window opens. An end
// of 24:00 is the end of the day. Pure: the caller passes the instant.

export const WEEKDAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const DAY_SECONDS = 86_400;

export interface HoursWindow {
  /** As written, for messages. */
  readonly text: string;
  /** Days (0 = Sunday … 6 = Saturday) on which the window opens. */
  readonly days: ReadonlySet<number>;
  /** Local seconds since midnight. */
  readonly start: number;
  /** Local seconds since midnight; ≤ start means the window ends the next day. */
  readonly end: number;
  readonly timeZone: string;
}

/** Where an instant falls: inside the window (with the instant it ends) or outside (with the local time, for messages). */
export type HoursCheck = { inside: true; endsAt: number } | { inside: false; localTime: string };

const FORMAT_HINT = 'write DAYS HH:MM-HH:MM TIME_ZONE, e.g. "Mon-Fri 07:00-19:00 Europe/Berlin"';

/** Parses the `hours` text; returns why not as a string. */
export function parseHours(text: string): HoursWindow | string {
  const parts = text.trim().split(/\s+/);
  if (parts.length !== 3) return `has ${parts.length} part${parts.length === 1 ? '' : 's'}, not 3 — ${FORMAT_HINT}`;
  const [daysText, timesText, timeZone] = parts as [string, string, string];
  const days = parseDays(daysText);
  if (typeof days === 'string') return days;
  const times = /^([^-]+)-([^-]+)$/.exec(timesText);
  if (!times) return `"${timesText}" is not a time range — ${FORMAT_HINT}`;
  const start = parseTime(times[1] as string, false);
  if (typeof start === 'string') return start;
  const end = parseTime(times[2] as string, true);
  if (typeof end === 'string') return end;
  if (start === end) return `"${timesText}" starts and ends at the same time — a window of no time (for all day write 00:00-24:00)`;
  if (!isTimeZone(timeZone)) return `"${timeZone}" is not a time zone this system knows — use an IANA name such as Europe/Berlin, America/New_York or UTC`;
  return { text: text.trim(), days, start, end, timeZone };
}

function parseDays(text: string): ReadonlySet<number> | string {
  const days = new Set<number>();
  for (const item of text.split(',')) {
    const range = item.split('-');
    if (range.length > 2 || range.some((d) => dayIndex(d) < 0)) {
      return `"${item}" is not a day or a day range — use ${WEEKDAYS.join(', ')}, ranges like Mon-Fri, lists like Mon,Wed,Fri`;
    }
    const first = dayIndex(range[0] as string);
    const last = dayIndex(range[range.length - 1] as string);
    // Fri-Mon wraps over the week's end.
    for (let day = first; ; day = (day + 1) % 7) {
      days.add(day);
      if (day === last) break;
    }
  }
  return days;
}

function dayIndex(text: string): number {
  return WEEKDAYS.findIndex((d) => d.toLowerCase() === text.toLowerCase());
}

function parseTime(text: string, isEnd: boolean): number | string {
  const match = /^(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(text);
  if (!match) return `"${text}" is not a time — write HH:MM in 24-hour form, e.g. 07:00 or 19:30`;
  const [h, m, s] = [Number(match[1]), Number(match[2]), Number(match[3] ?? 0)];
  const seconds = h * 3600 + m * 60 + s;
  if (isEnd && seconds === DAY_SECONDS) return seconds;
  if (h > 23 || m > 59 || s > 59) return `"${text}" is not a time of day — hours 00-23, minutes and seconds 00-59${isEnd ? ' (24:00 ends the day)' : ''}`;
  return seconds;
}

function isTimeZone(name: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

/** Whether `now` is inside the window and, if so, when it ends. */
export function checkHours(window: HoursWindow, now: number): HoursCheck {
  const local = wallClock(window.timeZone, now);
  const overnight = window.end <= window.start;
  let remaining: number | null = null;
  if (window.days.has(local.day) && local.seconds >= window.start && (overnight || local.seconds < window.end)) {
    remaining = (overnight ? window.end + DAY_SECONDS : window.end) - local.seconds;
  } else if (overnight && window.days.has((local.day + 6) % 7) && local.seconds < window.end) {
    remaining = window.end - local.seconds;
  }
  if (remaining === null) return { inside: false, localTime: `${WEEKDAYS[local.day]} ${hhmm(local.seconds)}` };
  return { inside: true, endsAt: instantAfterWallClock(window.timeZone, now, remaining) };
}

/**
 * The instant `seconds` of wall-clock time after `now` in `timeZone`: the naive sum, corrected by
 * the change of the zone's offset in between (a DST switch inside the window).
 */
function instantAfterWallClock(timeZone: string, now: number, seconds: number): number {
  const naive = now + seconds * 1000;
  const corrected = naive - (offsetMs(timeZone, naive) - offsetMs(timeZone, now));
  return corrected;
}

function offsetMs(timeZone: string, at: number): number {
  const local = wallClock(timeZone, at);
  return local.utcOfWallClock - Math.floor(at / 1000) * 1000;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The zone's weekday and seconds since local midnight at `at`, and that wall clock read as if UTC. */
function wallClock(timeZone: string, at: number): { day: number; seconds: number; utcOfWallClock: number } {
  let format = formatters.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, format);
  }
  const parts: Record<string, string> = {};
  for (const part of format.formatToParts(new Date(at))) parts[part.type] = part.value;
  const [h, m, s] = [Number(parts.hour), Number(parts.minute), Number(parts.second)];
  const day = WEEKDAYS.indexOf(parts.weekday as (typeof WEEKDAYS)[number]);
  return {
    day,
    seconds: h * 3600 + m * 60 + s,
    utcOfWallClock: Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day), h, m, s),
  };
}

function hhmm(seconds: number): string {
  return `${String(Math.floor(seconds / 3600)).padStart(2, '0')}:${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}`;
}
