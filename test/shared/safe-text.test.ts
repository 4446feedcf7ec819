import { describe, expect, it } from 'vitest';
import { displayable, safeText } from '../../shared/safe-text.js';

describe('safeText', () => {
  it.each([
    ['ESC sequences', 'a\u001b[2Jb', 'a\\x1b[2Jb'],
    ['BEL (ends a window title)', '\u001b]0;title\u0007', '\\x1b]0;title\\x07'],
    ['NUL and backspace', 'a\u0000\u0008b', 'a\\x00\\x08b'],
    ['DEL', 'a\u007fb', 'a\\x7fb'],
    ['C1 controls (U+009B is a one-character CSI)', 'a\u009b31mb\u0085', 'a\\x9b31mb\\x85'],
    ['bidi overrides and isolates', 'evil\u202eexe.txt\u2066\u2069\u200f\u061c', 'evil\\u202eexe.txt\\u2066\\u2069\\u200f\\u061c'],
    ['line and paragraph separators', 'a\u2028b\u2029c', 'a\\u2028b\\u2029c'],
    ['newlines, carriage returns and tabs in a one-line field', 'a\nb\rc\td', 'a\\nb\\rc\\td'],
  ])('shows %s visibly', (_, input, shown) => {
    expect(safeText(input)).toBe(shown);
  });

  it('leaves ordinary text alone: accents, CJK, emoji, quotes and backslashes', () => {
    const text = 'Zoë 東京 🚀 "quoted" C:\\path — ok';
    expect(safeText(text)).toBe(text);
  });

  it('keeps line breaks in multi-line text, and still shows every other control', () => {
    expect(safeText('line one\nline \u001b[31mtwo\r', { multiline: true })).toBe('line one\nline \\x1b[31mtwo\\r');
  });
});

describe('displayable', () => {
  it('makes every string in an answer safe (keys too) and leaves numbers, booleans and null as they are', () => {
    const answer = { id: 'r\u001b[2J', n: 3, ok: true, none: null, list: ['a\nb', { ['k\u0007']: 'v\u009b' }] };
    expect(displayable(answer)).toEqual({ id: 'r\\x1b[2J', n: 3, ok: true, none: null, list: ['a\\nb', { 'k\\x07': 'v\\x9b' }] });
  });

  it('does not change the answer it was given (--json prints that one, exactly)', () => {
    const answer = { reason: 'a\u001bb' };
    displayable(answer);
    expect(answer.reason).toBe('a\u001bb');
  });
});
