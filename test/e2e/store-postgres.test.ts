// An operator pointing brokers at PostgreSQL, with the real `access-broker` processes: `migrate`
// (status, apply, repeat, three at once), the store found from --config, ACCESS_DATABASE_URL or
// --data, and a broker that cannot use its store refusing to start in one line, password hidden.

import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../broker/store/database.js';
import { migrationsFor } from '../../broker/store/migrations.js';
import { createPgSchema, pgSchemaUrl, type PgTestSchema } from '../helpers/pg-schema.js';
import { runBroker, tempDir } from '../helpers/processes.js';
import { TENANT_LINES } from '../helpers/tenant-config.js';

const KNOWN = migrationsFor('postgres').length;
const schemas: PgTestSchema[] = [];
let dir: string;

async function freshSchema(): Promise<PgTestSchema> {
  const schema = await createPgSchema('ops_e2e');
  schemas.push(schema);
  return schema;
}

beforeAll(async () => {
  dir = await tempDir('store-postgres');
});

afterAll(async () => {
  for (const schema of schemas) await schema.drop();
});

describe('access-broker migrate', () => {
  it('shows what is pending, applies it once, and has nothing to do the second time', async () => {
    const schema = await freshSchema();
    const env = { ACCESS_DATABASE_URL: schema.url() };
    const shown = schema.url();

    const status = await runBroker(['migrate', '--status'], env);
    expect(status).toMatchObject({ code: 0, stderr: '' });
    expect(status.stdout).toContain(`${shown}: schema version 0; this broker knows up to ${KNOWN}; pending:\n  1  `);

    const first = await runBroker(['migrate'], env);
    expect(first).toEqual({ code: 0, stdout: `${shown}: migrated schema from version 0 to ${KNOWN}\n`, stderr: '' });
    const again = await runBroker(['migrate'], env);
    expect(again).toEqual({ code: 0, stdout: `${shown}: schema version ${KNOWN}, the newest this broker knows: nothing to migrate\n`, stderr: '' });
    expect((await runBroker(['migrate', '--status'], env)).stdout).toBe(again.stdout);
  });

  it('migrates once when three run at the same moment (the store write lock)', async () => {
    const schema = await freshSchema();
    const env = { ACCESS_DATABASE_URL: schema.url() };
    const results = await Promise.all([1, 2, 3].map(() => runBroker(['migrate'], env)));
    expect(results.map((result) => result.code)).toEqual([0, 0, 0]);
    const outputs = results.map((result) => result.stdout).sort();
    expect(outputs.filter((out) => out.includes(`migrated schema from version 0 to ${KNOWN}`))).toHaveLength(1);
    expect(outputs.filter((out) => out.includes('nothing to migrate'))).toHaveLength(2);
  });

  it("reads the store from --config, where ACCESS_DATABASE_URL wins, without needing the rest of the file's secrets", async () => {
    const schema = await freshSchema();
    const config = path.join(dir, 'with-store.yaml');
    // serve would refuse this tenant (no Graph secret in the environment); migrate reads only `store`.
    await writeFile(config, `tenant: { id: not-checked-here }\nstore: ${schema.url()}\n`);
    const applied = await runBroker(['migrate', '--config', config]);
    expect(applied).toMatchObject({ code: 0, stdout: `${schema.url()}: migrated schema from version 0 to ${KNOWN}\n` });

    const other = await freshSchema();
    const overridden = await runBroker(['migrate', '--config', config], { ACCESS_DATABASE_URL: other.url() });
    expect(overridden.stdout).toBe(`${other.url()}: migrated schema from version 0 to ${KNOWN}\n`);
  });

  it('migrates a SQLite store in --data, and refuses a data directory without one', async () => {
    const data = path.join(dir, 'sqlite-data');
    await mkdir(data);
    openDatabase(path.join(data, 'access.db'), { schema: 'leave' }).close();
    const applied = await runBroker(['migrate', '--data', data]);
    expect(applied).toMatchObject({
      code: 0,
      stdout: `${path.join(data, 'access.db')}: migrated schema from version 0 to ${migrationsFor('sqlite').length}\n`,
    });

    const missing = await runBroker(['migrate', '--data', path.join(dir, 'nowhere')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain(`there is no broker database at ${path.join(dir, 'nowhere', 'access.db')}`);
  });
});

describe('a broker that cannot use its PostgreSQL store', () => {
  /** Exits non-zero with one line on stderr that names the store without its password. */
  async function refusedStart(args: string[], env: Record<string, string>): Promise<string> {
    const result = await runBroker(args, env);
    expect(result.code).toBe(1);
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(result.stderr).not.toContain('hunter2');
    return lines[0] as string;
  }

  it.each([
    [
      'nothing listens',
      'postgres://access:hunter2@127.0.0.1:1/test',
      'cannot reach its PostgreSQL database postgres://access:***@127.0.0.1:1/test: connect ECONNREFUSED',
    ],
    [
      'the database is missing',
      'postgres://postgres:hunter2@127.0.0.1:5432/access_missing',
      'postgres://postgres:***@127.0.0.1:5432/access_missing does not exist',
    ],
    [
      'the user is unknown',
      'postgres://access_nobody:hunter2@127.0.0.1:5432/test',
      'refused the broker\'s sign-in (PostgreSQL says: role "access_nobody" does not exist)',
    ],
    ['the URL is not PostgreSQL', 'mysql://access:hunter2@127.0.0.1/test', 'ACCESS_DATABASE_URL is a mysql:// URL'],
  ])('dev and migrate refuse in one line when %s', async (_, url, expected) => {
    expect(await refusedStart(['dev', '--port', '0', '--store', url], {})).toContain(expected.replace('ACCESS_DATABASE_URL', '--store'));
    expect(await refusedStart(['migrate'], { ACCESS_DATABASE_URL: url })).toContain(expected);
  });

  it('serve --no-migrate refuses a store behind the code, naming `access-broker migrate`, before asking Graph', async () => {
    const schema = await freshSchema();
    const config = path.join(dir, 'serve.yaml');
    const group = '5b0c3d2e-1f4a-4b6c-9d8e-7a6b5c4d3e2f';
    const resource = [
      'resources:',
      '  web:',
      '    kind: tcp',
      '    target: 127.0.0.1:8080',
      `    requesters: [${group}]`,
      `    approvers: [${group}]`,
      '    maxDuration: 4h',
    ];
    // The tenant is not real: the store is refused before Graph would be asked about the group.
    await writeFile(config, `${[...TENANT_LINES, ...resource, `store: ${schema.url()}`].join('\n')}\n`);
    const env = { ACCESS_GRAPH_CLIENT_SECRET: 'not-a-real-secret' };
    const refused = await refusedStart(['serve', '--config', config, '--port', '0', '--no-migrate'], env);
    expect(refused).toBe(
      `error: the database "${schema.url()}" has schema version 0, but this broker needs version ${KNOWN}; run \`access-broker migrate\` with the same config (or start the broker without --no-migrate)`,
    );
  });

  it('backup refuses a PostgreSQL store, pointing to pg_dump', async () => {
    const schema = await freshSchema();
    const backup = await runBroker(['backup', path.join(dir, 'pg.db')], { ACCESS_DATABASE_URL: pgSchemaUrl(schema.name) });
    expect(backup.code).toBe(2);
    expect(backup.stderr).toContain('back it up with pg_dump');
  });
});
