// NotificationDispatcher over a real outbox (SQLite and PostgreSQL) with a recording POST: notices go to the
// destinations that want them, a failure is retried after its backoff and logged, attempts run
// out into "given up", and the outbox keeps what a stopped dispatcher did not deliver. With several
// brokers on one PostgreSQL database (one connection each), each try is made by one of them.

import { afterEach, describe, expect, it, vi } from 'vitest';
import type { NotificationsConfig } from '../../../broker/config/types.js';
import { DELIVERY_LEASE_MS, MAX_SLEEP_MS, NotificationDispatcher, type Post, type PostResult } from '../../../broker/notifications/dispatcher.js';
import type { Database } from '../../../broker/store/database.js';
import { NotificationOutbox } from '../../../broker/store/notification-outbox.js';
import type { SqlDialect } from '../../../broker/store/sql-database.js';
import type { RequestView } from '../../../shared/wire.js';
import { STORE_KINDS, openPostgresSchema, openStoreDatabase } from '../../helpers/store-databases.js';
import { requestView } from '../../helpers/request-views.js';
import { recordingLog } from '../requests/harness.js';

const T0 = Date.UTC(2025, 2, 4, 12, 0);

const pending: RequestView = requestView(T0, { id: 'r1', reason: 'INC-1' });

const config: NotificationsConfig = {
  destinations: [
    { name: 'slack', kind: 'slack', url: 'https://hooks.slack.test/1', secret: null, events: ['new_request'] },
    { name: 'siem', kind: 'webhook', url: 'https://siem.test/hook', secret: 's'.repeat(32), events: ['revoke'] },
  ],
  firstRetryMs: 1_000,
  maxRetryMs: 4_000,
  maxAttempts: 3,
};

let db: Database;

afterEach(() => {
  db?.close();
});

function setup(kind: SqlDialect, answers: PostResult[]) {
  db = openStoreDatabase(kind);
  const outbox = new NotificationOutbox(db);
  const clock = { now: T0 };
  const log = recordingLog();
  const posts: { url: string; headers: Record<string, string>; body: string }[] = [];
  const post: Post = async (url, headers, body) => {
    posts.push({ url, headers, body });
    return answers.shift() ?? { ok: true };
  };
  const dispatcher = new NotificationDispatcher({ config, outbox, now: () => clock.now, log, post, random: () => 1 });
  return { outbox, clock, log, posts, dispatcher };
}

/** Runs one pass now (the dispatcher's timer is real; the clock it reads is the test's). */
async function pass(dispatcher: NotificationDispatcher): Promise<void> {
  dispatcher.kick();
  await new Promise((resolve) => setTimeout(resolve, 20));
  await dispatcher.idle();
}

