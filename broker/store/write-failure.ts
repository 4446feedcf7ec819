// The database refusing a write for a reason outside the broker (a full disk, an I/O error, a
// file made read-only) as a coded error a caller can act on, instead of an `internal` 500. SQLite
// rolls the transaction back in each case, so nothing half-written stays: new work is refused
// and everything committed before is still there; the broker works again once the cause is fixed.

import Sqlite from 'better-sqlite3';
import { AccessError } from '../../shared/errors.js';

/** The AccessError for a SQLite write failure the operator must fix, or null for any other error. */
export function storeWriteFailure(error: unknown): AccessError | null {
  if (!(error instanceof Sqlite.SqliteError)) return null;
  if (error.code === 'SQLITE_FULL') {
    return new AccessError(
      'store_full',
      "the broker's database disk is full: nothing new can be recorded, so this was not done (what was recorded before is intact) — ask the broker's operator to free disk space, then try again",
      { cause: error },
    );
  }
  if (error.code.startsWith('SQLITE_IOERR') || error.code.startsWith('SQLITE_READONLY')) {
    return new AccessError(
      'store_unavailable',
      `the broker's database could not write (${error.code}), so this was not done (what was recorded before is intact) — ask the broker's operator to check its disk, then try again`,
      { cause: error },
    );
  }
  return null;
}
