// Reading a whole listing page by page: the broker hands out a `next` cursor with each page (null
// on the last), and the CLI follows it until the end, so `access approvals` and `access requests`
// show everything however long the list. A page the CLI cannot take in one answer
// (response_too_large) is asked for again with half the `limit`, so the size of what is listed
// never stops the listing.

import { AccessError } from '../shared/errors.js';
import { PAGE_LIMIT_DEFAULT } from '../shared/limits.js';
import type { BrokerClient } from './broker-client.js';

/** Pages followed at most: a broker that keeps answering with new cursors is not believed forever. */
export const MAX_PAGES = 10_000;

export type PageClient = Pick<BrokerClient, 'get'>;

/**
 * Every item of the listing at `path` (which may carry its own query), in the broker's order. `key`
 * names the array in each page (`approvals`, `requests`).
 */
export async function allPages<K extends string, T>(client: PageClient, path: string, key: K, firstLimit = PAGE_LIMIT_DEFAULT): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  let limit = firstLimit;
  for (let pages = 0; pages < MAX_PAGES; pages++) {
    let page: Record<K, T[]> & { next?: string | null };
    try {
      page = await client.get<Record<K, T[]> & { next?: string | null }>(pagePath(path, limit, cursor));
    } catch (error) {
      // Too much in one answer: the same page, in halves, until one fits (a single item always does).
      if (error instanceof AccessError && error.code === 'response_too_large' && limit > 1) {
        limit = Math.ceil(limit / 2);
        pages -= 1;
        continue;
      }
      throw error;
    }
    items.push(...page[key]);
    const next = page.next ?? null;
    if (next === null || next === cursor) return items;
    cursor = next;
  }
  throw new AccessError('broker_response_invalid', `${path} kept answering with more pages after ${MAX_PAGES}; is this an access broker?`);
}

export function pagePath(path: string, limit: number, cursor: string | null): string {
  const [base, query] = path.split('?', 2) as [string, string | undefined];
  const params = new URLSearchParams(query);
  params.set('limit', String(limit));
  if (cursor !== null) params.set('cursor', cursor);
  return `${base}?${params.toString()}`;
}
