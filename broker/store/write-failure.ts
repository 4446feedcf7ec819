// The database refusing a write for a reason outside the broker (a full disk, an I/O error, a
// file made read-only, the PostgreSQL server gone) as a coded error a caller can act on, instead
// of an `internal` 500. The database rolls the transaction back in each case, so nothing
// half-written stays: new work is refused and everything committed before is still there; the
// broker works again once the cause is fixed.

import { AccessError } from '../../shared/errors.js';
import { codeOf } from './sql-errors.js';

/**
 * SQLSTATE classes and codes by which PostgreSQL says it cannot write now (Appendix A): disk full;
 * connection lost, out of resources, cancelled or shut down, system error; a lock wait timed out.
 */
const POSTGRES_FULL = new Set(['53100']);
const POSTGRES_UNAVAILABLE_CLASSES = ['08', '53', '57', '58'];
const POSTGRES_UNAVAILABLE_CODES = new Set(['55P03']);

/** The AccessError for a database write failure the operator must fix, or null for any other error. */
export function storeWriteFailure(error: unknown): AccessError | null {
  const code = codeOf(error);
  if (code === null) return null;
  if (code === 'SQLITE_FULL' || POSTGRES_FULL.has(code)) {
    return new AccessError(
      'store_full',
      "the broker's database disk is full: nothing new can be recorded, so this was not done (what was recorded before is intact) — ask the broker's operator to free disk space, then try again",
      { cause: error },
    );
  }
  if (code.startsWith('SQLITE_IOERR') || code.startsWith('SQLITE_READONLY') || isPostgresUnavailable(code)) {
    return new AccessError(
      'store_unavailable',
      `the broker's database could not write (${code}), so this was not done (what was recorded before is intact) — ask the broker's operator to check the database, then try again`,
      { cause: error },
    );
  }
  return null;
}

function isPostgresUnavailable(code: string): boolean {
  return code.length === 5 && (POSTGRES_UNAVAILABLE_CODES.has(code) || POSTGRES_UNAVAILABLE_CLASSES.some((c) => code.startsWith(c)));
}
