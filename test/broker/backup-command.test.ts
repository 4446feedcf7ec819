// `access-broker backup` on real database files: a checked copy of a broker's data directory
// while its connection is open, written privately and only under its final name once checked;
// refusals for an existing file, a missing database and a copy whose audit chain does not verify.

import { existsSync, statSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../broker/audit/audit-log.js';
import { verifyChain } from '../../broker/audit/verify.js';
import { runBackup } from '../../broker/backup-command.js';
import { DATABASE_FILE_NAME, openDatabase, type Database } from '../../broker/store/database.js';
import { storeSetting, type StoreSetting } from '../../broker/store/store-setting.js';
import { tempDir } from '../helpers/processes.js';
import { entry } from './audit/entries.js';

const ENTRIES = 25;

let dir: string;
let dataDir: string;
/** The broker's own connection, open during every backup as in a running broker. */
let live: Database;

beforeEach(async () => {
  dir = await tempDir('backup');
  dataDir = path.join(dir, 'data');
  await mkdir(dataDir);
  live = openDatabase(path.join(dataDir, DATABASE_FILE_NAME));
  new SqlAuditLog(live).appendAll(Array.from({ length: ENTRIES }, (_, n) => entry(n)));
});

/** The store `backup --data DIR` names. */
function sqliteIn(dataDir: string): StoreSetting {
  return storeSetting({ env: {}, dataDir });
}

afterEach(async () => {
  live.close();
  await rm(dir, { recursive: true, force: true });
});

describe('runBackup', () => {
  it("copies the live database, checks it and reports the audit chain's head, readable by the owner only", async () => {
    const file = path.join(dir, 'copy.db');
    const report = await runBackup({ store: sqliteIn(dataDir), file, force: false });
    const head = verifyChain(live);
    expect(head.ok).toBe(true);
    expect(report).toMatchObject({ file, auditEntries: ENTRIES, auditHead: head.ok ? head.head : null });
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const copy = new Sqlite(file, { readonly: true });
    try {
      expect(copy.prepare('SELECT count(*) AS n FROM audit_log').get()).toEqual({ n: ENTRIES });
    } finally {
      copy.close();
    }
    // Nothing of the temporary copy is left beside it.
    expect(await readdir(dir)).toEqual(expect.not.arrayContaining([expect.stringContaining('.partial-')]));
  });

  it('refuses to replace an existing file without force, and replaces it with force', async () => {
    const file = path.join(dir, 'copy.db');
    await writeFile(file, 'yesterday');
    await expect(runBackup({ store: sqliteIn(dataDir), file, force: false })).rejects.toMatchObject({
      code: 'usage',
      message: `${file} already exists — name another file, or pass --force to replace it`,
    });
    await runBackup({ store: sqliteIn(dataDir), file, force: true });
    expect(statSync(file).size).toBeGreaterThan('yesterday'.length);
  });

  it('refuses a data directory without a broker database, naming the path', async () => {
    const empty = path.join(dir, 'empty');
    await expect(runBackup({ store: sqliteIn(empty), file: path.join(dir, 'copy.db'), force: false })).rejects.toMatchObject({
      code: 'usage',
      message: expect.stringContaining(`there is no broker database at ${path.join(empty, DATABASE_FILE_NAME)}`),
    });
  });

  it('refuses a PostgreSQL store, pointing to pg_dump without showing the password', async () => {
    const store = storeSetting({ env: { ACCESS_DATABASE_URL: 'postgres://access:s3cret@db.internal:5432/access' }, dataDir });
    const file = path.join(dir, 'copy.db');
    const refused = runBackup({ store, file, force: false });
    await expect(refused).rejects.toMatchObject({ code: 'usage', message: expect.stringContaining('pg_dump') });
    await expect(refused).rejects.toMatchObject({ message: expect.stringContaining('postgres://access:***@db.internal:5432/access') });
    await expect(refused).rejects.toMatchObject({ message: expect.not.stringContaining('s3cret') });
    expect(existsSync(file)).toBe(false);
  });

  it('refuses a copy whose audit chain does not verify and leaves no file behind', async () => {
    const raw = new Sqlite(path.join(dataDir, DATABASE_FILE_NAME));
    try {
      raw.exec('DROP TRIGGER audit_log_no_update');
      raw.prepare('UPDATE audit_log SET body = ? WHERE seq = 7').run(JSON.stringify({ sql: 'select 1; -- edited', protocol: 'simple' }));
    } finally {
      raw.close();
    }
    const file = path.join(dir, 'copy.db');
    await expect(runBackup({ store: sqliteIn(dataDir), file, force: false })).rejects.toMatchObject({
      code: 'store_unavailable',
      message: expect.stringContaining("the copy's audit chain does not verify: entry 7 is altered"),
    });
    expect(existsSync(file)).toBe(false);
    expect((await readdir(dir)).filter((name) => name.includes('.partial-'))).toEqual([]);
  });
});
