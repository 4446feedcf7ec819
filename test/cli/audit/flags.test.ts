import { describe, expect, it } from 'vitest';
import { calendarTime, timeFlag, wholeNumberFlag } from '../../../cli/audit/flags.js';
import { AccessError } from '../../../shared/errors.js';

describe('timeFlag', () => {
  it.each(['7d', '12h', '1h30m', '45m'])('sends a duration back from now as typed: %s', (text) => {
    expect(timeFlag('since', text)).toBe(text);
  });

  it.each([
    ['2025-03-04T09:30:00Z', '2025-03-04T09:30:00.000Z'],
    ['2025-03-04T09:30:00.25Z', '2025-03-04T09:30:00.250Z'],
    ['2025-03-04T11:30+02:00', '2025-03-04T09:30:00.000Z'],
    ['2025-03-04 04:30:00-0500', '2025-03-04T09:30:00.000Z'],
  ])('turns a time with a zone into that instant: %s', (text, iso) => {
    expect(timeFlag('until', text)).toBe(iso);
  });

  it('reads a time without a zone as local wall-clock time, and a date alone as local midnight', () => {
    expect(timeFlag('since', '2025-03-04T09:30')).toBe(new Date(2025, 2, 4, 9, 30).toISOString());
    expect(timeFlag('since', '2025-03-04 09:30:15.5')).toBe(new Date(2025, 2, 4, 9, 30, 15, 500).toISOString());
    expect(timeFlag('since', '2025-03-04')).toBe(new Date(2025, 2, 4).toISOString());
  });

  it('reads a zone-less time in the zone of the machine it runs on', () => {
    const before = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      expect(timeFlag('since', '2025-03-04T09:30')).toBe('2025-03-04T14:30:00.000Z');
      expect(timeFlag('since', '2025-07-04')).toBe('2025-07-04T04:00:00.000Z');
      // 02:30 did not happen there on 2025-03-09 (clocks jumped from 02:00 to 03:00).
      expect(() => timeFlag('since', '2025-03-09T02:30')).toThrow('is neither a duration');
    } finally {
      if (before === undefined) delete process.env.TZ;
      else process.env.TZ = before;
    }
  });

  it.each(['yesterday', '2025-13-01', '2025-02-30', '2025-03-04T25:00', '7', '-7d', '2025-03-04Tnoon'])(
    'refuses %j with a usage error naming the flag',
    (text) => {
      let error: unknown;
      try {
        timeFlag('since', text);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(AccessError);
      expect(error).toMatchObject({ code: 'usage', message: expect.stringContaining(`--since "${text}" is neither a duration`) });
    },
  );
});

describe('calendarTime', () => {
  it('rejects an impossible day rather than rolling it over', () => {
    expect(calendarTime('2024-02-29T00:00Z')).toBe(Date.UTC(2024, 1, 29));
    expect(calendarTime('2025-02-29T00:00Z')).toBeNull();
  });
});

describe('wholeNumberFlag', () => {
  it('reads a whole number in range, and nothing when the flag is absent', () => {
    expect(wholeNumberFlag('after-seq', '0', 0, 10)).toBe(0);
    expect(wholeNumberFlag('after-seq', '10', 0, 10)).toBe(10);
    expect(wholeNumberFlag('after-seq', undefined, 0, 10)).toBeUndefined();
  });

  it.each(['-1', '1.5', 'ten', '', '11'])('refuses %j with the flag and the range', (text) => {
    expect(() => wholeNumberFlag('after-seq', text, 0, 10)).toThrow(`--after-seq "${text}" is not a whole number from 0 to 10`);
  });
});
