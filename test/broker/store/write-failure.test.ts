// SQLite write failures the operator must fix become coded errors (503), not `internal` 500s.

import Sqlite from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { toAccessError } from '../../../broker/http/respond.js';
import { storeWriteFailure } from '../../../broker/store/write-failure.js';

describe('storeWriteFailure', () => {
  it('names a full disk store_full (503) and says what to do', () => {
    const error = toAccessError(new Sqlite.SqliteError('database or disk is full', 'SQLITE_FULL'));
    expect(error).toMatchObject({ code: 'store_full', status: 503, message: expect.stringMatching(/disk is full.*free disk space/) });
  });

  it.each(['SQLITE_IOERR_WRITE', 'SQLITE_IOERR', 'SQLITE_READONLY'])('names %s store_unavailable (503), quoting the code', (code) => {
    expect(toAccessError(new Sqlite.SqliteError('disk I/O error', code))).toMatchObject({
      code: 'store_unavailable',
      status: 503,
      message: expect.stringContaining(code),
    });
  });

  it('leaves other errors alone (a constraint is a bug or a conflict, not the disk)', () => {
    expect(storeWriteFailure(new Sqlite.SqliteError('UNIQUE constraint failed', 'SQLITE_CONSTRAINT_UNIQUE'))).toBeNull();
    expect(storeWriteFailure(new Error('boom'))).toBeNull();
    expect(toAccessError(new Error('boom')).code).toBe('internal');
  });
});
