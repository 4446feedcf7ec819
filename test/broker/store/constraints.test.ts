// What the schema refuses, read the same way on both databases: constraintViolated (sql-errors.ts)
// names the kind of constraint whichever database refused the write, so a store's mapping of a
// refusal to an AccessError (a taken id, a second review by one person) holds on both.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../../broker/audit/audit-log.js';
import type { Database } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { type ConstraintKind, constraintViolated } from '../../../broker/store/sql-errors.js';
import { STORE_KINDS, openStoreDatabase } from '../../helpers/store-databases.js';
import { entry } from '../audit/entries.js';
import { T0, approval, pendingRequest } from './sample-requests.js';

const REVIEW = 'INSERT INTO reviews (request_id, position, reviewer_oid, decision, at) VALUES (?, ?, ?, ?, ?)';

const REFUSALS: { refused: string; sql: string; params: unknown[]; violation: ConstraintKind }[] = [
  { refused: 'a second review at a taken position', sql: REVIEW, params: ['req-1', 0, 'oid-carol', 'approve', T0], violation: 'primary_key' },
  { refused: 'a second review by the same reviewer', sql: REVIEW, params: ['req-1', 1, 'oid-bob', 'approve', T0], violation: 'unique' },
  { refused: 'a review of a request that does not exist', sql: REVIEW, params: ['req-404', 0, 'oid-bob', 'approve', T0], violation: 'foreign_key' },
  { refused: 'a decision that is not one', sql: REVIEW, params: ['req-1', 1, 'oid-carol', 'maybe', T0], violation: 'check' },
  { refused: 'a duration of zero', sql: 'UPDATE requests SET duration_ms = 0 WHERE id = ?', params: ['req-1'], violation: 'check' },
  { refused: 'an approved request without its grant times', sql: "UPDATE requests SET state = 'approved' WHERE id = ?", params: ['req-1'], violation: 'check' },
  { refused: 'a change to an audit entry', sql: "UPDATE audit_log SET actor_oid = 'mallory' WHERE seq = ?", params: [1], violation: 'trigger' },
  { refused: 'the deletion of an audit entry', sql: 'DELETE FROM audit_log WHERE seq = ?', params: [1], violation: 'trigger' },
];

describe.each(STORE_KINDS)('constraint refusals on %s', (kind) => {
  let db: Database;

  beforeEach(() => {
    db = openStoreDatabase(kind);
    new SqlRequestStore(db).insert({ ...pendingRequest(), reviews: [approval('oid-bob', T0)] });
    new SqlAuditLog(db).append(entry(1));
  });

  afterEach(() => {
    db.close();
  });

  it.each(REFUSALS)('reads $refused as a $violation violation', ({ sql, params, violation }) => {
    let refused: unknown = null;
    try {
      db.prepare(sql).run(...params);
    } catch (error) {
      refused = error;
    }
    expect(constraintViolated(refused)).toBe(violation);
  });

  it('reads an audit entry that does not extend the chain as a trigger refusal', () => {
    const insert = db.prepare(
      'INSERT INTO audit_log (seq, at, type, actor_oid, actor_upn, subject, resource, body, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    );
    let refused: unknown = null;
    try {
      insert.run(2, T0, 'pg.query', null, null, null, null, '{}', 'f'.repeat(64), 'e'.repeat(64));
    } catch (error) {
      refused = error;
    }
    expect(constraintViolated(refused)).toBe('trigger');
    expect(String(refused)).toMatch(/does not extend the chain head/);
  });

  it('reads a failure that is no constraint as none', () => {
    expect(constraintViolated(new Error('disk full'))).toBeNull();
  });
});
