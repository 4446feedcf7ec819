import { afterEach, describe, expect, it } from 'vitest';
import { MAX_TRACKED_KEYS, OpenCounter, RateLimiter, SharedRateLimiter, retryAfterSeconds } from '../../../broker/http/rate-limit.js';
import type { Database } from '../../../broker/store/database.js';
import { RateBucketStore } from '../../../broker/store/rate-buckets.js';
import { openPostgresSchema } from '../../helpers/store-databases.js';

describe('RateLimiter', () => {
  it('allows a burst, then one call per refill interval, and says how long to wait', () => {
    let now = 0;
    const limiter = new RateLimiter({ burst: 3, perMinute: 6 }, () => now);
    expect([limiter.take('a'), limiter.take('a'), limiter.take('a')]).toEqual([0, 0, 0]);
    // 6 a minute: one every 10 s.
    expect(limiter.take('a')).toBe(10_000);
    now = 4_000;
    expect(limiter.take('a')).toBe(6_000);
    now = 10_000;
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBe(10_000);
  });

  it('keeps one bucket per key', () => {
    const limiter = new RateLimiter({ burst: 1, perMinute: 1 }, () => 0);
    expect(limiter.take('a')).toBe(0);
    expect(limiter.take('a')).toBeGreaterThan(0);
    expect(limiter.take('b')).toBe(0);
  });

  it('refills no further than the burst', () => {
    let now = 0;
    const limiter = new RateLimiter({ burst: 2, perMinute: 60 }, () => now);
    now = 3_600_000;
    expect([limiter.take('a'), limiter.take('a')]).toEqual([0, 0]);
    expect(limiter.take('a')).toBe(1_000);
  });

  it(`remembers at most ${MAX_TRACKED_KEYS} keys, forgetting the least recently used`, () => {
    const limiter = new RateLimiter({ burst: 1, perMinute: 1 }, () => 0);
    for (let i = 0; i <= MAX_TRACKED_KEYS; i++) limiter.take(`k${i}`);
    // k0 was forgotten (a fresh bucket); the newest is still empty.
    expect(limiter.take('k0')).toBe(0);
    expect(limiter.take(`k${MAX_TRACKED_KEYS}`)).toBeGreaterThan(0);
  });

  it('rounds a wait up to whole seconds, at least 1, for Retry-After', () => {
    expect([retryAfterSeconds(1), retryAfterSeconds(1000), retryAfterSeconds(1001)]).toEqual([1, 1, 2]);
  });
});

describe('SharedRateLimiter, two brokers on one PostgreSQL database', () => {
  const open: Database[] = [];
  afterEach(() => {
    for (const db of open.splice(0).reverse()) db.close();
  });

  it('holds one limit per person whichever broker each call reaches', () => {
    const schema = openPostgresSchema();
    let now = 0;
    const limit = { burst: 3, perMinute: 6 };
    const [a, b] = [schema.connect(), schema.connect()].map((db) => {
      open.push(db);
      return new SharedRateLimiter(new RateBucketStore(db), 'request_creation', limit, () => now);
    });
    if (!a || !b) throw new Error('two limiters');
    // Three calls at once in all, not three per broker.
    expect([a.take('alice'), b.take('alice'), a.take('alice')]).toEqual([0, 0, 0]);
    expect([b.take('alice'), a.take('alice')]).toEqual([10_000, 10_000]);
    // Another person, or another limit's scope, has a bucket of their own.
    expect(b.take('bob')).toBe(0);
    expect(new SharedRateLimiter(new RateBucketStore(open[0] as Database), 'other', limit, () => now).take('alice')).toBe(0);
    // The refill (one every 10 s) is shared too: one call, on either broker.
    now = 10_000;
    expect([b.take('alice'), a.take('alice')]).toEqual([0, 10_000]);
  });
});

describe('OpenCounter', () => {
  it('counts what is open per key; each close counts once', () => {
    const counter = new OpenCounter();
    const closeA = counter.open('u');
    counter.open('u');
    expect(counter.count('u')).toBe(2);
    closeA();
    closeA();
    expect(counter.count('u')).toBe(1);
    expect(counter.count('other')).toBe(0);
  });
});
