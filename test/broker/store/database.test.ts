import { statSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BUSY_TIMEOUT_MS, openDatabase, type SqliteDatabase } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { AccessError } from '../../../shared/errors.js';
import { tempDir } from '../../helpers/processes.js';
import { T0, approval, approvedRequest, pendingRequest } from './sample-requests.js';

let dir: string;
let file: string;
const open: SqliteDatabase[] = [];

function track(db: SqliteDatabase): SqliteDatabase {
  open.push(db);
  return db;
}

beforeEach(async () => {
  dir = await tempDir('store');
  file = path.join(dir, 'broker.db');
});

afterEach(async () => {
  for (const db of open.splice(0)) db.close();
  await rm(dir, { recursive: true, force: true });
});

describe('openDatabase', () => {
  it('puts a file database in WAL mode with the connection settings the broker relies on', () => {
    const db = track(openDatabase(file));
    expect(db.sqlite.pragma('journal_mode', { simple: true })).toBe('wal');
    // 1 = NORMAL: durable across a process crash (see CONNECTION_PRAGMAS).
    expect(db.sqlite.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.sqlite.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.sqlite.pragma('busy_timeout', { simple: true })).toBe(BUSY_TIMEOUT_MS);
  });

  it('creates the database file readable by its owner only', () => {
    track(openDatabase(file));
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('returns the same data after close and reopen', () => {
    const first = track(openDatabase(file));
    const request = approvedRequest(pendingRequest(), T0 + 1, [approval('oid-bob', T0 + 1), approval('oid-carol', T0 + 1)]);
    new SqlRequestStore(first).insert(request);
    first.close();

    const second = track(openDatabase(file));
    expect(new SqlRequestStore(second).get(request.id)).toEqual(request);
  });

  it('refuses a path whose directory does not exist, naming the path', () => {
    const missing = path.join(dir, 'no-such-dir', 'broker.db');
    expect(() => openDatabase(missing)).toThrow(AccessError);
    expect(() => openDatabase(missing)).toThrow(expect.objectContaining({ code: 'store_unavailable', message: expect.stringContaining(missing) }));
  });

  it('enforces foreign keys: a review needs its request', () => {
    const db = track(openDatabase(':memory:'));
    const orphan = db.prepare("INSERT INTO reviews (request_id, position, reviewer_oid, decision, at) VALUES ('req-none', 0, 'oid-bob', 'approve', 1)");
    expect(() => orphan.run()).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' }));
  });
});

describe('immediateTransaction', () => {
  it('holds the write lock from its first line, so another connection cannot write in between', () => {
    const db = track(openDatabase(file));
    // timeout 0: fail at once instead of waiting for the lock.
    const other = new Sqlite(file, { timeout: 0 });
    try {
      db.transaction(() => {
        // Nothing written yet: a DEFERRED transaction would not hold any lock here.
        expect(() => other.exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (1000, 'intruder', 0)")).toThrow(
          expect.objectContaining({ code: 'SQLITE_BUSY' }),
        );
      });
    } finally {
      other.close();
    }
  });

  it('joins an enclosing transaction, so a later store on the same connection commits or rolls back with it', () => {
    const db = track(openDatabase(':memory:'));
    const store = new SqlRequestStore(db);
    db.exec('CREATE TABLE audit_stand_in (entry TEXT NOT NULL)');
    const append = db.prepare<[string]>('INSERT INTO audit_stand_in (entry) VALUES (?)');
    expect(() =>
      store.transaction(() => {
        store.insert(pendingRequest());
        db.transaction(() => append.run('created req-1'));
        throw new Error('fails after both writes');
      }),
    ).toThrow('fails after both writes');
    expect(store.get('req-1')).toBeNull();
    expect(db.prepare('SELECT count(*) AS n FROM audit_stand_in').get()).toEqual({ n: 0 });
  });
});
