// The batched appender: entries are chained at flush time in the order they were added, after any
// single appends that committed in between, so interleaving never breaks the chain.

import { afterEach, describe, expect, it, vi } from 'vitest';
import { SqlAuditLog } from '../../../broker/audit/audit-log.js';
import { BatchedAppender, MAX_GROUP_COMMIT_TURNS } from '../../../broker/audit/batch-appender.js';
import { verifyChain } from '../../../broker/audit/verify.js';
import type { Database } from '../../../broker/store/database.js';
import type { SqlDialect } from '../../../broker/store/sql-database.js';
import { STORE_KINDS, openStoreDatabase } from '../../helpers/store-databases.js';
import { recordingLog } from '../requests/harness.js';
import { T0, entry, rows } from './entries.js';

/** A trigger that makes every audit insert fail as a full disk would, and how to remove it. */
const REFUSE_WRITES: Record<SqlDialect, { create: string; drop: string }> = {
  sqlite: {
    create: "CREATE TEMP TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END",
    drop: 'DROP TRIGGER temp.refuse',
  },
  postgres: {
    create: `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse()`,
    drop: 'DROP TRIGGER refuse ON audit_log; DROP FUNCTION refuse()',
  },
};

const open: Database[] = [];
function setup(kind: SqlDialect, options: { maxBatch?: number; maxPending?: number; flushIntervalMs?: number } = {}) {
  const db = openStoreDatabase(kind);
  open.push(db);
  const log = new SqlAuditLog(db);
  const logger = recordingLog();
  // A long interval: flushes happen when the test says so (or at maxBatch).
  const batch = new BatchedAppender({ log, logger, now: () => T0, flushIntervalMs: 60_000, ...options });
  return { db, log, batch, logger };
}

/** Resolves after the event loop's current turn (and the immediates queued before this call). */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

afterEach(() => {
  vi.useRealTimers();
  for (const db of open.splice(0)) db.close();
});

