// The request service with the workflow of issue 15, on a real SQLite store: an extension waits in
// the approvers' queue and moves the grant once approved; a break-glass grant waits in their
// post-review list until one of them records a verdict; and the notification outbox gets its rows
// in the transaction of each change — none for a refused action.

import { afterEach, describe, expect, it } from 'vitest';
import type { NotificationsConfig } from '../../../broker/config/types.js';
import { NotificationDispatcher } from '../../../broker/notifications/dispatcher.js';
import { RequestService } from '../../../broker/requests/service.js';
import { openDatabase, type Database } from '../../../broker/store/database.js';
import { NotificationOutbox } from '../../../broker/store/notification-outbox.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { AccessError } from '../../../shared/errors.js';
import { config, FakeDirectory, HOUR, MINUTE, principal, recordingLog, resource, T0 } from './harness.js';

const notifications: NotificationsConfig = {
  destinations: [
    { name: 'ops', kind: 'slack', url: 'https://hooks.slack.test/x', secret: null, events: ['new_request', 'extension_request', 'break_glass', 'decision'] },
  ],
  firstRetryMs: 1_000,
  maxRetryMs: 10_000,
  maxAttempts: 3,
};

let db: Database;

afterEach(() => {
  db?.close();
});

function setup() {
  db = openDatabase(':memory:');
  const store = new SqlRequestStore(db);
  const outbox = new NotificationOutbox(db);
  const clock = { now: T0 };
  const log = recordingLog();
  const dispatcher = new NotificationDispatcher({ config: notifications, outbox, now: () => clock.now, log });
  const policy = resource('prod-db', {
    autoApprove: [],
    extend: { maxTotalMs: 3 * HOUR, autoApproveWithinMs: null },
    breakGlass: { groups: ['sg-oncall'], maxDurationMs: HOUR },
  });
  let n = 0;
  const service: RequestService = new RequestService({
    config: config([policy]),
    store,
    directory: new FakeDirectory(),
    log,
    now: () => clock.now,
    newId: () => `req${++n}`,
    notify: (request, changes, at) => dispatcher.enqueueChange(service.view(request), changes, at),
  });
  return { service, outbox, clock };
}

async function refused(action: Promise<unknown>): Promise<string> {
  try {
    await action;
  } catch (error) {
    if (error instanceof AccessError) return error.code;
    throw error;
  }
  throw new Error('expected a refusal');
}

describe('RequestService: extensions', () => {
  it('puts a pending extension in the approvers’ queue and moves the grant when one approves', async () => {
    const { service, outbox, clock } = setup();
    const alice = principal('alice');
    const bob = principal('bob');
    const created = await service.create(alice, { resource: 'prod-db', duration: '1h', reason: 'INC-1' });
    clock.now = T0 + MINUTE;
    await service.review(bob, created.id, 'approve', null);
    expect(outbox.waiting()).toBe(2);
    clock.now = T0 + 30 * MINUTE;
    const asked = await service.extend(alice, created.id, '30m', 'still migrating');
    expect(asked.extensions?.map((e) => e.state)).toEqual(['pending']);
    expect(outbox.waiting()).toBe(3);
    expect((await service.listApprovals(bob)).map((a) => [a.id, a.extensions?.at(-1)?.state])).toEqual([[created.id, 'pending']]);
    expect(await service.listApprovals(alice)).toEqual([]);

    const extended = await service.review(bob, created.id, 'approve', null);
    expect(extended.expiresAt).toBe(new Date(T0 + MINUTE + HOUR + 30 * MINUTE).toISOString());
    expect(await service.listApprovals(bob)).toEqual([]);
    // A refused extension writes no notice: the outbox rows belong to committed changes only.
    expect(await refused(service.extend(alice, created.id, '2h', null))).toBe('extension_too_long');
    expect(outbox.waiting()).toBe(3);
  });
});

describe('RequestService: break-glass', () => {
  it('grants at once, lists the grant for post-review to approvers until one records a verdict', async () => {
    const { service, outbox } = setup();
    const oscar = principal('oscar');
    const bob = principal('bob');
    const grant = await service.create(oscar, { resource: 'prod-db', reason: 'INC-2: down', breakGlass: true });
    expect(grant).toMatchObject({ state: 'approved', breakGlass: true, postReview: null });
    expect(outbox.waiting()).toBe(1);
    expect((await service.breakGlassToReview(bob)).map((r) => r.id)).toEqual([grant.id]);
    expect(await service.breakGlassToReview(oscar)).toEqual([]);
    expect(await refused(service.postReview(oscar, grant.id, 'acceptable', 'fine'))).toBe('self_review');
    expect(await refused(service.create(principal('alice'), { resource: 'prod-db', reason: 'me too', breakGlass: true }))).toBe('break_glass_not_allowed');

    const reviewed = await service.postReview(bob, grant.id, 'acceptable', 'INC-2 confirmed');
    expect(reviewed.postReview).toMatchObject({ verdict: 'acceptable', comment: 'INC-2 confirmed', reviewer: { oid: 'bob' } });
    expect(await service.breakGlassToReview(bob)).toEqual([]);
  });
});
