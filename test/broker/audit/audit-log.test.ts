// The append path: gapless seq, each entry chained to the one before, inside the caller's
// transaction; the database itself refuses an entry that does not extend the head, and any UPDATE
// or DELETE.

import { afterEach, describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../../broker/audit/audit-log.js';
import { GENESIS_HASH, sealEntry } from '../../../broker/audit/entry.js';
import { verifyChain } from '../../../broker/audit/verify.js';
import type { Database } from '../../../broker/store/database.js';
import { STORE_KINDS, openStoreDatabase } from '../../helpers/store-databases.js';
import { entry, rows } from './entries.js';

const open: Database[] = [];

afterEach(() => {
  for (const db of open.splice(0)) db.close();
});

describe.each(STORE_KINDS)('SqlAuditLog.append on %s', (kind) => {
  function database(): Database {
    const db = openStoreDatabase(kind);
    open.push(db);
    return db;
  }

  it('numbers entries 1, 2, 3 … and chains each to the hash of the one before, from the genesis hash', () => {
    const db = database();
    const log = new SqlAuditLog(db);
    const appended = [1, 2, 3].map((n) => log.append(entry(n)));
    expect(appended.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(appended[0]?.prev_hash).toBe(GENESIS_HASH);
    expect(appended[1]?.prev_hash).toBe(appended[0]?.hash);
    expect(appended[2]?.prev_hash).toBe(appended[1]?.hash);
    expect(rows(db)).toEqual(appended);
    expect(verifyChain(db)).toEqual({ ok: true, count: 3, head: { seq: 3, hash: appended[2]?.hash } });
  });

  it('continues the stored chain when a new log object opens the same database', () => {
    const db = database();
    new SqlAuditLog(db).append(entry(1));
    const second = new SqlAuditLog(db).append(entry(2));
    expect(second.seq).toBe(2);
    expect(verifyChain(db).ok).toBe(true);
  });

  it("commits with the caller's transaction and vanishes with its rollback, and the next append still extends the stored chain", () => {
    const db = database();
    const log = new SqlAuditLog(db);
    log.append(entry(1));
    expect(() =>
      db.transaction(() => {
        log.append(entry(2));
        log.append(entry(3));
        throw new Error('the state change failed');
      }),
    ).toThrow('the state change failed');
    expect(rows(db).map((r) => r.seq)).toEqual([1]);
    // The log's cached head (3) is ahead of the table (1): the append notices and chains to 1.
    expect(log.append(entry(4)).seq).toBe(2);
    expect(verifyChain(db)).toMatchObject({ ok: true, count: 2 });
  });

  it('is refused by the database when a row does not extend the head (a gap, a wrong prev_hash, a reused seq)', () => {
    const db = database();
    const head = new SqlAuditLog(db).append(entry(1));
    const insert = db.prepare(
      'INSERT INTO audit_log (seq, at, type, actor_oid, actor_upn, subject, resource, body, prev_hash, hash) VALUES (@seq, @at, @type, @actor_oid, @actor_upn, @subject, @resource, @body, @prev_hash, @hash)',
    );
    expect(() => insert.run(sealEntry(entry(2), 3, head.hash))).toThrow(/does not extend the chain head/);
    expect(() => insert.run(sealEntry(entry(2), 2, GENESIS_HASH))).toThrow(/does not extend the chain head/);
    expect(() => insert.run(sealEntry(entry(2), 1, GENESIS_HASH))).toThrow();
    expect(rows(db)).toHaveLength(1);
  });

  it('cannot be updated or deleted through SQL', () => {
    const db = database();
    new SqlAuditLog(db).append(entry(1));
    expect(() => db.prepare("UPDATE audit_log SET actor_oid = 'mallory'").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_log').run()).toThrow(/append-only/);
    expect(rows(db)[0]?.actor_oid).toBe('alice');
  });

  it('tells listeners about appends after the transaction, once per burst', async () => {
    const db = database();
    const log = new SqlAuditLog(db);
    const seen: number[] = [];
    log.onAppend(() => seen.push(log.storedHead().seq));
    log.appendAll([entry(1), entry(2), entry(3)]);
    expect(seen).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual([3]);
  });
});
