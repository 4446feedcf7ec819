// Bounds on what a caller sends, over HTTP on a real socket: every text field has a named limit
// (shared/limits.ts) and is refused above it with `field_too_long` quoting the limit; bodies above
// MAX_API_BODY_BYTES are refused with 413 before they are read; and refused input reaches the audit
// log only as a bounded copy, so a caller with no rights cannot grow the log by what they send.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_API_BODY_BYTES, MAX_AUDIT_COPY_CHARS, MAX_ID_CHARS, MAX_REASON_CHARS, MAX_RESOURCE_NAME_CHARS, MAX_TICKET_CHARS } from '../../../shared/limits.js';
import type { AuditEntryView } from '../../../shared/wire.js';
import { startTestBroker, type TestBroker } from '../events/broker-harness.js';

let broker: TestBroker;

beforeAll(async () => {
  // Many refused requests from one person here: above the default rate (caller-limits.test.ts tests that).
  broker = await startTestBroker({ limits: { requestCreation: { burst: 1000, perMinute: 1000 } } });
});

afterAll(async () => {
  await broker.close();
});

function auditEntries(): AuditEntryView[] {
  return broker.runtime.audit.queries.events({ afterSeq: 0, limit: 10_000 }).entries;
}

function auditBytes(): number {
  return auditEntries().reduce((sum, e) => sum + JSON.stringify(e).length, 0);
}

describe('text field limits', () => {
  it.each([
    ['reason', { resource: 'prod-db', reason: 'x'.repeat(MAX_REASON_CHARS + 1) }, MAX_REASON_CHARS],
    ['ticket', { resource: 'prod-db', ticket: 'T'.repeat(MAX_TICKET_CHARS + 1) }, MAX_TICKET_CHARS],
    ['resource', { resource: 'r'.repeat(MAX_RESOURCE_NAME_CHARS + 1) }, MAX_RESOURCE_NAME_CHARS],
    ['duration', { resource: 'prod-db', duration: '1'.repeat(40) }, 32],
  ])('refuses a request whose %s is over its limit with 400 field_too_long, quoting the limit', async (field, body, limit) => {
    const res = await broker.call('POST', '/v1/requests', 'good-alice', body);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ code: 'field_too_long', message: expect.stringContaining(`"${field}" in the request body`) });
    expect((res.body as { message: string }).message).toContain(`the limit is ${limit}`);
  });

  it('refuses a review comment, a revoke reason and a request id in the path over their limits', async () => {
    const comment = await broker.call('POST', '/v1/requests/abc/review', 'good-bob', { decision: 'deny', comment: 'c'.repeat(MAX_REASON_CHARS + 1) });
    expect(comment).toMatchObject({ status: 400, body: { code: 'field_too_long' } });
    const revoke = await broker.call('POST', '/v1/requests/abc/revoke', 'good-bob', { reason: 'c'.repeat(MAX_REASON_CHARS + 1) });
    expect(revoke).toMatchObject({ status: 400, body: { code: 'field_too_long' } });
    const id = await broker.call('GET', `/v1/requests/${'i'.repeat(MAX_ID_CHARS + 1)}`, 'good-alice');
    expect(id).toMatchObject({ status: 400, body: { code: 'field_too_long', message: expect.stringContaining(`the limit is ${MAX_ID_CHARS}`) } });
  });

  it('refuses an audit query whose id or filters are over their limits', async () => {
    const show = await broker.call('GET', `/v1/audit/show/${'i'.repeat(MAX_ID_CHARS + 1)}`, 'good-ivy');
    expect(show).toMatchObject({ status: 400, body: { code: 'field_too_long' } });
    const sessions = await broker.call('GET', `/v1/audit/sessions?resource=${'r'.repeat(MAX_RESOURCE_NAME_CHARS + 1)}`, 'good-ivy');
    expect(sessions).toMatchObject({ status: 400, body: { code: 'field_too_long' } });
  });

  it('refuses a body over MAX_API_BODY_BYTES with 413 payload_too_large, quoting the limit', async () => {
    const res = await broker.call('POST', '/v1/requests', 'good-alice', { resource: 'prod-db', reason: 'x'.repeat(MAX_API_BODY_BYTES) });
    expect(res.status).toBe(413);
    expect(res.body).toMatchObject({ code: 'payload_too_large', message: expect.stringContaining(String(MAX_API_BODY_BYTES)) });
  });
});

describe('refused input in the audit log', () => {
  it('does not grow the audit log by what a caller with no groups sends (60 KB reasons, 20 times)', async () => {
    const before = auditBytes();
    for (let i = 0; i < 20; i++) {
      const res = await broker.call('POST', '/v1/requests', 'good-mallory', { resource: 'prod-db', reason: 'x'.repeat(60 * 1024 - 100) });
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    // Each refusal may be logged, but small: far below one 60 KB reason for all twenty together.
    expect(auditBytes() - before).toBeLessThan(20 * 2 * 1024);
  });

  it('keeps a cut copy of a long refused value, with its original length', async () => {
    const reason = 'y'.repeat(MAX_REASON_CHARS);
    const res = await broker.call('POST', '/v1/requests', 'good-mallory', { resource: 'prod-db', reason });
    expect(res).toMatchObject({ status: 403, body: { code: 'not_a_requester' } });
    const refused = auditEntries()
      .filter((e) => e.type === 'policy.refused')
      .at(-1);
    expect(refused?.body).toMatchObject({ code: 'not_a_requester', reason: `${'y'.repeat(MAX_AUDIT_COPY_CHARS)}…`, reasonLength: MAX_REASON_CHARS });
  });
});
