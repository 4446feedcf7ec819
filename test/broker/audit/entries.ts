// Sample audit entries and small readers of the raw table, shared by the audit tests.

import type { AuditRow, NewAuditEntry } from '../../../broker/audit/entry.js';
import type { Database } from '../../../broker/store/database.js';
import type { AuditEventType } from '../../../shared/wire.js';

/** 2025-03-04 09:00 UTC */
export const T0 = Date.UTC(2025, 2, 4, 9, 0);

export function entry(n: number, over: Partial<NewAuditEntry> = {}): NewAuditEntry {
  return {
    type: 'pg.query',
    at: T0 + n,
    actor: { oid: 'alice', upn: 'alice@contoso.com' },
    subject: 'sess-1',
    resource: 'prod-db',
    body: { sql: `select ${n}`, protocol: 'simple' },
    ...over,
  };
}

export function rows(db: Database): AuditRow[] {
  return db.prepare<[], AuditRow>('SELECT * FROM audit_log ORDER BY seq').all();
}

export function types(db: Database): AuditEventType[] {
  return rows(db).map((row) => row.type);
}
