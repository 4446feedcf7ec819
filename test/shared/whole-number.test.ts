import { describe, expect, it } from 'vitest';
import { parseWholeNumber } from '../../shared/whole-number.js';

describe('parseWholeNumber', () => {
  it.each([
    ['0', 0],
    ['7', 7],
    ['007', 7],
    [' 42 ', 42],
    ['9007199254740991', Number.MAX_SAFE_INTEGER],
  ])('reads %j as %d', (text, value) => {
    expect(parseWholeNumber(text)).toBe(value);
  });

  it.each(['', ' ', 'abc', '-1', '+1', '2.5', '1e3', '0x10', '1_000', '12abc', '9007199254740992'])('refuses %j', (text) => {
    expect(parseWholeNumber(text)).toBeUndefined();
  });

  it('refuses a number outside min..max and accepts both bounds', () => {
    expect(parseWholeNumber('0', 1, 10)).toBeUndefined();
    expect(parseWholeNumber('11', 1, 10)).toBeUndefined();
    expect(parseWholeNumber('1', 1, 10)).toBe(1);
    expect(parseWholeNumber('10', 1, 10)).toBe(10);
  });
});