describe.each(STORE_KINDS)('BatchedAppender on %s', (kind) => {
  it('keeps the chain exact when batched and single appends interleave', () => {
    const { db, log, batch } = setup(kind);
    batch.add(entry(1, { subject: 'batched' }));
    batch.add(entry(2, { subject: 'batched' }));
    log.append(entry(3, { subject: 'single' }));
    batch.add(entry(4, { subject: 'batched' }));
    expect(batch.flush()).toBe(3);
    log.append(entry(5, { subject: 'single' }));
    batch.add(entry(6, { subject: 'batched' }));
    batch.close();

    const stored = rows(db);
    expect(stored.map((r) => r.seq)).toEqual([1, 2, 3, 4, 5, 6]);
    // seq is the order of record: the single append committed before the first flush.
    expect(stored.map((r) => r.at - T0)).toEqual([3, 1, 2, 4, 5, 6]);
    expect(verifyChain(db)).toMatchObject({ ok: true, count: 6 });
  });

  it('writes nothing until a flush, then the whole batch in one transaction', () => {
    const { db, batch } = setup(kind);
    for (let n = 1; n <= 5; n++) batch.add(entry(n));
    expect(rows(db)).toHaveLength(0);
    expect(batch.pending).toBe(5);
    batch.flush();
    expect(rows(db)).toHaveLength(5);
    expect(batch.pending).toBe(0);
  });

  it('flushes on its own once maxBatch entries wait', async () => {
    const { db, batch } = setup(kind, { maxBatch: 3 });
    for (let n = 1; n <= 3; n++) batch.add(entry(n));
    expect(rows(db)).toHaveLength(0);
    await nextTurn();
    expect(rows(db)).toHaveLength(3);
  });

  it('commits what several callers added in one turn in one transaction once a turn adds nothing (flushSoon)', async () => {
    const { db, log, batch } = setup(kind);
    // appendAll is one transaction (audit-log.ts).
    const appendAll = vi.spyOn(log, 'appendAll');
    batch.add(entry(1, { subject: 'ses-a' }));
    batch.flushSoon();
    batch.add(entry(2, { subject: 'ses-b' }));
    batch.flushSoon();
    expect(rows(db)).toHaveLength(0);
    // The turn that added them, then one that adds nothing.
    await nextTurn();
    await nextTurn();
    expect(rows(db).map((r) => r.subject)).toEqual(['ses-a', 'ses-b']);
    expect(batch.pending).toBe(0);
    expect(appendAll).toHaveBeenCalledTimes(1);
    expect(verifyChain(db)).toMatchObject({ ok: true, count: 2 });
  });

  it('lets entries of the next turns join a commit it was asked for, so they share one transaction', async () => {
    const { db, log, batch } = setup(kind);
    const appendAll = vi.spyOn(log, 'appendAll');
    batch.add(entry(1, { subject: 'ses-a' }));
    batch.flushSoon();
    await nextTurn();
    // Another session's statement, read in the next turn.
    batch.add(entry(2, { subject: 'ses-b' }));
    batch.flushSoon();
    for (let turn = 0; turn < 3; turn++) await nextTurn();
    expect(rows(db).map((r) => r.subject)).toEqual(['ses-a', 'ses-b']);
    expect(appendAll).toHaveBeenCalledTimes(1);
  });

  it('commits after MAX_GROUP_COMMIT_TURNS turns even while entries keep arriving', async () => {
    const { db, batch } = setup(kind);
    for (let turn = 1; turn <= MAX_GROUP_COMMIT_TURNS + 2; turn++) {
      batch.add(entry(turn));
      batch.flushSoon();
      await nextTurn();
    }
    expect(rows(db).length).toBeGreaterThanOrEqual(MAX_GROUP_COMMIT_TURNS);
  });

  it('flushes on its own after the flush interval', () => {
    vi.useFakeTimers();
    const { db, batch } = setup(kind, { flushIntervalMs: 10 });
    batch.add(entry(1));
    vi.advanceTimersByTime(10);
    expect(rows(db)).toHaveLength(1);
  });

  it('keeps a batch the database refused and writes it at the next flush', () => {
    const { db, batch, logger } = setup(kind);
    batch.add(entry(1));
    db.exec(REFUSE_WRITES[kind].create);
    expect(batch.flush()).toBe(0);
    expect(logger.lines.at(-1)).toMatchObject({ level: 'error', fields: { entries: 1, error: 'disk full' } });
    db.exec(REFUSE_WRITES[kind].drop);
    expect(batch.flush()).toBe(1);
    expect(verifyChain(db)).toMatchObject({ ok: true, count: 1 });
  });

  it('bounds what it keeps while writes fail, and records how many entries were lost once they work again', () => {
    const { db, batch } = setup(kind, { maxPending: 2 });
    db.exec(REFUSE_WRITES[kind].create);
    for (let n = 1; n <= 5; n++) batch.add(entry(n));
    expect(batch.pending).toBe(2);
    db.exec(REFUSE_WRITES[kind].drop);
    batch.flush();
    const stored = rows(db);
    expect(stored.map((r) => r.type)).toEqual(['audit.dropped', 'pg.query', 'pg.query']);
    expect(JSON.parse(stored[0]?.body ?? '{}')).toEqual({
      count: 3,
      firstAt: new Date(T0 + 1).toISOString(),
      lastAt: new Date(T0 + 3).toISOString(),
    });
    expect(stored.slice(1).map((r) => r.at - T0)).toEqual([4, 5]);
  });

  it('writes what is buffered on close and refuses (logs) entries after it', () => {
    const { db, batch, logger } = setup(kind);
    batch.add(entry(1));
    batch.close();
    batch.add(entry(2));
    expect(rows(db)).toHaveLength(1);
    expect(logger.lines.at(-1)?.message).toMatch(/after the audit log closed/);
  });
});
