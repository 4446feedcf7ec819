// The `hours` window: strict parsing with messages that say what to write, and decisions that
// follow the time zone's daylight saving time.

import { describe, expect, it } from 'vitest';
import { checkHours, parseHours, type HoursWindow } from '../../../broker/policy/hours.js';

const parsed = (text: string): HoursWindow => {
  const window = parseHours(text);
  if (typeof window === 'string') throw new Error(window);
  return window;
};

describe('parseHours', () => {
  it('reads days, times and the zone', () => {
    const window = parsed('Mon-Fri 07:00-19:00 Europe/Berlin');
    expect([...window.days].sort()).toEqual([1, 2, 3, 4, 5]);
    expect([window.start, window.end, window.timeZone]).toEqual([7 * 3600, 19 * 3600, 'Europe/Berlin']);
  });

  it('reads lists, ranges over the weekend, seconds and 24:00', () => {
    expect([...parsed('Fri-Mon 00:00-24:00 UTC').days].sort()).toEqual([0, 1, 5, 6]);
    expect([...parsed('Mon,Wed,Sat-Sun 08:00:30-08:00:45 UTC').days].sort()).toEqual([0, 1, 3, 6]);
    expect(parsed('Mon 00:00-24:00 UTC').end).toBe(86_400);
  });

  it.each([
    ['Mon-Fri 07:00-19:00', /has 2 parts, not 3/],
    ['Mon-Fry 07:00-19:00 UTC', /"Mon-Fry" is not a day or a day range/],
    ['Mon-Fri 7:00-19:00 UTC', /"7:00" is not a time — write HH:MM/],
    ['Mon-Fri 07:00-25:00 UTC', /"25:00" is not a time of day/],
    ['Mon-Fri 07:00 UTC', /"07:00" is not a time range/],
    ['Mon-Fri 09:00-09:00 UTC', /starts and ends at the same time/],
    ['Mon-Fri 07:00-19:00 Europe/Berln', /"Europe\/Berln" is not a time zone this system knows/],
  ])('refuses %j', (text, message) => {
    expect(parseHours(text)).toMatch(message);
  });
});

describe('checkHours', () => {
  const office = parsed('Mon-Fri 07:00-19:00 Europe/Berlin');

  it('follows daylight saving time: 07:00 in Berlin is 06:00 UTC in winter, 05:00 UTC in summer', () => {
    expect(checkHours(office, Date.UTC(2026, 0, 7, 5, 30)).inside).toBe(false);
    expect(checkHours(office, Date.UTC(2026, 0, 7, 6, 0))).toEqual({ inside: true, endsAt: Date.UTC(2026, 0, 7, 18, 0) });
    expect(checkHours(office, Date.UTC(2026, 6, 8, 5, 0))).toEqual({ inside: true, endsAt: Date.UTC(2026, 6, 8, 17, 0) });
  });

  it('ends a window at the wall-clock end across a DST switch (Sunday 29 March 2026, 02:00 → 03:00 in Berlin)', () => {
    const weekend = parsed('Sun 00:00-12:00 Europe/Berlin');
    // 00:30 Berlin (UTC+1) = 23:30 UTC on Saturday; the window ends at 12:00 Berlin (UTC+2) = 10:00 UTC.
    expect(checkHours(weekend, Date.UTC(2026, 2, 28, 23, 30))).toEqual({ inside: true, endsAt: Date.UTC(2026, 2, 29, 10, 0) });
  });

  it('refuses the weekend with the local time', () => {
    expect(checkHours(office, Date.UTC(2026, 0, 10, 10, 12))).toEqual({ inside: false, localTime: 'Sat 11:12' });
  });

  it('runs a window over midnight into the next day', () => {
    const night = parsed('Fri 22:00-06:00 UTC');
    expect(checkHours(night, Date.UTC(2026, 0, 9, 23, 0))).toEqual({ inside: true, endsAt: Date.UTC(2026, 0, 10, 6, 0) });
    expect(checkHours(night, Date.UTC(2026, 0, 10, 5, 0))).toEqual({ inside: true, endsAt: Date.UTC(2026, 0, 10, 6, 0) });
    // Saturday 22:00 is not a window start (only Friday is).
    expect(checkHours(night, Date.UTC(2026, 0, 10, 23, 0)).inside).toBe(false);
    expect(checkHours(night, Date.UTC(2026, 0, 9, 21, 59)).inside).toBe(false);
  });
});
