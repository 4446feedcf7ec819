// The canonical encoding and hash of an entry, checked against vectors computed outside this code
// (Python's json + hashlib), so the documented encoding is the one implemented.

import { describe, expect, it } from 'vitest';
import { GENESIS_HASH, MAX_BODY_CHARS, canonicalJson, entryHash, sealEntry, toEntryView, wireEntryHash } from '../../../broker/audit/entry.js';
import { T0, entry } from './entries.js';

describe('canonicalJson', () => {
  it('sorts keys at every level, integer-like keys included, and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null }, 10: 'x', 9: 'y' })).toBe(
      '{"10":"x","9":"y","a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}',
    );
  });

  it('drops undefined members and writes undefined array items and non-finite numbers as null, as JSON.stringify does', () => {
    expect(canonicalJson({ a: undefined, b: [undefined, Number.NaN, Infinity], c: -0 })).toBe('{"b":[null,null,null],"c":0}');
  });

  it('reads back to the same text: canonical(parse(canonical(x))) is canonical(x)', () => {
    const text = canonicalJson({ when: new Date(T0), n: 1e21, s: 'Zoë → "x"\n\u0001', big: 12n });
    expect(canonicalJson(JSON.parse(text))).toBe(text);
  });
});

describe('entryHash', () => {
  it('is SHA-256 of the JSON array of the nine fields in canonical order (vector from Python)', () => {
    const fields = [1, 1741078800000, 'request.created', 'alice', 'alice@contoso.com', 'req001', 'prod-db', '{"a":1,"b":[true,null]}', GENESIS_HASH] as const;
    expect(entryHash([...fields])).toBe('bdb01a12a88f3bef8836406b11b8ce7de21310d3083b7f4e5d4b9612b054d750');
  });

  it('hashes the body as its canonical text, escaped like JSON.stringify, with nulls for absent fields (vector from Python)', () => {
    const row = sealEntry(
      { type: 'signin.seen', at: 1741078800001, actor: { oid: 'bob', upn: null }, subject: null, resource: null, body: { name: 'Zoë → "x"', 9: 2, 10: 1 } },
      2,
      'ab'.repeat(32),
    );
    expect(row.body).toBe('{"10":1,"9":2,"name":"Zoë → \\"x\\""}');
    expect(row.hash).toBe('34fd23a40838184f8a4705cded82f5a109bc529f2ad30f9c524ef71457d117b5');
  });
});

describe('the wire form', () => {
  it('carries everything needed to recompute the hash of an exported entry', () => {
    const row = sealEntry(entry(7, { body: { sql: 'select "x" from t', nested: { b: 1, a: [1, 2] } } }), 7, 'cd'.repeat(32));
    const view = toEntryView(row);
    expect(view.at).toBe(new Date(T0 + 7).toISOString());
    expect(wireEntryHash(view)).toBe(row.hash);
    expect(wireEntryHash({ ...view, body: { ...view.body, sql: 'select 1' } })).not.toBe(row.hash);
  });
});

describe('sealEntry', () => {
  it(`stores a body above ${MAX_BODY_CHARS} characters as a marked prefix that is still canonical JSON`, () => {
    const sql = '"'.repeat(MAX_BODY_CHARS * 2);
    const row = sealEntry(entry(1, { body: { sql } }), 1, GENESIS_HASH);
    expect(row.body.length).toBeLessThanOrEqual(MAX_BODY_CHARS);
    const body = JSON.parse(row.body) as { truncated: boolean; chars: number; prefix: string };
    expect(body).toMatchObject({ truncated: true, chars: canonicalJson({ sql }).length });
    expect(canonicalJson({ sql }).startsWith(body.prefix)).toBe(true);
  });
});

describe('toEntryView', () => {
  it('shows a body that is not a JSON object (written around the appender) as found, instead of failing the page', () => {
    const row = { ...sealEntry(entry(1), 1, GENESIS_HASH), body: '{"sql": "select 1"' };
    expect(toEntryView(row).body).toEqual({ unparsable: '{"sql": "select 1"' });
  });
});
