// The databases the store tests run on: every store test file runs its cases once per kind, so
// SQLite and PostgreSQL are held to the same behaviour. A SQLite database is private and in memory;
// a PostgreSQL one is a fresh schema in database `test` on the machine's server (127.0.0.1:5432,
// user postgres, trust), migrated as the broker migrates, and dropped when the database is closed.
// PostgreSQL not running is a failure, not a skip: CI has it, and a skipped half proves nothing.
//
// Starting a PostgreSQL connection is the slow part (a worker thread that loads node-postgres), so
// a closed test database keeps its connection for the next test, which gets a new schema of the
// same name: the connection's search path names it, so even a reconnect lands in the right schema.
// Its statements stay prepared across tests, so a test that changes a column's type takes a
// connection of its own (openPostgresSchema).

import { randomBytes } from 'node:crypto';
import { openDatabase, type Database } from '../../broker/store/database.js';
import { applyMigrations } from '../../broker/store/migrations.js';
import { PostgresDatabase } from '../../broker/store/postgres/postgres-database.js';
import type { ChannelOptions, ChannelSubscription, SqlDialect, SqlStatement } from '../../broker/store/sql-database.js';
import { administer, NO_COMMIT_FLUSH, pgSchemaUrl } from './pg-schema.js';

export const STORE_KINDS: readonly SqlDialect[] = ['sqlite', 'postgres'];

/** A migrated, empty database of `kind`. Closing it also drops its PostgreSQL schema. */
export function openStoreDatabase(kind: SqlDialect): Database {
  return kind === 'sqlite' ? openDatabase(':memory:') : borrowPostgresDatabase();
}

/** A connection kept between tests, always on the schema of its own name. */
interface Slot {
  readonly name: string;
  readonly db: PostgresDatabase;
}

const idleSlots: Slot[] = [];

function borrowPostgresDatabase(): Database {
  const slot = idleSlots.pop() ?? newSlot();
  administer(`CREATE SCHEMA ${slot.name}`);
  const release = (): void => {
    administer(`DROP SCHEMA ${slot.name} CASCADE`);
    idleSlots.push(slot);
  };
  try {
    applyMigrations(slot.db);
  } catch (error) {
    release();
    throw error;
  }
  return new TestDatabase(slot.db, release);
}

function newSlot(): Slot {
  const name = newSchemaName();
  return { name, db: new PostgresDatabase({ url: schemaUrl(name), applicationName: `access-test ${name}` }) };
}

/** A connection as one test sees it: its close() is `onClose` (give a slot back, or close and clean up), run once. */
class TestDatabase implements Database {
  readonly dialect = 'postgres';
  readonly shared = true;
  readonly #db: PostgresDatabase;
  #onClose: (() => void) | null;

  constructor(db: PostgresDatabase, onClose: () => void) {
    this.#db = db;
    this.#onClose = onClose;
  }

  get name(): string {
    return this.#db.name;
  }

  get inTransaction(): boolean {
    return this.#db.inTransaction;
  }

  prepare<Params extends unknown[] | object = unknown[], Row = unknown>(sql: string): SqlStatement<Params, Row> {
    return this.#db.prepare<Params, Row>(sql);
  }

  exec(sql: string): void {
    this.#db.exec(sql);
  }

  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn);
  }

  listen(options: ChannelOptions): ChannelSubscription {
    return this.#db.listen(options);
  }

  close(): void {
    const onClose = this.#onClose;
    this.#onClose = null;
    onClose?.();
  }
}

/** A fresh PostgreSQL schema; each connect() is another broker's connection to it. */
export interface PostgresSchema {
  /** The schema's name (connections show as `access-test <name>` in pg_stat_activity). */
  readonly name: string;
  /** A migrated connection to the schema. Closing the last one open drops the schema. */
  connect(options?: { timeoutMs?: number }): Database;
}

/** A fresh, migrated schema in database `test` for several connections (several brokers). */
export function openPostgresSchema(): PostgresSchema {
  const name = newSchemaName();
  administer(`CREATE SCHEMA ${name}`);
  let migrated = false;
  let open = 0;
  return {
    name,
    connect(options = {}): Database {
      const db = new PostgresDatabase({ url: schemaUrl(name), applicationName: `access-test ${name}`, ...options });
      open += 1;
      const connection = new TestDatabase(db, () => {
        db.close();
        open -= 1;
        if (open === 0) administer(`DROP SCHEMA ${name} CASCADE`);
      });
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

/** A name no other test uses. */
function newSchemaName(): string {
  return `store_test_${randomBytes(6).toString('hex')}`;
}

/** Database `test` with `schema` as the search path of every connection made to it. */
function schemaUrl(schema: string): string {
  return pgSchemaUrl(schema, undefined, NO_COMMIT_FLUSH);
}
