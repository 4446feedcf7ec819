import { describe, expect, it } from 'vitest';
import { allPages, pagePath } from '../../cli/pages.js';
import { AccessError } from '../../shared/errors.js';

/** A listing of `total` numbers served in pages, refusing (as too large) any page over `maxFits`. */
function listing(total: number, maxFits = Number.POSITIVE_INFINITY) {
  const asked: string[] = [];
  const client = {
    get: async <T>(path: string): Promise<T> => {
      asked.push(path);
      const params = new URL(path, 'http://x').searchParams;
      const limit = Number(params.get('limit'));
      if (limit > maxFits) throw new AccessError('response_too_large', 'too large');
      const from = Number(params.get('cursor') ?? '0');
      const items = Array.from({ length: Math.max(0, Math.min(limit, total - from)) }, (_, i) => from + i);
      const next = from + items.length < total ? String(from + items.length) : null;
      return { items, next } as T;
    },
  };
  return { client, asked };
}

describe('allPages', () => {
  it('follows next cursors until the last page and returns every item once, in order', async () => {
    const { client, asked } = listing(7);
    expect(await allPages(client, '/v1/x?state=a', 'items', 3)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(asked).toEqual(['/v1/x?state=a&limit=3', '/v1/x?state=a&limit=3&cursor=3', '/v1/x?state=a&limit=3&cursor=6']);
  });

  it('asks for the same page in halves when an answer is too large, and goes on with the smaller pages', async () => {
    const { client, asked } = listing(5, 2);
    expect(await allPages(client, '/v1/x', 'items', 8)).toEqual([0, 1, 2, 3, 4]);
    expect(asked.slice(0, 3)).toEqual(['/v1/x?limit=8', '/v1/x?limit=4', '/v1/x?limit=2']);
  });

  it('reads an older broker that sends no cursor as one page', async () => {
    const client = { get: async <T>(): Promise<T> => ({ items: [1, 2] }) as T };
    expect(await allPages(client, '/v1/x', 'items')).toEqual([1, 2]);
  });

  it('builds page paths with limit and cursor', () => {
    expect(pagePath('/v1/requests?state=pending,approved', 100, 'abc')).toBe('/v1/requests?state=pending%2Capproved&limit=100&cursor=abc');
  });
});
