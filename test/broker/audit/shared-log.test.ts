// One audit log written by several brokers on one PostgreSQL database (PostgreSQL only: SQLite has
// one broker per file). Each broker has its own connection and its own SqlAuditLog; the chain must
// stay one gapless sequence whoever appends, the database must refuse an entry chained to a stale
// head, and verify must read the same chain from either broker.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../../broker/audit/audit-log.js';
import { BatchedAppender } from '../../../broker/audit/batch-appender.js';
import { GENESIS_HASH, sealEntry } from '../../../broker/audit/entry.js';
import { verifyChain } from '../../../broker/audit/verify.js';
import type { Database } from '../../../broker/store/database.js';
import { constraintViolated } from '../../../broker/store/sql-errors.js';
import { type PostgresSchema, openPostgresSchema } from '../../helpers/store-databases.js';
import { recordingLog } from '../requests/harness.js';
import { T0, entry, rows } from './entries.js';

/** How long the broker that finds the write lock taken waits: short, as the lock is never released in time. */
const LOCK_WAIT_MS = 300;

let schema: PostgresSchema;
let first: Database;
let second: Database;

beforeEach(() => {
  schema = openPostgresSchema();
  first = schema.connect();
  second = schema.connect();
});

afterEach(() => {
  second.close();
  first.close();
});

describe('two brokers on one PostgreSQL audit log', () => {
  it('write a large batch in a few statements, each row chained to the one before, exactly as one at a time would', () => {
    const a = new SqlAuditLog(first);
    const b = new SqlAuditLog(second);
    b.append(entry(1, { subject: 'b' }));
    // More rows than one statement carries, with bodies that JSON must carry unchanged.
    const batch = Array.from({ length: 1_234 }, (_, n) => entry(n + 2, { subject: `a-${n}`, body: { sql: `select '${n}' -- "quoted" \\ ünïcode ✓` } }));
    const written = a.appendAll(batch);
    expect(written.map((row) => row.seq)).toEqual(batch.map((_, n) => n + 2));
    b.append(entry(1_236, { subject: 'b' }));
    const stored = rows(second);
    expect(stored).toHaveLength(1_236);
    expect(stored.slice(1, -1)).toEqual(written);
    expect(verifyChain(first)).toMatchObject({ ok: true, count: 1_236 });
  });

  it('keep one gapless chain when they append in turn, singly, in transactions and in batches', () => {
    const a = new SqlAuditLog(first);
    const b = new SqlAuditLog(second);
    expect(a.append(entry(1, { subject: 'a' })).seq).toBe(1);
    expect(b.append(entry(2, { subject: 'b' })).seq).toBe(2);
    expect(a.append(entry(3, { subject: 'a' })).seq).toBe(3);
    expect(b.appendAll([entry(4, { subject: 'b' }), entry(5, { subject: 'b' })]).map((r) => r.seq)).toEqual([4, 5]);
    const batch = new BatchedAppender({ log: a, logger: recordingLog(), now: () => T0, flushIntervalMs: 60_000 });
    batch.add(entry(6, { subject: 'a-batch' }));
    batch.add(entry(7, { subject: 'a-batch' }));
    b.append(entry(8, { subject: 'b' }));
    expect(batch.flush()).toBe(2);
    batch.close();

    const stored = rows(first);
    expect(stored.map((r) => [r.seq, r.subject])).toEqual([
      [1, 'a'],
      [2, 'b'],
      [3, 'a'],
      [4, 'b'],
      [5, 'b'],
      [6, 'b'],
      [7, 'a-batch'],
      [8, 'a-batch'],
    ]);
    const head = stored.at(-1);
    expect(verifyChain(first)).toEqual({ ok: true, count: 8, head: { seq: 8, hash: head?.hash } });
    expect(verifyChain(second)).toEqual(verifyChain(first));
    expect(a.storedHead()).toEqual(b.storedHead());
  });

  it('refuses an entry one broker chained to the head before the other appended', () => {
    const a = new SqlAuditLog(first);
    const b = new SqlAuditLog(second);
    a.append(entry(1));
    const staleHead = b.storedHead();
    a.append(entry(2));
    const insert = second.prepare(
      'INSERT INTO audit_log (seq, at, type, actor_oid, actor_upn, subject, resource, body, prev_hash, hash) VALUES (@seq, @at, @type, @actor_oid, @actor_upn, @subject, @resource, @body, @prev_hash, @hash)',
    );
    let refused: unknown = null;
    try {
      // The seq after the stale head is taken; the seq after the real head does not chain to it.
      insert.run(sealEntry(entry(3), staleHead.seq + 2, staleHead.hash));
    } catch (error) {
      refused = error;
    }
    expect(constraintViolated(refused)).toBe('trigger');
    expect(() => insert.run(sealEntry(entry(3), 1, GENESIS_HASH))).toThrow();
    expect(verifyChain(second)).toMatchObject({ ok: true, count: 2 });
  });

  it("holds one broker's append until the other broker's transaction ends, then chains after it", () => {
    const impatient = schema.connect({ timeoutMs: LOCK_WAIT_MS });
    try {
      const a = new SqlAuditLog(first);
      first.transaction(() => {
        a.append(entry(1, { subject: 'a' }));
        // The other broker waits for the write lock this transaction holds, and gives up first.
        expect(() => new SqlAuditLog(impatient).append(entry(2, { subject: 'impatient' }))).toThrow(/lock timeout|statement timeout|did not answer/);
        a.append(entry(3, { subject: 'a' }));
      });
    } finally {
      impatient.close();
    }
    expect(new SqlAuditLog(second).append(entry(4, { subject: 'b' })).seq).toBe(3);
    expect(rows(second).map((r) => r.subject)).toEqual(['a', 'a', 'b']);
    expect(verifyChain(second)).toMatchObject({ ok: true, count: 3 });
  });
});
