// Opens the store a StoreSetting names (store-setting.ts): the SQLite file in the data directory, or
// the PostgreSQL database several brokers share. Either way the schema is brought up to date (or
// checked, or left) as asked, and a PostgreSQL database that cannot be used is refused at once with
// one line naming it (password hidden) and what to check, instead of failing the first request.

import { AccessError } from '../../shared/errors.js';
import { openDatabase, prepareSchema, type Database, type SchemaAction } from './database.js';
import { PostgresDatabase } from './postgres/postgres-database.js';
import { PostgresError } from './postgres/sync-connection.js';
import type { StoreSetting } from './store-setting.js';

export interface OpenStoreOptions {
  /** Default 'migrate'. */
  schema?: SchemaAction;
  /** Shows in PostgreSQL's pg_stat_activity. Default "access-broker". */
  applicationName?: string;
}

export function openStore(setting: StoreSetting, options: OpenStoreOptions = {}): Database {
  const schema = options.schema ?? 'migrate';
  if (setting.kind === 'sqlite') return openDatabase(setting.file, { schema });
  const db = new PostgresDatabase({ url: setting.url, ...(options.applicationName ? { applicationName: options.applicationName } : {}) });
  try {
    // The connection is made on first use: this is where an unreachable server or a refused sign-in shows.
    db.prepare('SELECT 1').get();
    prepareSchema(db, schema);
    return db;
  } catch (error) {
    closeQuietly(db);
    throw startupError(error, db.name, setting.from);
  }
}

/** What PostgreSQL said at connect time, as what the operator has to check (SQLSTATE classes). */
function startupError(error: unknown, name: string, from: string): unknown {
  if (!(error instanceof PostgresError)) return error;
  const said = `PostgreSQL says: ${error.message}`;
  if (error.code.startsWith('28')) {
    return new AccessError(
      'store_unavailable',
      `the PostgreSQL store ${name} refused the broker's sign-in (${said}); check the user and password in ${from}, and pg_hba.conf on the server`,
      { cause: error },
    );
  }
  if (error.code === '3D000') {
    return new AccessError('store_unavailable', `the PostgreSQL store ${name} does not exist (${said}); create the database, or correct ${from}`, {
      cause: error,
    });
  }
  if (error.code === '42501') {
    return new AccessError(
      'store_unavailable',
      `the PostgreSQL store ${name} refused a schema change (${said}); let the user in ${from} create tables in its schema, or run \`access-broker migrate\` as a user who may`,
      { cause: error },
    );
  }
  return new AccessError('store_unavailable', `the PostgreSQL store ${name} cannot be used (${said}); check ${from}`, { cause: error });
}

function closeQuietly(db: Database): void {
  try {
    db.close();
  } catch {
    // The failure being reported is the one that matters.
  }
}
