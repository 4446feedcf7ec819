// The audit API over HTTP on a real socket, on a broker assembled like every broker (assemble.ts):
// auditors only, the sign-in hook, the long poll behind `events --follow`, verify.

import { afterAll, beforeAll, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { AssembledBroker } from '../../../broker/assemble.js';
import type { AuditEntryView, AuditEventsResponse, AuditShowResponse, AuditVerifyResponse, RequestView } from '../../../shared/wire.js';
import { startTestBroker, type TestBroker } from '../events/broker-harness.js';

let broker: TestBroker;
let runtime: AssembledBroker;

beforeAll(async () => {
  broker = await startTestBroker();
  runtime = broker.runtime;
});

afterAll(async () => {
  await broker.close();
});

async function call(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; body: unknown }> {
  const { status, body: answer } = await broker.call(method, path, token, body);
  return { status, body: answer };
}

async function allEntries(): Promise<AuditEntryView[]> {
  return ((await call('GET', '/v1/audit/events?limit=10000', 'good-ivy')).body as AuditEventsResponse).entries;
}

const ENDPOINTS = ['/v1/audit/sessions', '/v1/audit/show/req001', '/v1/audit/events', '/v1/audit/verify'];

describe('who may read the audit log', () => {
  it.each(ENDPOINTS)('answers %s for a non-auditor with 403 not_an_auditor naming the auditor groups', async (path) => {
    const res = await call('GET', path, 'good-alice');
    expect(res).toMatchObject({ status: 403, body: { code: 'not_an_auditor', message: expect.stringContaining('sg-audit') } });
    expect((res.body as { message: string }).message).toContain('alice@contoso.com');
  });

  it('refuses an application token with 403 not_an_auditor', async () => {
    expect(await call('GET', '/v1/audit/events', 'app-robot')).toMatchObject({ status: 403, body: { code: 'not_an_auditor' } });
  });

  it('refuses a caller without a token with 401', async () => {
    expect(await call('GET', '/v1/audit/events', null)).toMatchObject({ status: 401, body: { code: 'token_missing' } });
  });

  it('answers an auditor', async () => {
    expect(await call('GET', '/v1/audit/sessions', 'good-ivy')).toMatchObject({ status: 200, body: { sessions: [] } });
  });
});

describe('signin.seen', () => {
  it('is recorded once per token, however many requests carry it', async () => {
    for (let i = 0; i < 3; i++) await call('GET', '/v1/requests', 'good-carol');
    const seen = (await allEntries()).filter((e) => e.type === 'signin.seen' && e.actor?.oid === 'carol');
    expect(seen).toHaveLength(1);
    expect(seen[0]?.body).toMatchObject({ kind: 'user', appId: 'cli', tenantId: 't1', tokenId: expect.stringMatching(/^[0-9a-f]{16}$/) });
  });

  it('is not recorded for a token that fails verification', async () => {
    await call('GET', '/v1/requests', 'forged-erin');
    expect((await allEntries()).some((e) => e.actor?.oid === 'erin')).toBe(false);
  });
});

describe('GET /v1/audit/events', () => {
  it('pages by after_seq and limit', async () => {
    await call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', reason: 'INC-1' });
    const all = await allEntries();
    const page = (await call('GET', '/v1/audit/events?after_seq=1&limit=2', 'good-ivy')).body as AuditEventsResponse;
    expect(page.entries).toEqual(all.slice(1, 3));
    expect(page.nextAfterSeq).toBe(3);
  });

  it('holds a long poll open until an entry is committed, then answers with it', async () => {
    const { headSeq } = (await call('GET', '/v1/audit/events', 'good-ivy')).body as AuditEventsResponse;
    // wait=25 is longer than this test may run: the answer can only come from the new entry.
    const polling = call('GET', `/v1/audit/events?after_seq=${headSeq}&wait=25`, 'good-ivy');
    while (runtime.audit.waiting === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const created = (await call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', reason: 'INC-2' })).body as RequestView;
    const page = (await polling).body as AuditEventsResponse;
    expect(page.entries.map((e) => [e.type, e.subject])).toContainEqual(['request.created', created.id]);
    expect(page.entries[0]?.seq).toBe(headSeq + 1);
  });

  it('answers a long poll on a quiet log with an empty page', async () => {
    const { headSeq } = (await call('GET', '/v1/audit/events', 'good-ivy')).body as AuditEventsResponse;
    // The poll's one second passes on a fake clock (its timer and performance.now), moved on once the broker holds it.
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    onTestFinished(() => {
      vi.useRealTimers();
    });
    const polling = call('GET', `/v1/audit/events?after_seq=${headSeq}&wait=1`, 'good-ivy');
    while (runtime.audit.waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    vi.advanceTimersByTime(1000);
    const page = (await polling).body as AuditEventsResponse;
    expect(page).toEqual({ entries: [], nextAfterSeq: headSeq, headSeq });
  });

  it.each([
    ['after_seq=-1', /after_seq=-1 is not a whole number/],
    ['wait=60', /wait=60 is not a whole number from 0 to 25/],
    ['since=yesterday', /since=yesterday is neither a duration/],
    ['sinec=7d', /unknown query parameter "sinec".*allowed: after_seq, since, limit, wait/],
  ])('refuses ?%s with 400', async (query, message) => {
    expect(await call('GET', `/v1/audit/events?${query}`, 'good-ivy')).toMatchObject({
      status: 400,
      body: { code: 'bad_request', message: expect.stringMatching(message) },
    });
  });
});

describe('GET /v1/audit/show/:id and /v1/audit/sessions', () => {
  it('tells the story of a request', async () => {
    const created = (await call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', reason: 'INC-3' })).body as RequestView;
    await call('POST', `/v1/requests/${created.id}/review`, 'good-bob', { decision: 'approve' });
    const story = (await call('GET', `/v1/audit/show/${created.id}`, 'good-ivy')).body as AuditShowResponse;
    expect(story.kind).toBe('request');
    expect(story.entries.map((e) => e.type)).toEqual(['request.created', 'request.review_recorded', 'request.approved']);
  });

  it('answers an unknown id with 404 audit_subject_not_found', async () => {
    expect(await call('GET', '/v1/audit/show/nope', 'good-ivy')).toMatchObject({ status: 404, body: { code: 'audit_subject_not_found' } });
  });

  it('takes since and until as durations back from now or ISO times', async () => {
    expect(await call('GET', '/v1/audit/sessions?user=alice&resource=prod-db&since=7d&until=2100-01-01T00:00:00Z&limit=5', 'good-ivy')).toMatchObject({
      status: 200,
    });
    expect(await call('GET', '/v1/audit/sessions?limit=5000', 'good-ivy')).toMatchObject({ status: 400, body: { code: 'bad_request' } });
  });
});

describe('GET /v1/audit/verify', () => {
  it('recomputes the chain and answers with the count and the head hash', async () => {
    const all = await allEntries();
    const verified = (await call('GET', '/v1/audit/verify', 'good-ivy')).body as AuditVerifyResponse;
    const head = all.at(-1);
    // The verify call's own sign-in is not new (ivy's token was seen before), so the head is unchanged.
    expect(verified).toEqual({ ok: true, count: head?.seq, headSeq: head?.seq, headHash: head?.hash });
  });
});
