// `access-broker backup FILE [--data DIR | --config FILE] [--force]`: a consistent copy of the broker's SQLite
// database, taken with SQLite's online backup API (better-sqlite3 `db.backup`) while the broker
// runs: the copy is one snapshot, and the broker keeps serving (WAL: a reader never blocks the
// writer). The copy is written next to FILE under a temporary name, checked (`PRAGMA
// integrity_check`, and the audit hash chain recomputed), and only then renamed to FILE, so FILE is
// never a half-written or unchecked copy. Restoring is a file copy with the broker stopped (README).

import { closeSync, existsSync, openSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import Sqlite from 'better-sqlite3';
import { AccessError } from '../shared/errors.js';
import { verifyChainAsync } from './audit/verify.js';
import { BUSY_TIMEOUT_MS, SqliteDatabase } from './store/database.js';
import { describeStore, type StoreSetting } from './store/store-setting.js';
import { currentVersion } from './store/migrations.js';

/** Owner read/write only, like the database itself: requests carry reasons and tickets. */
const BACKUP_FILE_MODE = 0o600;

export interface BackupOptions {
  /** The broker's store: SQLite only; a PostgreSQL store is backed up with PostgreSQL's own tools. */
  store: StoreSetting;
  /** Where the copy goes. */
  file: string;
  /** Replace `file` when it exists. */
  force: boolean;
}

export interface BackupReport {
  file: string;
  bytes: number;
  schemaVersion: number;
  auditEntries: number;
  /** The audit chain's head at the copy: keep it somewhere the broker cannot write. */
  auditHead: { seq: number; hash: string } | null;
}

export async function runBackup(options: BackupOptions): Promise<BackupReport> {
  if (options.store.kind === 'postgres') {
    throw new AccessError(
      'usage',
      `the broker's store is PostgreSQL (${describeStore(options.store)}, from ${options.store.from}): back it up with pg_dump, e.g. \`pg_dump --format=custom --file=access.dump DATABASE\`, and restore with pg_restore (README, "Running several brokers on PostgreSQL")`,
    );
  }
  const source = options.store.file;
  const file = path.resolve(options.file);
  if (!existsSync(source)) {
    throw new AccessError('usage', `there is no broker database at ${source} — pass --data DIR, the directory \`access-broker serve --data\` uses`);
  }
  if (existsSync(file)) {
    if (!options.force) throw new AccessError('usage', `${file} already exists — name another file, or pass --force to replace it`);
    if (!statSync(file).isFile()) throw new AccessError('usage', `${file} is not a regular file — name a file to write the backup to`);
  }
  if (!existsSync(path.dirname(file))) throw new AccessError('usage', `the directory of ${file} does not exist — create it first`);

  const partial = path.join(path.dirname(file), `.${path.basename(file)}.partial-${process.pid}`);
  let db: Sqlite.Database;
  try {
    db = new Sqlite(source, { readonly: true, fileMustExist: true });
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  } catch (error) {
    throw new AccessError('store_unavailable', `cannot open ${source}: ${messageOf(error)}; run the backup as the user the broker runs as`, { cause: error });
  }
  try {
    // Created empty and private first: SQLite takes an empty file as an empty database, and the copy keeps the mode.
    closeSync(openSync(partial, 'wx', BACKUP_FILE_MODE));
    await db.backup(partial);
  } catch (error) {
    await removeCopy(partial);
    throw new AccessError('store_unavailable', `the backup of ${source} failed: ${messageOf(error)}`, { cause: error });
  } finally {
    db.close();
  }
  try {
    const report = await checkCopy(partial);
    await rename(partial, file);
    return { ...report, file, bytes: statSync(file).size };
  } catch (error) {
    await removeCopy(partial);
    throw error;
  }
}

/** Opens the copy and checks it as a restore would rely on it; throws naming what is wrong. */
async function checkCopy(copy: string): Promise<Omit<BackupReport, 'file' | 'bytes'>> {
  const db = new Sqlite(copy, { fileMustExist: true });
  try {
    const integrity = db.pragma('integrity_check', { simple: true });
    if (integrity !== 'ok')
      throw new AccessError('store_unavailable', `the copy fails SQLite's integrity check (${String(integrity)}); the source database may be damaged`);
    const copyDb = new SqliteDatabase(db);
    const schemaVersion = currentVersion(copyDb);
    const verified = await verifyChainAsync(copyDb);
    if (!verified.ok) {
      throw new AccessError(
        'store_unavailable',
        `the copy's audit chain does not verify: entry ${verified.firstBadSeq} is ${verified.problem} (${verified.reason}); the live database has the same problem — run \`access audit verify\``,
      );
    }
    return { schemaVersion, auditEntries: verified.count, auditHead: verified.count > 0 ? verified.head : null };
  } finally {
    // The copy is in WAL mode like its source: closing the last connection folds the log back in.
    db.close();
  }
}

async function removeCopy(copy: string): Promise<void> {
  await Promise.all(['', '-wal', '-shm', '-journal'].map((suffix) => rm(`${copy}${suffix}`, { force: true })));
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The report as the command prints it. */
export function backupLines(report: BackupReport): string[] {
  return [
    `backed up to ${report.file} (${report.bytes} bytes, schema version ${report.schemaVersion})`,
    `checked: integrity ok; audit chain ok (${report.auditEntries} entries${report.auditHead ? `, head ${report.auditHead.seq} ${report.auditHead.hash}` : ''})`,
  ];
}
