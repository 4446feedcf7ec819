// PostgreSQL schemas for tests, in database `test` of the machine's PostgreSQL (127.0.0.1:5432,
// user postgres, trust): a store URL selects one with search_path, so tests never see each
// other's tables. One admin connection creates and drops them for the whole run.

import { randomBytes } from 'node:crypto';
import { PostgresDatabase } from '../../broker/store/postgres/postgres-database.js';
import { AccessError } from '../../shared/errors.js';

export const TEST_PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;

/** The test server as a store URL (no schema chosen). */
export const TEST_POSTGRES_URL = `postgres://${TEST_PG.user}@${TEST_PG.host}:${TEST_PG.port}/${TEST_PG.database}`;

/** Test data need not survive a crash of the server: a commit does not wait for its WAL flush. */
export const NO_COMMIT_FLUSH = '-c synchronous_commit=off';

export interface PgTestSchema {
  name: string;
  /** The store URL for this schema (on `port`, default the server's own). */
  url(port?: number): string;
  drop(): Promise<void>;
}

/** The store URL of `schema` on the test server, reached on `port`; `settings` are more `-c name=value` options. */
export function pgSchemaUrl(schema: string, port: number = TEST_PG.port, settings = ''): string {
  const options = `-c search_path=${schema}${settings ? ` ${settings}` : ''}`;
  return `postgres://${TEST_PG.user}@${TEST_PG.host}:${port}/${TEST_PG.database}?options=${encodeURIComponent(options)}`;
}

/** An empty schema of its own, named `<prefix>_<random>`, for a broker process to migrate. */
export async function createPgSchema(prefix: string): Promise<PgTestSchema> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  administer(`CREATE SCHEMA ${name}`);
  return { name, url: (port) => pgSchemaUrl(name, port), drop: async () => administer(`DROP SCHEMA IF EXISTS ${name} CASCADE`) };
}

let admin: PostgresDatabase | null = null;

/** Runs `sql` on the admin connection (its worker does not keep the process alive). */
export function administer(sql: string): void {
  admin ??= new PostgresDatabase({ url: `${TEST_POSTGRES_URL}?options=${encodeURIComponent(NO_COMMIT_FLUSH)}`, applicationName: 'access-test admin' });
  try {
    admin.exec(sql);
  } catch (error) {
    if (!(error instanceof AccessError && error.code === 'store_unavailable')) throw error;
    throw new Error(`the store tests need PostgreSQL at ${TEST_POSTGRES_URL} (user postgres, trust auth; CI runs one): ${error.message}`, { cause: error });
  }
}