describe.each(STORE_KINDS)('NotificationDispatcher on %s', (kind) => {
  it('sends a notice only to the destinations whose events include it', async () => {
    const h = setup(kind, []);
    h.dispatcher.enqueueChange(pending, ['created'], T0);
    h.dispatcher.start();
    await pass(h.dispatcher);
    expect(h.posts.map((p) => p.url)).toEqual(['https://hooks.slack.test/1']);
    expect(h.outbox.waiting()).toBe(0);
    await h.dispatcher.stop();
  });

  it('retries a failed delivery after its backoff, logs each failure, and gives up after the attempts', async () => {
    const h = setup(kind, [
      { ok: false, error: 'HTTP 500: down' },
      { ok: false, error: 'HTTP 502: still down' },
      { ok: false, error: 'fetch failed' },
    ]);
    h.dispatcher.enqueueChange(pending, ['created'], T0);
    h.dispatcher.start();
    await pass(h.dispatcher);
    expect(h.posts).toHaveLength(1);
    // Not due yet: the first retry waits 1 s (random() = 1: the whole backoff).
    h.clock.now = T0 + 999;
    await pass(h.dispatcher);
    expect(h.posts).toHaveLength(1);
    h.clock.now = T0 + 1_000;
    await pass(h.dispatcher);
    expect(h.posts).toHaveLength(2);
    h.clock.now = T0 + 3_000;
    await pass(h.dispatcher);
    expect(h.posts).toHaveLength(3);
    expect(h.outbox.waiting()).toBe(0);
    expect(
      h.log.lines.filter((l) => l.message === 'notification delivery failed').map((l) => [l.fields['attempt'], l.fields['error'], l.fields['retryInMs']]),
    ).toEqual([
      [1, 'HTTP 500: down', 1_000],
      [2, 'HTTP 502: still down', 2_000],
    ]);
    expect(h.log.lines.find((l) => l.level === 'error')).toMatchObject({
      message: 'notification given up',
      fields: { destination: 'slack', attempts: 3, error: 'fetch failed' },
    });
    await h.dispatcher.stop();
  });

  it('keeps an undelivered notice in the outbox for the next dispatcher (a restart)', async () => {
    const h = setup(kind, [{ ok: false, error: 'HTTP 503' }]);
    h.dispatcher.enqueueChange(pending, ['created'], T0);
    h.dispatcher.start();
    await pass(h.dispatcher);
    await h.dispatcher.stop();
    expect(h.outbox.waiting()).toBe(1);
    const posts: string[] = [];
    const next = new NotificationDispatcher({
      config,
      outbox: h.outbox,
      now: () => T0 + 60_000,
      log: h.log,
      post: async (_url, headers) => {
        posts.push(headers['content-type'] ?? '');
        return { ok: true };
      },
    });
    next.start();
    await pass(next);
    expect(posts).toEqual(['application/json']);
    expect(h.outbox.waiting()).toBe(0);
    expect(h.log.lines.some((l) => l.message === 'notification delivered after retries')).toBe(true);
    await next.stop();
  });

  it('aborts a delivery in flight when stopped, keeping the notice for the next start', async () => {
    db = openStoreDatabase(kind);
    const outbox = new NotificationOutbox(db);
    const log = recordingLog();
    let started = false;
    // A destination that never answers: only the abort ends the POST.
    const hanging: Post = (_url, _headers, _body, stop) =>
      new Promise((resolve) => {
        started = true;
        stop.addEventListener('abort', () => resolve({ ok: false, error: 'AbortError: the broker is stopping' }));
      });
    const dispatcher = new NotificationDispatcher({ config, outbox, now: () => T0, log, post: hanging });
    dispatcher.enqueueChange(pending, ['created'], T0);
    dispatcher.start();
    while (!started) await new Promise((resolve) => setTimeout(resolve, 5));
    await dispatcher.stop();
    expect(outbox.waiting()).toBe(1);
    expect(log.lines.find((l) => l.message === 'notification delivery failed')?.fields['error']).toBe('AbortError: the broker is stopping');
  });

  it('signs webhook deliveries and names them with one delivery id across tries', async () => {
    const h = setup(kind, [{ ok: false, error: 'HTTP 500' }]);
    h.dispatcher.enqueueChange({ ...pending, state: 'revoked', closeReason: 'done' }, ['revoked'], T0);
    h.dispatcher.start();
    await pass(h.dispatcher);
    h.clock.now = T0 + 5_000;
    await pass(h.dispatcher);
    expect(h.posts).toHaveLength(2);
    const ids = h.posts.map((p) => p.headers['X-Access-Delivery']);
    expect(ids[0]).toMatch(/^[0-9a-f-]{36}$/);
    expect(ids[1]).toBe(ids[0]);
    expect(h.posts[1]?.headers['X-Access-Signature']).toMatch(/^t=1741089605,v1=[0-9a-f]{64}$/);
    await h.dispatcher.stop();
  });
});

