// A strict RFC 4180 reader for tests: records end with CRLF, quoted fields may hold commas, quotes
// (doubled) and line breaks. Anything a conforming writer would not produce (a bare CR or LF outside
// quotes, a quote inside an unquoted field, text after a closing quote) throws, so a test that
// reads a CSV back also proves the writer kept to the format.

export function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let i = 0;
  const endField = (): void => {
    record.push(field);
    field = '';
  };
  while (i < text.length) {
    const c = text[i] as string;
    if (c === '"') {
      if (field !== '') throw new Error(`a quote inside an unquoted field at offset ${i}`);
      // A quoted field: up to the quote that is not doubled.
      i += 1;
      for (;;) {
        if (i >= text.length) throw new Error('a quoted field is not closed');
        const q = text[i] as string;
        if (q === '"' && text[i + 1] === '"') {
          field += '"';
          i += 2;
        } else if (q === '"') {
          i += 1;
          break;
        } else {
          field += q;
          i += 1;
        }
      }
      const next = text[i];
      if (next !== undefined && next !== ',' && next !== '\r') throw new Error(`text after a closing quote at offset ${i}`);
      if (next === undefined) endField();
      continue;
    }
    if (c === ',') {
      endField();
      i += 1;
    } else if (c === '\r' && text[i + 1] === '\n') {
      endField();
      records.push(record);
      record = [];
      i += 2;
    } else if (c === '\r' || c === '\n') {
      throw new Error(`a bare ${c === '\r' ? 'CR' : 'LF'} outside quotes at offset ${i}`);
    } else {
      field += c;
      i += 1;
    }
  }
  if (field !== '' || record.length > 0) {
    if (record.length === 0 || field !== '') endField();
    records.push(record);
  }
  return records;
}
