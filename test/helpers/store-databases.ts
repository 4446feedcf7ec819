// The databases the store tests run on: every store test file runs its cases once per kind, so
// SQLite and PostgreSQL are held to the same behaviour. A SQLite database is private and in memory;
// a PostgreSQL one is a fresh schema in database `test` on the machine's server (127.0.0.1:5432,
// user postgres, trust), migrated as the broker migrates, and dropped when the database is closed.
// PostgreSQL not running is a failure, not a skip: CI has it, and a skipped half proves nothing.

import { randomBytes } from 'node:crypto';
import { openDatabase, type Database } from '../../broker/store/database.js';
import { applyMigrations } from '../../broker/store/migrations.js';
import { PostgresDatabase } from '../../broker/store/postgres/postgres-database.js';
import type { SqlDialect } from '../../broker/store/sql-database.js';
import { AccessError } from '../../shared/errors.js';

export const STORE_KINDS: readonly SqlDialect[] = ['sqlite', 'postgres'];

/** The server the PostgreSQL variants use: the machine's (CI's) PostgreSQL, database `test`. */
export const TEST_POSTGRES_URL = 'postgres://postgres@127.0.0.1:5432/test';

/** A migrated, empty database of `kind`. Closing it also drops its PostgreSQL schema. */
export function openStoreDatabase(kind: SqlDialect): Database {
  return kind === 'sqlite' ? openDatabase(':memory:') : openPostgresSchema().connect();
}

/** A fresh PostgreSQL schema; each connect() is another broker's connection to it. */
export interface PostgresSchema {
  readonly name: string;
  /** Its URL: database `test`, with the schema as the search path. */
  readonly url: string;
  /** A migrated connection to the schema. Closing the last one open drops the schema. */
  connect(options?: { timeoutMs?: number }): Database;
}

/** A fresh, migrated schema in database `test`, with a name no other test uses. */
export function openPostgresSchema(): PostgresSchema {
  const name = `store_test_${randomBytes(6).toString('hex')}`;
  const url = `${TEST_POSTGRES_URL}?options=${encodeURIComponent(`-c search_path=${name}`)}`;
  administer(`CREATE SCHEMA ${name}`);
  let migrated = false;
  let open = 0;
  const closed = (): void => {
    open -= 1;
    if (open === 0) administer(`DROP SCHEMA ${name} CASCADE`);
  };
  return {
    name,
    url,
    connect(options = {}): Database {
      const db = new PostgresDatabase({ url, applicationName: `access-test ${name}`, ...options });
      open += 1;
      const connection = closesWith(db, closed);
      try {
        if (!migrated) applyMigrations(connection);
        migrated = true;
      } catch (error) {
        connection.close();
        throw error;
      }
      return connection;
    },
  };
}

/** `db`, whose close() then calls `after`. */
function closesWith(db: PostgresDatabase, after: () => void): Database {
  const close = db.close.bind(db);
  return Object.assign(db, {
    close(): void {
      close();
      after();
    },
  });
}

/** Creating and dropping schemas: one connection for the whole run (its worker does not keep the process alive). */
let admin: PostgresDatabase | null = null;

function administer(sql: string): void {
  admin ??= new PostgresDatabase({ url: TEST_POSTGRES_URL, applicationName: 'access-test admin' });
  try {
    admin.exec(sql);
  } catch (error) {
    if (!(error instanceof AccessError && error.code === 'store_unavailable')) throw error;
    throw new Error(`the store tests need PostgreSQL at ${TEST_POSTGRES_URL} (user postgres, trust auth; CI runs one): ${error.message}`, { cause: error });
  }
}
