import { describe, expect, it } from 'vitest';
import { randomRequestId, REQUEST_ID_LENGTH } from '../../../broker/requests/ids.js';

describe('randomRequestId', () => {
  it('makes short url-safe ids without the easily misread letters i, l, o, u', () => {
    const ids = Array.from({ length: 2000 }, () => randomRequestId());
    for (const id of ids) expect(id).toMatch(new RegExp(`^[a-hjkmnp-tv-z0-9]{${REQUEST_ID_LENGTH}}$`));
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('uses every symbol of its alphabet', () => {
    const seen = new Set(Array.from({ length: 500 }, () => randomRequestId()).join(''));
    expect(seen.size).toBe(32);
  });
});