describe('NotificationDispatcher, several brokers on one PostgreSQL database', () => {
  const webhooks: NotificationsConfig = {
    ...config,
    destinations: [{ name: 'siem', kind: 'webhook', url: 'https://siem.test/hook', secret: 's'.repeat(32), events: ['new_request'] }],
  };
  const open: Database[] = [];
  afterEach(() => {
    for (const each of open.splice(0).reverse()) each.close();
  });

  /** A broker's dispatcher on its own connection to the shared schema. */
  function brokerOn(connect: () => Database, now: () => number, post: Post) {
    const connection = connect();
    open.push(connection);
    const outbox = new NotificationOutbox(connection);
    const log = recordingLog();
    return { connection, outbox, log, dispatcher: new NotificationDispatcher({ config: webhooks, outbox, now, log, post, random: () => 1 }) };
  }

  /** A POST that answers ok after a moment (so the other broker's pass runs meanwhile) and records the delivery id. */
  function recorder(broker: string, posts: { broker: string; delivery: string }[]): Post {
    return async (_url, headers) => {
      await new Promise((resolve) => setTimeout(resolve, 2));
      posts.push({ broker, delivery: headers['X-Access-Delivery'] ?? '' });
      return { ok: true };
    };
  }

  it('delivers each notice once with two brokers dispatching from one outbox', async () => {
    const schema = openPostgresSchema();
    const posts: { broker: string; delivery: string }[] = [];
    const a = brokerOn(
      () => schema.connect(),
      () => T0,
      recorder('a', posts),
    );
    const b = brokerOn(
      () => schema.connect(),
      () => T0,
      recorder('b', posts),
    );
    for (let n = 0; n < 12; n += 1) a.dispatcher.enqueueChange({ ...pending, id: `r${n}` }, ['created'], T0);
    a.dispatcher.start();
    b.dispatcher.start();
    while (a.outbox.waiting() > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await Promise.all([a.dispatcher.stop(), b.dispatcher.stop()]);
    expect(posts).toHaveLength(12);
    expect(new Set(posts.map((p) => p.delivery)).size).toBe(12);
  });

  it('sends one expiry warning for a grant, though every broker’s scheduler raises it', async () => {
    const schema = openPostgresSchema();
    const posts: { broker: string; delivery: string }[] = [];
    const expiringHook: NotificationsConfig = {
      ...webhooks,
      destinations: [{ ...webhooks.destinations[0], events: ['expiring'] } as (typeof webhooks.destinations)[number]],
    };
    const brokers = ['a', 'b'].map((name) => {
      const connection = schema.connect();
      open.push(connection);
      const outbox = new NotificationOutbox(connection);
      return {
        outbox,
        dispatcher: new NotificationDispatcher({ config: expiringHook, outbox, now: () => T0, log: recordingLog(), post: recorder(name, posts) }),
      };
    });
    const grant = { ...pending, state: 'approved' as const, expiresAt: new Date(T0 + 600_000).toISOString() };
    for (const broker of brokers) broker.dispatcher.enqueueExpiring(grant, 600_000, T0);
    expect(brokers[0]?.outbox.waiting()).toBe(1);
    // The same grant extended ends at another time: that warning is a new one.
    brokers[1]?.dispatcher.enqueueExpiring({ ...grant, expiresAt: new Date(T0 + 1_200_000).toISOString() }, 600_000, T0);
    expect(brokers[0]?.outbox.waiting()).toBe(2);
    for (const broker of brokers) broker.dispatcher.start();
    while ((brokers[0]?.outbox.waiting() ?? 0) > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    await Promise.all(brokers.map((broker) => broker.dispatcher.stop()));
    expect(posts).toHaveLength(2);
  });

  it('looks again while idle, so it delivers what another broker enqueued and never delivered', async () => {
    const schema = openPostgresSchema();
    const posts: string[] = [];
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    try {
      const b = brokerOn(
        () => schema.connect(),
        () => T0,
        async (_url, headers) => {
          posts.push(headers['X-Access-Delivery'] ?? '');
          return { ok: true };
        },
      );
      b.dispatcher.start();
      await vi.advanceTimersByTimeAsync(0);
      await b.dispatcher.idle();
      // Broker A enqueues (its dispatcher is never started: it died) and B is not told.
      brokerOn(
        () => schema.connect(),
        () => T0,
        recorder('a', []),
      ).dispatcher.enqueueChange(pending, ['created'], T0);
      await vi.advanceTimersByTimeAsync(MAX_SLEEP_MS);
      await b.dispatcher.idle();
      expect(posts).toHaveLength(1);
      await b.dispatcher.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('lets another broker try again, under the same delivery id, once the claim of a broker that died mid-try lapses', async () => {
    const schema = openPostgresSchema();
    const clock = { now: T0 };
    const posts: { broker: string; delivery: string }[] = [];
    let answerA: ((result: PostResult) => void) | null = null;
    // Broker A claims the row and never hears back (it is dying) until the test says so.
    const a = brokerOn(
      () => schema.connect(),
      () => clock.now,
      (_url, headers) =>
        new Promise((resolve) => {
          posts.push({ broker: 'a', delivery: headers['X-Access-Delivery'] ?? '' });
          answerA = resolve;
        }),
    );
    const b = brokerOn(
      () => schema.connect(),
      () => clock.now,
      recorder('b', posts),
    );
    a.dispatcher.enqueueChange(pending, ['created'], T0);
    a.dispatcher.start();
    while (!answerA) await new Promise((resolve) => setTimeout(resolve, 5));
    // Within the lease B leaves the row alone; once it lapses B takes it.
    clock.now = T0 + DELIVERY_LEASE_MS - 1;
    b.dispatcher.start();
    await pass(b.dispatcher);
    expect(posts.map((p) => p.broker)).toEqual(['a']);
    clock.now = T0 + DELIVERY_LEASE_MS;
    await pass(b.dispatcher);
    expect(posts.map((p) => p.broker)).toEqual(['a', 'b']);
    expect(posts[1]?.delivery).toBe(posts[0]?.delivery);
    // A's late answer records nothing over B's outcome.
    (answerA as unknown as (result: PostResult) => void)({ ok: false, error: 'HTTP 500' });
    await a.dispatcher.idle();
    const row = a.connection
      .prepare<[], { attempts: number; delivered_at: number | null; next_attempt_at: number | null }>(
        'SELECT attempts, delivered_at, next_attempt_at FROM notification_outbox',
      )
      .get();
    expect(row).toEqual({ attempts: 2, delivered_at: T0 + DELIVERY_LEASE_MS, next_attempt_at: null });
    await Promise.all([a.dispatcher.stop(), b.dispatcher.stop()]);
  });
});
