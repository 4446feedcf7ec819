// `access-broker migrate [--config FILE | --data DIR] [--status]`: brings the store's schema up to
// the version this broker knows, or (`--status`) says where it stands. Brokers migrate at start
// too unless `serve --no-migrate`; this is for operators who upgrade the schema as a step of their
// own, before starting brokers of the new version. Migrating twice changes nothing the second time,
// and brokers migrating at once do it one after another (the store's write lock).

import { existsSync } from 'node:fs';
import { AccessError } from '../shared/errors.js';
import { migrationsFor, recordedVersion, applyMigrations } from './store/migrations.js';
import { openStore } from './store/open-store.js';
import { describeStore, type StoreSetting } from './store/store-setting.js';

export interface MigrateOptions {
  store: StoreSetting;
  /** Report the versions without changing anything. */
  statusOnly: boolean;
}

export interface MigrateReport {
  /** The store, password hidden. */
  store: string;
  statusOnly: boolean;
  /** The schema version found. */
  from: number;
  /** The version after migrating (with --status: the version found). */
  to: number;
  /** The newest version this broker knows. */
  known: number;
  /** Versions and names of the migrations still to apply (with --status). */
  pending: Array<{ version: number; name: string }>;
}

export function runMigrate(options: MigrateOptions): MigrateReport {
  const { store } = options;
  if (store.kind === 'sqlite' && !existsSync(store.file)) {
    throw new AccessError(
      'usage',
      `there is no broker database at ${store.file} — pass --data DIR (the directory \`serve --data\` uses), or --config FILE (or ACCESS_DATABASE_URL) for a PostgreSQL store`,
    );
  }
  const db = openStore(store, { schema: 'leave', applicationName: 'access-broker migrate' });
  try {
    const migrations = migrationsFor(db.dialect);
    const base = { store: describeStore(store), statusOnly: options.statusOnly, known: migrations.length };
    if (options.statusOnly) {
      const current = recordedVersion(db);
      const pending = migrations.slice(current).map(({ version, name }) => ({ version, name }));
      return { ...base, from: current, to: current, pending };
    }
    const { from, to } = applyMigrations(db, migrations);
    return { ...base, from, to, pending: [] };
  } finally {
    db.close();
  }
}

/** The report as the command prints it. */
export function migrateLines(report: MigrateReport): string[] {
  const { store, from, to, known } = report;
  if (report.statusOnly) {
    if (from > known) return [`${store}: schema version ${from}, newer than this broker knows (${known}): it refuses to start on it`];
    if (report.pending.length === 0) return [`${store}: schema version ${from}, the newest this broker knows: nothing to migrate`];
    return [
      `${store}: schema version ${from}; this broker knows up to ${known}; pending:`,
      ...report.pending.map((migration) => `  ${migration.version}  ${migration.name}`),
      'run `access-broker migrate` (same --config or --data) to apply them',
    ];
  }
  if (from === to) return [`${store}: schema version ${to}, the newest this broker knows: nothing to migrate`];
  return [`${store}: migrated schema from version ${from} to ${to}`];
}
