// A PostgreSQL schema of its own for a test, in database `test` of the machine's PostgreSQL
// (127.0.0.1:5432, user postgres, trust): the store's URL selects it with search_path, so tests
// never see each other's tables. Dropped with everything in it afterwards.

import { randomBytes } from 'node:crypto';
import { connectPg } from './pg-client.js';

export const TEST_PG = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;

/** The test server as a store URL (no schema chosen). */
export const TEST_POSTGRES_URL = `postgres://${TEST_PG.user}@${TEST_PG.host}:${TEST_PG.port}/${TEST_PG.database}`;

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

export async function createPgSchema(prefix: string): Promise<PgTestSchema> {
  const name = `${prefix}_${randomBytes(4).toString('hex')}`;
  await run(`CREATE SCHEMA ${name}`);
  return { name, url: (port) => pgSchemaUrl(name, port), drop: () => run(`DROP SCHEMA IF EXISTS ${name} CASCADE`) };
}

async function run(sql: string): Promise<void> {
  const client = await connectPg({ ...TEST_PG, application_name: 'access-test-schema' });
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}
