// Which store a broker (or `migrate`, `backup`) uses, decided once from what the operator gave:
// `dev --store URL`, then ACCESS_DATABASE_URL, then the config's `store:`, else SQLite in the data
// directory. The environment wins over the file so one config can serve every environment, and so
// the password can stay out of a file that lives in version control.

import path from 'node:path';
import { AccessError } from '../../shared/errors.js';
import { loadStoreUrl } from '../config/load.js';
import { DATABASE_URL_ENV, storeUrlProblem } from '../config/store-url.js';
import { DATABASE_FILE_NAME } from './database.js';
import { redactedUrl } from './postgres/postgres-database.js';

export type StoreSetting =
  | { kind: 'sqlite'; file: string }
  /** `from` says where the URL was set, for messages: "ACCESS_DATABASE_URL", "--store", or the config file. */
  | { kind: 'postgres'; url: string; from: string };

export interface StoreSources {
  /** `dev --store URL`. */
  flag?: string | null;
  env: NodeJS.ProcessEnv;
  /** The config's `store:` (already checked by the config schema) and the file it came from. */
  configured?: { url: string; source: string } | null;
  /** The data directory the SQLite file lives in when no PostgreSQL URL is given. */
  dataDir: string;
}

export function storeSetting(sources: StoreSources): StoreSetting {
  if (sources.flag) return postgres(sources.flag, '--store');
  // An empty variable counts as unset, as a shell's `ACCESS_DATABASE_URL=` means.
  const fromEnv = sources.env[DATABASE_URL_ENV];
  if (fromEnv) return postgres(fromEnv, DATABASE_URL_ENV);
  if (sources.configured) return { kind: 'postgres', url: sources.configured.url, from: `\`store\` in ${sources.configured.source}` };
  return { kind: 'sqlite', file: path.join(sources.dataDir, DATABASE_FILE_NAME) };
}

/** The store as it may be shown in a log or message: the file, or the URL without its password. */
export function describeStore(setting: StoreSetting): string {
  return setting.kind === 'sqlite' ? setting.file : redactedUrl(setting.url);
}

function postgres(url: string, from: string): StoreSetting {
  const problem = storeUrlProblem(url.trim());
  if (problem) throw new AccessError('config_invalid', `${from} ${problem}`);
  return { kind: 'postgres', url: url.trim(), from };
}

export interface MaintenanceSources {
  /** `--config FILE`: only its `store:` is read. */
  configFile: string | null;
  /** `--data DIR`: the SQLite store's directory. */
  dataDir: string;
  env: NodeJS.ProcessEnv;
}

/** The store `access-broker migrate` and `backup` work on, decided as for `serve`. */
export async function maintenanceStore(sources: MaintenanceSources): Promise<StoreSetting> {
  const url = sources.configFile ? await loadStoreUrl(sources.configFile) : undefined;
  return storeSetting({
    env: sources.env,
    configured: url && sources.configFile ? { url, source: sources.configFile } : null,
    dataDir: sources.dataDir,
  });
}
