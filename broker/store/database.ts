// Opens the broker's SQLite database (better-sqlite3) with the settings every connection needs and
// the schema brought up to date. One connection serves the whole broker: better-sqlite3 is
// synchronous, so statements never interleave and a transaction is one uninterrupted call.
// SqliteDatabase is the SqlDatabase (sql-database.ts) the stores write through.

import { closeSync, openSync } from 'node:fs';
import Sqlite from 'better-sqlite3';
import { AccessError } from '../../shared/errors.js';
import { applyMigrations, assertSchemaCurrent } from './migrations.js';
import { assertSynchronous, type SqlDatabase, type SqlStatement } from './sql-database.js';

/** What the stores are given: SQLite here, or PostgreSQL (postgres/postgres-database.ts). */
export type Database = SqlDatabase;

/**
 * How long a statement waits for another connection's lock (a second process on the same file,
 * a backup, `sqlite3` in a shell) before failing with SQLITE_BUSY. Long enough to ride out a
 * checkpoint or a short write, short enough that a stuck peer surfaces as an error, not a hang.
 */
export const BUSY_TIMEOUT_MS = 5_000;

/**
 * Applied to every connection, in this order, before anything else. Plain data so a child process
 * in the tests can open the file exactly as the broker does.
 *
 * - busy_timeout first, so switching the journal mode waits for a peer instead of failing.
 * - journal_mode=WAL: readers never block the writer, and a commit is one append to the log.
 * - synchronous=NORMAL: in WAL mode a commit is complete once it is in the log file (handed to the
 *   OS); the log is fsynced at checkpoints, not at every commit. That survives the process being
 *   killed at any instant (kill -9, OOM, crash), which is the requirement: an acknowledged
 *   transition is never lost to a broker crash. It does not promise the last commits survive a
 *   power loss or kernel panic (the database stays consistent, it just rolls back to an earlier
 *   commit); FULL would, at the cost of an fsync per commit, which a busy audit log (every proxied
 *   query is an event) would pay on every write.
 * - foreign_keys=ON: SQLite leaves it off by default; reviews must belong to a request.
 */
export const CONNECTION_PRAGMAS: readonly string[] = [`busy_timeout = ${BUSY_TIMEOUT_MS}`, 'journal_mode = WAL', 'synchronous = NORMAL', 'foreign_keys = ON'];

/** The database file in a broker's data directory (`serve --data`, `dev --data`, `backup --data`). */
export const DATABASE_FILE_NAME = 'access.db';

/** Owner read/write only: requests carry reasons and tickets, and the audit log will live here too. */
const DATABASE_FILE_MODE = 0o600;

/**
 * What opening does to the schema: bring it up to date ('migrate', the default), refuse it unless
 * it is up to date ('check': `serve --no-migrate`), or leave it as it is ('leave': `access-broker migrate`,
 * which reports the version before migrating).
 */
export type SchemaAction = 'migrate' | 'check' | 'leave';

export interface OpenOptions {
  schema?: SchemaAction;
}

/** Opens (creating if needed) the database at `file`, or a private in-memory one, ready to use. */
export function openDatabase(file: string | ':memory:', options: OpenOptions = {}): SqliteDatabase {
  const sqlite = connect(file);
  try {
    for (const pragma of CONNECTION_PRAGMAS) sqlite.pragma(pragma);
    assertWal(sqlite);
    const db = new SqliteDatabase(sqlite);
    prepareSchema(db, options.schema ?? 'migrate');
    return db;
  } catch (error) {
    sqlite.close();
    throw error;
  }
}

/** Does `action` to the schema of a freshly opened database, SQLite or PostgreSQL. */
export function prepareSchema(db: SqlDatabase, action: SchemaAction): void {
  if (action === 'migrate') applyMigrations(db);
  else if (action === 'check') assertSchemaCurrent(db);
}

/** A better-sqlite3 connection as the stores' SqlDatabase. */
export class SqliteDatabase implements SqlDatabase {
  readonly dialect = 'sqlite';
  /** One process owns the file: what a store remembers between transactions stays true. */
  readonly shared = false;
  /** The better-sqlite3 connection itself, for what only SQLite has (pragmas, the online backup). */
  readonly sqlite: Sqlite.Database;
  /**
   * One IMMEDIATE transaction function for the connection, running whatever it is handed. Made once:
   * better-sqlite3's `transaction()` builds five wrapper functions each time it is called, which
   * was a sixth of the CPU of a one-statement commit (the audit log commits for every query a
   * Postgres client sends).
   */
  readonly #immediate: (fn: () => unknown) => unknown;

  constructor(sqlite: Sqlite.Database) {
    this.sqlite = sqlite;
    this.#immediate = sqlite.transaction((fn: () => unknown) => {
      const result = fn();
      assertSynchronous(result);
      return result;
    }).immediate;
  }

  get name(): string {
    return this.sqlite.name;
  }

  get inTransaction(): boolean {
    return this.sqlite.inTransaction;
  }

  prepare<Params extends unknown[] | object = unknown[], Row = unknown>(sql: string): SqlStatement<Params, Row> {
    return this.sqlite.prepare(sql) as unknown as SqlStatement<Params, Row>;
  }

  exec(sql: string): void {
    this.sqlite.exec(sql);
  }

  /**
   * One IMMEDIATE transaction: IMMEDIATE takes the write lock up front, so a read-then-write inside
   * `fn` cannot be invalidated by another connection between the read and the write. Every store on
   * the connection (requests, sessions, the audit log) writes through here, so one call spans them all.
   */
  transaction<T>(fn: () => T): T {
    return this.#immediate(fn) as T;
  }

  close(): void {
    this.sqlite.close();
  }
}

function connect(file: string): Sqlite.Database {
  try {
    if (file !== ':memory:') createPrivately(file);
    return new Sqlite(file);
  } catch (error) {
    throw new AccessError('store_unavailable', `cannot open the database "${file}": ${messageOf(error)}; check that its directory exists and is writable`, {
      cause: error,
    });
  }
}

/** SQLite gives the -wal and -shm files the main file's mode, so this covers all three. */
function createPrivately(file: string): void {
  closeSync(openSync(file, 'a', DATABASE_FILE_MODE));
}

/** Some filesystems (network mounts) cannot do WAL; SQLite then silently keeps the old mode. */
function assertWal(db: Sqlite.Database): void {
  if (db.memory) return;
  const mode = db.pragma('journal_mode', { simple: true });
  if (mode === 'wal') return;
  throw new AccessError('store_unavailable', `the database "${db.name}" stays in journal mode "${String(mode)}" instead of WAL; put it on a local filesystem`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
