// The request API over HTTP on a real socket: status codes, body validation, and that each route
// reaches the service (whose rules are proven in test/broker/requests/service.test.ts).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApprovalsResponse, RequestsResponse, RequestView } from '../../../shared/wire.js';
import { startTestBroker, type TestBroker } from '../events/broker-harness.js';

let broker: TestBroker;

beforeAll(async () => {
  // Many requests from one person here: above the default rate and pending caps (caller-limits.test.ts tests those).
  broker = await startTestBroker({ limits: { requestCreation: { burst: 1000, perMinute: 1000 }, maxPendingPerUser: 1000 } });
});

afterAll(async () => {
  await broker.close();
});

async function create(token = 'good-alice', body: unknown = { resource: 'prod-db', duration: '30m', reason: 'INC-1' }): Promise<RequestView> {
  const res = await broker.call('POST', '/v1/requests', token, body);
  if (res.status !== 201) throw new Error(`create failed: ${JSON.stringify(res.body)}`);
  return res.body as RequestView;
}

describe('POST /v1/requests', () => {
  it('creates a request: 201 with the request and its location', async () => {
    const res = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', duration: '30m', reason: 'INC-1', ticket: 'T-1' });
    expect(res.status).toBe(201);
    const view = res.body as RequestView;
    expect(view).toMatchObject({ resource: 'prod-db', state: 'pending', durationMs: 30 * 60_000, reason: 'INC-1', ticket: 'T-1', requester: { oid: 'alice' } });
    expect(res.headers.get('location')).toBe(`/v1/requests/${view.id}`);
  });

  it.each([
    [{ resource: 'prod-db', reson: 'typo' }, /unknown field "reson".*allowed: resource, duration, reason, ticket/],
    [{ duration: '1h' }, /needs "resource"/],
    [{ resource: 'prod-db', duration: 60 }, /"duration" .* must be a string, not number 60/],
    [['prod-db'], /must be a JSON object/],
  ])('refuses a malformed body %j with bad_request', async (body, message) => {
    const res = await broker.call('POST', '/v1/requests', 'good-alice', body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'bad_request', message: expect.stringMatching(message) });
  });

  it('answers an unknown resource with 404 unknown_resource', async () => {
    const res = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'nope' });
    expect(res).toMatchObject({ status: 404, body: { code: 'unknown_resource' } });
  });

  it('answers a policy refusal with its code and status', async () => {
    const res = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', duration: '9h' });
    expect(res).toMatchObject({ status: 400, body: { code: 'duration_too_long' } });
  });

  it("refuses a workload the resource's policy does not name with 403 not_a_workload", async () => {
    const res = await broker.call('POST', '/v1/requests', 'app-robot', { resource: 'prod-db' });
    expect(res).toMatchObject({ status: 403, body: { code: 'not_a_workload', message: expect.stringContaining('resources.prod-db.workloads') } });
  });

  it('refuses a caller without a token with 401', async () => {
    const res = await broker.call('POST', '/v1/requests', null, { resource: 'prod-db' });
    expect(res).toMatchObject({ status: 401, body: { code: 'token_missing' } });
  });
});

describe('GET /v1/requests and /v1/requests/:id', () => {
  it("lists the caller's requests newest first, filtered by ?state=", async () => {
    const first = await create('good-oscar', { resource: 'two-key' });
    const second = await create('good-oscar', { resource: 'prod-db' }); // auto-approved (sg-oncall)
    const all = (await broker.call('GET', '/v1/requests', 'good-oscar')).body as RequestsResponse;
    expect(all.requests.map((r) => r.id)).toEqual([second.id, first.id]);
    const approved = (await broker.call('GET', '/v1/requests?state=approved', 'good-oscar')).body as RequestsResponse;
    expect(approved.requests.map((r) => r.id)).toEqual([second.id]);
    const some = (await broker.call('GET', '/v1/requests?state=pending,approved&limit=1', 'good-oscar')).body as RequestsResponse;
    expect(some.requests).toHaveLength(1);
  });

  it('refuses an unknown state name in ?state= naming it', async () => {
    const res = await broker.call('GET', '/v1/requests?state=pending,aproved', 'good-alice');
    expect(res).toMatchObject({ status: 400, body: { code: 'bad_request', message: expect.stringContaining('"aproved"') } });
  });

  it('shows a request to its approver and hides it from a stranger', async () => {
    const { id } = await create();
    expect(await broker.call('GET', `/v1/requests/${id}`, 'good-bob')).toMatchObject({ status: 200, body: { id } });
    expect(await broker.call('GET', `/v1/requests/${id}`, 'good-mallory')).toMatchObject({ status: 404, body: { code: 'request_not_found' } });
  });
});

