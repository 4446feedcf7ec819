// Cursor pages on the request listings over HTTP: `limit` bounds a page, `next` is an opaque cursor
// (null on the last page), following it reads every item exactly once in the listing's order, and
// a cursor from another listing or made up is refused with cursor_invalid.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_LIMIT_MAX } from '../../../shared/limits.js';
import type { ApprovalsResponse, RequestsResponse } from '../../../shared/wire.js';
import { startTestBroker, type TestBroker } from '../events/broker-harness.js';

let broker: TestBroker;
const created: string[] = [];

beforeAll(async () => {
  broker = await startTestBroker({ limits: { requestCreation: { burst: 1000, perMinute: 1000 }, maxPendingPerUser: 1000 } });
  for (let i = 0; i < 7; i++) {
    const res = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', reason: `r${i}` });
    created.push((res.body as { id: string }).id);
  }
});

afterAll(async () => {
  await broker.close();
});

async function follow<T>(path: string, token: string, key: 'requests' | 'approvals'): Promise<{ pages: number; items: T[] }> {
  const items: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = path.includes('?') ? '&' : '?';
    const res = await broker.call('GET', `${path}${sep}limit=3${cursor ? `&cursor=${cursor}` : ''}`, token);
    expect(res.status).toBe(200);
    const body = res.body as { next: string | null } & Record<string, T[]>;
    expect((body[key] ?? []).length).toBeLessThanOrEqual(3);
    items.push(...(body[key] ?? []));
    cursor = body.next;
    pages += 1;
  } while (cursor !== null);
  return { pages, items };
}

describe('cursor pages', () => {
  it('reads every one of my requests once, newest first, three at a time', async () => {
    const { pages, items } = await follow<{ id: string }>('/v1/requests', 'good-alice', 'requests');
    expect(pages).toBe(3);
    expect(items.map((r) => r.id)).toEqual([...created].reverse());
  });

  it('reads every request waiting for an approver once, oldest first, three at a time', async () => {
    const { pages, items } = await follow<{ id: string }>('/v1/approvals', 'good-bob', 'approvals');
    expect(pages).toBe(3);
    expect(items.map((r) => r.id)).toEqual(created);
  });

  it('answers a last page with next null', async () => {
    const res = await broker.call('GET', '/v1/approvals?limit=50', 'good-bob');
    expect((res.body as ApprovalsResponse).next).toBeNull();
    const mine = await broker.call('GET', '/v1/requests?state=pending&limit=50', 'good-alice');
    expect((mine.body as RequestsResponse).next).toBeNull();
  });

  it('refuses a cursor of another listing, or one the broker never made, with 400 cursor_invalid', async () => {
    const page = await broker.call('GET', '/v1/approvals?limit=1', 'good-bob');
    const cursor = (page.body as ApprovalsResponse).next;
    expect(cursor).toEqual(expect.any(String));
    expect(await broker.call('GET', `/v1/requests?cursor=${cursor}`, 'good-alice')).toMatchObject({ status: 400, body: { code: 'cursor_invalid' } });
    expect(await broker.call('GET', '/v1/approvals?cursor=bm90LWEtY3Vyc29y', 'good-bob')).toMatchObject({ status: 400, body: { code: 'cursor_invalid' } });
  });

  it(`refuses a page limit above ${PAGE_LIMIT_MAX}`, async () => {
    expect(await broker.call('GET', `/v1/approvals?limit=${PAGE_LIMIT_MAX + 1}`, 'good-bob')).toMatchObject({ status: 400, body: { code: 'bad_request' } });
  });
});
