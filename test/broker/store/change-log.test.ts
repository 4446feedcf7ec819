// The request change log on SQLite and PostgreSQL: a broker reads the changes the others wrote, in
// order, never its own; it starts after what is already there; old rows go as new ones come; and a
// change name this code does not know is skipped. On PostgreSQL each row is NOTIFYed at commit.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHANGE_LOG_RETENTION_MS, CHANGES_CHANNEL, SqlChangeLog } from '../../../broker/store/change-log.js';
import type { Database } from '../../../broker/store/database.js';
import type { PostgresDatabase } from '../../../broker/store/postgres/postgres-database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { recordingLog } from '../requests/harness.js';
import { STORE_KINDS, openPostgresSchema, openStoreDatabase } from '../../helpers/store-databases.js';
import { T0, pendingRequest } from './sample-requests.js';

describe.each(STORE_KINDS)('SqlChangeLog on %s', (kind) => {
  let db: Database;
  let a: SqlChangeLog;
  let b: SqlChangeLog;

  beforeEach(() => {
    db = openStoreDatabase(kind);
    // Rows belong to a request (foreign key).
    const requests = new SqlRequestStore(db);
    for (const id of ['req-1', 'req-2']) requests.insert(pendingRequest({ id }));
    a = new SqlChangeLog(db, 'broker-a');
    b = new SqlChangeLog(db, 'broker-b');
  });

  afterEach(() => db.close());

  it("gives each broker the others' changes in the order they were written, never its own", () => {
    db.transaction(() => a.append('req-1', ['created'], T0));
    db.transaction(() => b.append('req-2', ['created'], T0 + 1));
    db.transaction(() => a.append('req-1', ['review_recorded', 'approved'], T0 + 2));
    expect(b.othersAfter(0, 10)).toMatchObject([
      { requestId: 'req-1', changes: ['created'], at: T0 },
      { requestId: 'req-1', changes: ['review_recorded', 'approved'], at: T0 + 2 },
    ]);
    expect(a.othersAfter(0, 10)).toMatchObject([{ requestId: 'req-2', changes: ['created'] }]);
    const [first, second] = b.othersAfter(0, 10);
    expect(b.othersAfter(first?.seq ?? 0, 10)).toEqual([second]);
    expect(b.othersAfter(0, 1)).toEqual([first]);
  });

  it('starts a broker after the changes already logged', () => {
    expect(a.lastSeq()).toBe(0);
    db.transaction(() => a.append('req-1', ['created'], T0));
    db.transaction(() => a.append('req-2', ['created'], T0));
    const last = b.lastSeq();
    expect(b.othersAfter(last, 10)).toEqual([]);
    db.transaction(() => a.append('req-1', ['cancelled'], T0 + 1));
    expect(b.othersAfter(last, 10)).toMatchObject([{ requestId: 'req-1', changes: ['cancelled'] }]);
  });

  it('drops what is older than the retention as it writes', () => {
    db.transaction(() => a.append('req-1', ['created'], T0));
    db.transaction(() => a.append('req-2', ['created'], T0 + 1));
    db.transaction(() => a.append('req-2', ['cancelled'], T0 + CHANGE_LOG_RETENTION_MS + 1));
    expect(b.othersAfter(0, 10)).toMatchObject([
      { requestId: 'req-2', changes: ['created'] },
      { requestId: 'req-2', changes: ['cancelled'] },
    ]);
  });

  it('skips change names it does not know (written by a newer broker)', () => {
    db.prepare("INSERT INTO request_changes (request_id, changes, at, origin) VALUES ('req-1', '[\"approved\",\"teleported\"]', 1, 'newer')").run();
    expect(b.othersAfter(0, 10)).toMatchObject([{ requestId: 'req-1', changes: ['approved'] }]);
  });
});

describe('the change log on PostgreSQL', () => {
  it('NOTIFYs each row’s seq when its transaction commits', async () => {
    const schema = openPostgresSchema();
    const db = schema.connect() as PostgresDatabase;
    const received: string[] = [];
    let listening!: () => void;
    const ready = new Promise<void>((resolve) => (listening = resolve));
    const listener = db.listen({
      channel: CHANGES_CHANNEL,
      log: recordingLog(),
      onNotify: (payload) => received.push(payload),
      onListening: () => listening(),
    });
    try {
      new SqlRequestStore(db).insert(pendingRequest({ id: 'req-1' }));
      listener.start();
      await ready;
      const log = new SqlChangeLog(db, 'broker-a');
      db.transaction(() => log.append('req-1', ['cancelled'], T0));
      const seq = db.prepare<[], number>('SELECT max(seq) FROM request_changes').pluck().get();
      // Other schemas' tests share the channel (it is per database): this schema's row is among what arrives.
      await until(() => received.includes(String(seq)));
    } finally {
      await listener.close();
      db.close();
    }
  });
});

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 10));
}
