import { rm } from 'node:fs/promises';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { RequestState } from '../../../broker/requests/types.js';
import { openDatabase, SqliteDatabase, type Database } from '../../../broker/store/database.js';
import { MIGRATIONS, SCHEMA_VERSION, applyMigrations, currentVersion } from '../../../broker/store/migrations.js';
import type { Migration } from '../../../broker/store/sql-database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { AccessError } from '../../../shared/errors.js';
import { tempDir } from '../../helpers/processes.js';
import { pendingRequest } from './sample-requests.js';

let dir: string;
let file: string;
const open: Database[] = [];

function track(db: Database): Database {
  open.push(db);
  return db;
}

function recorded(db: Database): unknown[] {
  return db.prepare('SELECT version, name, applied_at FROM schema_migrations ORDER BY version').all();
}

function tables(db: Database): string[] {
  return db
    .prepare<[], { name: string }>("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
    .all()
    .map((row) => row.name);
}

beforeEach(async () => {
  dir = await tempDir('migrations');
  file = path.join(dir, 'broker.db');
});

afterEach(async () => {
  for (const db of open.splice(0)) db.close();
  await rm(dir, { recursive: true, force: true });
});

describe('MIGRATIONS', () => {
  it('numbers its migrations 1, 2, 3 … in order', () => {
    expect(MIGRATIONS.map((m) => m.version)).toEqual(MIGRATIONS.map((_, i) => i + 1));
    expect(SCHEMA_VERSION).toBe(MIGRATIONS.length);
  });
});

describe('applyMigrations', () => {
  it('brings a new database to the newest version and records each migration', () => {
    const db = track(openDatabase(file));
    expect(currentVersion(db)).toBe(SCHEMA_VERSION);
    expect(recorded(db)).toHaveLength(SCHEMA_VERSION);
    expect(tables(db)).toEqual([
      'audit_log',
      'broker_instances',
      'extensions',
      'identity_keys',
      'notification_outbox',
      'rate_buckets',
      'request_changes',
      'requests',
      'reviews',
      'schema_migrations',
      'sessions',
    ]);
  });

  it('applies nothing twice: reopening and re-running change nothing', () => {
    const first = track(openDatabase(file));
    const before = recorded(first);
    applyMigrations(first);
    first.close();
    const second = track(openDatabase(file));
    expect(recorded(second)).toEqual(before);
  });

  it('applies only the migrations a database is missing', () => {
    const db = track(new SqliteDatabase(new Sqlite(':memory:')));
    applyMigrations(db);
    const next: Migration = { version: SCHEMA_VERSION + 1, name: 'add a note', sql: 'ALTER TABLE requests ADD COLUMN note TEXT' };
    applyMigrations(db, [...MIGRATIONS, next], () => 42);
    expect(currentVersion(db)).toBe(SCHEMA_VERSION + 1);
    expect(recorded(db).at(-1)).toEqual({ version: SCHEMA_VERSION + 1, name: 'add a note', applied_at: 42 });
  });

  it('rolls back every migration of the run when one fails', () => {
    const db = track(new SqliteDatabase(new Sqlite(':memory:')));
    const broken: Migration = { version: SCHEMA_VERSION + 1, name: 'broken', sql: 'CREATE TABLE half_done (a TEXT); SELECT * FROM no_such_table' };
    expect(() => applyMigrations(db, [...MIGRATIONS, broken])).toThrow(/no_such_table/);
    expect(tables(db)).toEqual([]);
  });

  it('refuses a database whose schema is newer than this code, naming both versions', () => {
    const db = track(openDatabase(file));
    const newer = SCHEMA_VERSION + 3;
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, 'from the future', 0)").run(newer);
    db.close();

    let refusal: unknown;
    try {
      track(openDatabase(file));
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(AccessError);
    const { code, message } = refusal as AccessError;
    expect(code).toBe('store_incompatible');
    expect(message).toContain(`schema version ${newer}`);
    expect(message).toContain(`versions up to ${SCHEMA_VERSION}`);
    expect(message).toContain(file);
  });

  it('refuses a migration list with a gap', () => {
    const db = track(new SqliteDatabase(new Sqlite(':memory:')));
    const gap: Migration = { version: SCHEMA_VERSION + 2, name: 'skips one', sql: 'SELECT 1' };
    expect(() => applyMigrations(db, [...MIGRATIONS, gap])).toThrow(/versions must be 1, 2, 3/);
  });
});

describe('schema', () => {
  it('refuses a state outside the state machine', () => {
    const store = new SqlRequestStore(track(openDatabase(':memory:')));
    expect(() => store.insert(pendingRequest({ state: 'paused' as RequestState }))).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_CHECK' }));
  });

  it('refuses an approved request without its grant times', () => {
    const store = new SqlRequestStore(track(openDatabase(':memory:')));
    expect(() => store.insert(pendingRequest({ state: 'approved' }))).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_CHECK' }));
  });

  it('refuses a closed request without its closing time', () => {
    const store = new SqlRequestStore(track(openDatabase(':memory:')));
    expect(() => store.insert(pendingRequest({ state: 'denied' }))).toThrow(expect.objectContaining({ code: 'SQLITE_CONSTRAINT_CHECK' }));
  });
});
