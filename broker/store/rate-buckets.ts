// Per-caller token buckets in the database (`rate_buckets`, migration 8): a limit that must hold
// however many brokers a caller's calls reach (http/rate-limit.ts SharedRateLimiter) keeps its
// buckets here, read and written in one write transaction per call, so two brokers taking from one
// bucket at once take one token each, one after the other.

import type { Database } from './database.js';

/** A bucket as last written: its tokens at `at` (ms); it refills from there. */
export interface StoredBucket {
  tokens: number;
  at: number;
}

export class RateBucketStore {
  readonly #db: Database;
  readonly #statements;

  constructor(db: Database) {
    this.#db = db;
    this.#statements = {
      get: db.prepare<[string, string], StoredBucket>('SELECT tokens, at FROM rate_buckets WHERE scope = ? AND key = ?'),
      put: db.prepare<[string, string, number, number]>(
        'INSERT INTO rate_buckets (scope, key, tokens, at) VALUES (?, ?, ?, ?) ON CONFLICT (scope, key) DO UPDATE SET tokens = excluded.tokens, at = excluded.at',
      ),
    };
  }

  /**
   * Runs `update` on the bucket of `key` in `scope` (null when it has none yet) in one write
   * transaction, and stores the bucket it returns, if any.
   */
  update<T>(scope: string, key: string, update: (bucket: StoredBucket | null) => { bucket: StoredBucket | null; result: T }): T {
    return this.#db.transaction(() => {
      const { bucket, result } = update(this.#statements.get.get(scope, key) ?? null);
      if (bucket) this.#statements.put.run(scope, key, bucket.tokens, bucket.at);
      return result;
    });
  }
}
