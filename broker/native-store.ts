// The broker's SQLite binding (better-sqlite3) compiles a native module, so it is not installed
// with the `access` package: the CLI installs without a compiler, and a machine that runs the broker
// installs the binding next to it (package.json lists it as an optional peer dependency). The
// commands that open the store are loaded through here, so a missing binding is one clear error
// naming the install command instead of a module-resolution stack trace.

import { AccessError } from '../shared/errors.js';
import { peerRange } from '../shared/version.js';

export const STORE_BINDING = 'better-sqlite3';

export async function withStoreBinding<T>(load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    if (isMissing(error, STORE_BINDING)) {
      const spec = `${STORE_BINDING}@${peerRange(STORE_BINDING)}`;
      throw new AccessError(
        'dependency_missing',
        `access-broker needs the SQLite binding ${STORE_BINDING}, which is not installed with the access CLI (it compiles a native module: needs python3, make and a C++ compiler). ` +
          `Install it next to access: \`npm install -g ${spec}\` for a global install, or \`npm install ${spec}\` in the project that depends on access.`,
        { cause: error },
      );
    }
    throw error;
  }
}

/** Node's ERR_MODULE_NOT_FOUND for the package `name` itself (not a file inside our own tree). */
export function isMissing(error: unknown, name: string): boolean {
  if (!(error instanceof Error) || (error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') return false;
  return error.message.includes(`Cannot find package '${name}'`);
}
