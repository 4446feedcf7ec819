// Opens the broker's SQLite database (better-sqlite3) with the settings every connection needs and
// the schema brought up to date. One connection serves the whole broker: better-sqlite3 is
// synchronous, so statements never interleave and a transaction is one uninterrupted call.

import { closeSync, openSync } from 'node:fs';
import Sqlite from 'better-sqlite3';
import { AccessError } from '../../shared/errors.js';
import { applyMigrations } from './migrations.js';

export type Database = Sqlite.Database;

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

/** Opens (creating if needed) the database at `file`, or a private in-memory one, ready to use. */
export function openDatabase(file: string | ':memory:'): Database {
  const db = connect(file);
  try {
    for (const pragma of CONNECTION_PRAGMAS) db.pragma(pragma);
    assertWal(db);
    applyMigrations(db);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/**
 * Runs `fn` in one IMMEDIATE transaction on `db`: everything written inside commits together or
 * not at all. IMMEDIATE takes the write lock up front, so a read-then-write inside `fn` cannot be
 * invalidated by another connection between the read and the write. Called inside another
 * transaction it becomes a savepoint of the outer one. Every store on the same connection (requests,
 * sessions, the audit log) writes through here, so one `transaction` call spans all of them.
 */
export function immediateTransaction<T>(db: Database, fn: () => T): T {
  return db
    .transaction(() => {
      const result = fn();
      // better-sqlite3 commits when fn returns; an async fn would commit before its awaits run.
      // Throwing here rolls back whatever the synchronous part wrote.
      if (isPromiseLike(result)) throw new TypeError('a store transaction must be synchronous; do the awaiting before or after it');
      return result;
    })
    .immediate();
}

function connect(file: string): Database {
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
function assertWal(db: Database): void {
  if (db.memory) return;
  const mode = db.pragma('journal_mode', { simple: true });
  if (mode === 'wal') return;
  throw new AccessError('store_unavailable', `the database "${db.name}" stays in journal mode "${String(mode)}" instead of WAL; put it on a local filesystem`);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
