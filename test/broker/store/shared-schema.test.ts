// Several brokers on one PostgreSQL database are upgraded one at a time: the first to start on a
// new version migrates the schema while the others still run. A statement is prepared once per
// connection, and PostgreSQL refuses to run one whose result columns changed since ("cached plan
// must not change result type"), so the stores name their columns: what a migration adds to a
// table must not break a broker that was running before it.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SqlAuditLog } from '../../../broker/audit/audit-log.js';
import { AuditQueries } from '../../../broker/store/audit-queries.js';
import type { Database } from '../../../broker/store/database.js';
import { SqlRequestStore } from '../../../broker/store/request-store.js';
import { SqlSessionStore } from '../../../broker/store/session-store.js';
import { type PostgresSchema, openPostgresSchema } from '../../helpers/store-databases.js';
import { entry } from '../audit/entries.js';
import { HOUR, T0, approval, approvedRequest, pendingRequest } from './sample-requests.js';

const TABLES = ['requests', 'reviews', 'extensions', 'sessions', 'audit_log'];

let schema: PostgresSchema;
let running: Database;
let upgrading: Database;

beforeEach(() => {
  schema = openPostgresSchema();
  running = schema.connect();
  upgrading = schema.connect();
});

afterEach(() => {
  upgrading.close();
  running.close();
});

describe('a broker running while another migrates the shared schema', () => {
  it('reads and writes as before once every table has gained a column', () => {
    const requests = new SqlRequestStore(running);
    const sessions = new SqlSessionStore(running);
    const audit = new SqlAuditLog(running);
    const queries = new AuditQueries(running);
    const grant = approvedRequest(pendingRequest({ id: 'req-1' }), T0, [approval('oid-bob', T0)]);
    /** Every read the stores prepare, so each statement exists on the running connection before the migration. */
    const readAll = () => ({
      request: requests.get('req-1'),
      mine: requests.listByRequester('oid-alice').map((r) => r.id),
      due: requests.listDue(T0 + 2 * HOUR).map((r) => r.id),
      session: sessions.get('ses-1')?.id,
      ofGrant: sessions.listByRequest('req-1').map((s) => s.id),
      events: queries.events().entries.map((e) => e.seq),
    });
    requests.insert(grant);
    sessions.open({
      id: 'ses-1',
      requestId: 'req-1',
      user: { oid: 'oid-alice', upn: null },
      resource: 'prod-db',
      clientAddress: null,
      target: 'db:5432',
      startedAt: T0,
    });
    audit.append(entry(1));
    const before = readAll();

    upgrading.transaction(() => {
      for (const table of TABLES) upgrading.exec(`ALTER TABLE ${table} ADD COLUMN added_later TEXT`);
    });

    expect(readAll()).toEqual(before);
    requests.save({ ...grant, state: 'expired', closedAt: T0 + 2 * HOUR });
    expect(requests.get('req-1')?.state).toBe('expired');
  });
});
