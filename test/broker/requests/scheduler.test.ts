// The deadline scheduler with vitest's fake timers (which also move Date.now) over the real store.

import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DeadlineScheduler, EXPIRY_WARNING_LEAD_MS, MAX_TIMER_DELAY_MS } from '../../../broker/requests/scheduler.js';
import type { AccessRequest } from '../../../broker/requests/types.js';
import { HOUR, MINUTE, T0, harness, principal, resource, type Harness } from './harness.js';
import { pendingRequest } from '../store/sample-requests.js';

const alice = principal('alice');
const bob = principal('bob');

function stored(id: string, over: Partial<AccessRequest>): AccessRequest {
  return pendingRequest({
    id,
    requester: { oid: 'alice', upn: 'alice@contoso.com' },
    reason: null,
    ticket: null,
    approvalsRequired: 1,
    createdAt: T0,
    pendingUntil: T0 + HOUR,
    ...over,
  });
}

interface Running {
  h: Harness;
  scheduler: DeadlineScheduler;
  warnings: Array<{ id: string; inMs: number }>;
}

function start(h: Harness): Running {
  const warnings: Running['warnings'] = [];
  const scheduler = new DeadlineScheduler({
    service: h.service,
    store: h.store,
    now: () => Date.now(),
    log: h.log,
    warn: (request, inMs) => warnings.push({ id: request.id, inMs }),
  });
  scheduler.start();
  return { h, scheduler, warnings };
}

let running: Running | null = null;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(T0);
});

afterEach(() => {
  running?.scheduler.stop();
  running = null;
  vi.useRealTimers();
});

describe('DeadlineScheduler', () => {
  it('expires at start a grant whose time passed while the broker was down, closedAt = its expiresAt', () => {
    const h = harness({ now: () => Date.now() });
    h.store.insert(stored('gone', { state: 'approved', grantedAt: T0, expiresAt: T0 + HOUR }));
    h.store.insert(stored('stale', { createdAt: T0, pendingUntil: T0 + HOUR }));
    h.store.insert(stored('live', { state: 'approved', grantedAt: T0 + 2 * HOUR, expiresAt: T0 + 5 * HOUR }));
    vi.setSystemTime(T0 + 3 * HOUR); // the broker comes back three hours later
    running = start(h);
    expect(h.store.get('gone')).toMatchObject({ state: 'expired', closedAt: T0 + HOUR });
    expect(h.store.get('stale')).toMatchObject({ state: 'timed_out', closedAt: T0 + HOUR });
    expect(h.store.get('live')?.state).toBe('approved');
    const late = h.log.lines.filter((l) => l.message.includes('while the broker was down'));
    expect(late.map((l) => l.fields['id']).sort()).toEqual(['gone', 'stale']);
    expect(late.find((l) => l.fields['id'] === 'gone')?.fields).toMatchObject({ overdueMs: 2 * HOUR, deadline: new Date(T0 + HOUR).toISOString() });
    expect(h.log.lines.find((l) => l.message === 'deadline scheduler started')?.fields).toEqual({ closedAtStart: 2 });
  });

  it('fires at the next deadline and times out the pending request then, not before', async () => {
    const h = harness({ now: () => Date.now(), resources: [resource('prod-db', { requestTtlMs: 10_000 })] });
    running = start(h);
    expect(running.scheduler.nextRun).toBeNull();
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    expect(running.scheduler.nextRun).toBe(T0 + 10_000);
    vi.advanceTimersByTime(9_999);
    expect(h.store.get(id)?.state).toBe('pending');
    vi.advanceTimersByTime(1);
    expect(h.store.get(id)).toMatchObject({ state: 'timed_out', closedAt: T0 + 10_000 });
    expect(h.changes.at(-1)).toMatchObject({ id, change: 'timed_out' });
    expect(running.scheduler.nextRun).toBeNull();
  });

  it('never sleeps longer than the cap, so a clock jump is noticed within it', async () => {
    const h = harness({ now: () => Date.now() });
    running = start(h);
    const { id } = await h.service.create(alice, { resource: 'prod-db' }); // times out in 1 h
    expect(running.scheduler.nextRun).toBe(T0 + MAX_TIMER_DELAY_MS);
    // The wall clock jumps two hours ahead (VM resumed) without timers running.
    vi.setSystemTime(T0 + 2 * HOUR);
    vi.advanceTimersByTime(MAX_TIMER_DELAY_MS);
    expect(h.store.get(id)).toMatchObject({ state: 'timed_out', closedAt: T0 + HOUR });
  });

  it("re-arms after an approval for the grant's end and expires it on time", async () => {
    const h = harness({ now: () => Date.now() });
    running = start(h);
    const { id } = await h.service.create(alice, { resource: 'prod-db', duration: '30m' });
    vi.advanceTimersByTime(10 * MINUTE);
    await h.service.review(bob, id, 'approve', null);
    vi.advanceTimersByTime(30 * MINUTE - 1);
    expect(h.store.get(id)?.state).toBe('approved');
    vi.advanceTimersByTime(1);
    expect(h.store.get(id)).toMatchObject({ state: 'expired', closedAt: T0 + 40 * MINUTE });
  });

  it('warns the requester once, at the lead time before the grant ends', async () => {
    const h = harness({ now: () => Date.now() });
    running = start(h);
    const { id } = await h.service.create(alice, { resource: 'prod-db', duration: '1h' });
    await h.service.review(bob, id, 'approve', null);
    vi.advanceTimersByTime(HOUR - EXPIRY_WARNING_LEAD_MS - 1);
    expect(running.warnings).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(running.warnings).toEqual([{ id, inMs: EXPIRY_WARNING_LEAD_MS }]);
    // Other changes re-arm the timer; the warning is not repeated.
    await h.service.create(alice, { resource: 'prod-db' });
    vi.advanceTimersByTime(EXPIRY_WARNING_LEAD_MS - 1);
    expect(running.warnings).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(h.store.get(id)?.state).toBe('expired');
    expect(running.warnings).toHaveLength(1);
  });

  it('does not warn about a grant shorter than the lead time', async () => {
    const h = harness({ now: () => Date.now() });
    running = start(h);
    const { id } = await h.service.create(alice, { resource: 'prod-db', duration: '2m' });
    await h.service.review(bob, id, 'approve', null);
    vi.advanceTimersByTime(2 * MINUTE);
    expect(h.store.get(id)?.state).toBe('expired');
    expect(running.warnings).toEqual([]);
  });

  it('stops: no timer fires after stop()', async () => {
    const h = harness({ now: () => Date.now(), resources: [resource('prod-db', { requestTtlMs: 10_000 })] });
    running = start(h);
    const { id } = await h.service.create(alice, { resource: 'prod-db' });
    running.scheduler.stop();
    vi.advanceTimersByTime(60_000);
    expect(h.store.get(id)?.state).toBe('pending');
    expect(vi.getTimerCount()).toBe(0);
  });
});
