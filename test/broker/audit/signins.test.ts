// signin.seen: once per token, remembered in a bounded LRU, never the token itself.

import { describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../../broker/audit/audit-log.js';
import { SignInRecorder } from '../../../broker/audit/signins.js';
import { openDatabase } from '../../../broker/store/database.js';
import { principal } from '../requests/harness.js';
import { T0, rows } from './entries.js';

function setup(max?: number) {
  const db = openDatabase(':memory:');
  return { db, signins: new SignInRecorder(new SqlAuditLog(db), () => T0, max) };
}

describe('SignInRecorder', () => {
  it('records the first use of each token and nothing for its later uses', () => {
    const { db, signins } = setup();
    expect(signins.seen(principal('alice'), 'token-a1')).toBe(true);
    expect(signins.seen(principal('alice'), 'token-a1')).toBe(false);
    expect(signins.seen(principal('alice'), 'token-a2')).toBe(true);
    expect(rows(db).map((r) => [r.type, r.actor_oid, r.actor_upn, r.at])).toEqual([
      ['signin.seen', 'alice', 'alice@contoso.com', T0],
      ['signin.seen', 'alice', 'alice@contoso.com', T0],
    ]);
  });

  it('keeps a hash of the token, never the token', () => {
    const { db, signins } = setup();
    signins.seen(principal('alice'), 'eyJ.secret-token.sig');
    expect(rows(db)[0]?.body).not.toContain('secret-token');
  });

  it('forgets the least recently seen token beyond its size, and records it again when it returns', () => {
    const { db, signins } = setup(2);
    signins.seen(principal('alice'), 't1');
    signins.seen(principal('bob'), 't2');
    signins.seen(principal('alice'), 't1'); // t1 is now the most recent
    signins.seen(principal('carol'), 't3'); // t2 is forgotten
    expect(signins.seen(principal('alice'), 't1')).toBe(false);
    expect(signins.seen(principal('bob'), 't2')).toBe(true);
    expect(rows(db).map((r) => r.actor_oid)).toEqual(['alice', 'bob', 'carol', 'bob']);
  });

  it('does not remember a token whose entry could not be written, so the next use tries again', () => {
    const { db, signins } = setup();
    db.exec("CREATE TEMP TRIGGER refuse BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full'); END");
    expect(() => signins.seen(principal('alice'), 't1')).toThrow('disk full');
    db.exec('DROP TRIGGER temp.refuse');
    expect(signins.seen(principal('alice'), 't1')).toBe(true);
  });
});