describe('POST /v1/requests/:id/review, /cancel, /revoke', () => {
  it('approves, then revokes with a reason', async () => {
    const { id } = await create();
    const approved = await broker.call('POST', `/v1/requests/${id}/review`, 'good-bob', { decision: 'approve', comment: 'ok' });
    expect(approved).toMatchObject({ status: 200, body: { state: 'approved', reviews: [{ reviewer: { oid: 'bob' }, comment: 'ok' }] } });
    const revoked = await broker.call('POST', `/v1/requests/${id}/revoke`, 'good-erin', { reason: 'incident over' });
    expect(revoked).toMatchObject({ status: 200, body: { state: 'revoked', closedBy: { oid: 'erin' }, closeReason: 'incident over' } });
  });

  it('refuses a review whose decision is not approve or deny', async () => {
    const { id } = await create();
    const res = await broker.call('POST', `/v1/requests/${id}/review`, 'good-bob', { decision: 'maybe' });
    expect(res).toMatchObject({ status: 400, body: { code: 'bad_request', message: expect.stringContaining('"maybe"') } });
  });

  it('refuses a self-review with 403 self_review', async () => {
    const { id } = await create('good-alice');
    const res = await broker.call('POST', `/v1/requests/${id}/review`, 'good-alice', { decision: 'approve' });
    expect(res).toMatchObject({ status: 403, body: { code: 'self_review' } });
  });

  it('answers a second review of a closed request with 409 request_not_pending', async () => {
    const { id } = await create();
    await broker.call('POST', `/v1/requests/${id}/review`, 'good-bob', { decision: 'approve' });
    const res = await broker.call('POST', `/v1/requests/${id}/review`, 'good-carol', { decision: 'approve' });
    expect(res).toMatchObject({ status: 409, body: { code: 'request_not_pending', message: expect.stringContaining('bob@contoso.com') } });
  });

  it("cancels the caller's pending request (an empty body is fine)", async () => {
    const { id } = await create();
    expect(await broker.call('POST', `/v1/requests/${id}/cancel`, 'good-alice')).toMatchObject({ status: 200, body: { state: 'cancelled' } });
  });

  it('refuses unknown fields in a revoke body', async () => {
    const { id } = await create();
    const res = await broker.call('POST', `/v1/requests/${id}/revoke`, 'good-alice', { why: 'x' });
    expect(res).toMatchObject({ status: 400, body: { code: 'bad_request', message: expect.stringContaining('"why"') } });
  });

  it('answers an unknown id with 404 request_not_found', async () => {
    const res = await broker.call('POST', '/v1/requests/zzzzzzzzzz/cancel', 'good-alice');
    expect(res).toMatchObject({ status: 404, body: { code: 'request_not_found' } });
  });
});

describe('GET /v1/approvals', () => {
  it("lists what waits for the caller's review, with the requester's groups", async () => {
    const { id } = await create('good-alice', { resource: 'prod-db', reason: 'for review' });
    const res = (await broker.call('GET', '/v1/approvals', 'good-carol')).body as ApprovalsResponse;
    const mine = res.approvals.find((a) => a.id === id);
    expect(mine).toMatchObject({ requester: { oid: 'alice' }, requesterGroups: [{ displayName: 'sg-eng' }], reason: 'for review' });
    expect(Array.isArray(mine?.recent)).toBe(true);
    const none = (await broker.call('GET', '/v1/approvals', 'good-alice')).body as ApprovalsResponse;
    expect(none.approvals).toEqual([]);
  });
});
