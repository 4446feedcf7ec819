// The append path of the audit log: one `audit_log` row per entry, chained by hash (entry.ts).
//
// `append` is synchronous and runs in whatever transaction the caller has open on the same
// connection, so a state change and its audit entry commit together or not at all (outside a
// transaction the INSERT commits on its own). The head (seq, hash) is kept in memory after the first
// read, so an append is one INSERT. The database guards the chain itself (migration trigger
// `audit_log_chain`): an INSERT that does not extend the head is refused. That is also how a stale
// cached head is noticed — after a caller's transaction rolled back an append, the cache is ahead
// of the table — and the append is redone once on the head as stored.

import type { Database } from '../store/database.js';
import type { SqlStatement } from '../store/sql-database.js';
import { constraintViolated } from '../store/sql-errors.js';
import { AUDIT_COLUMNS, GENESIS_HASH, sealEntry, type AuditRow, type NewAuditEntry } from './entry.js';

export interface AuditHead {
  /** 0 for an empty log. */
  seq: number;
  hash: string;
}

/** What the request service and the tunnel need: append, synchronously, in their transaction. */
export interface AuditAppender {
  append(entry: NewAuditEntry): AuditRow;
}

const SQL = {
  insert: `INSERT INTO audit_log (${AUDIT_COLUMNS}) VALUES (@seq, @at, @type, @actor_oid, @actor_upn, @subject, @resource, @body, @prev_hash, @hash)`,
  head: 'SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1',
} as const;

/**
 * PostgreSQL: many rows in one statement (one round trip to the server instead of one a row), given
 * as one JSON array and inserted in seq order, so the chain trigger checks each against the one
 * inserted just before it.
 */
const INSERT_MANY_POSTGRES = `INSERT INTO audit_log (${AUDIT_COLUMNS})
  SELECT ${AUDIT_COLUMNS} FROM jsonb_to_recordset(?::jsonb)
    AS r(seq bigint, at bigint, type text, actor_oid text, actor_upn text, subject text, resource text, body text, prev_hash text, hash text)
  ORDER BY seq`;

/** Rows a multi-row insert carries at most (a batch of the appender is 1,000 at most). */
const ROWS_PER_INSERT = 500;

export class SqlAuditLog implements AuditAppender {
  readonly #db: Database;
  readonly #insert: SqlStatement<AuditRow>;
  readonly #readHead: SqlStatement<[], AuditHead>;
  readonly #insertMany: SqlStatement<[string]> | null;
  readonly #listeners = new Set<() => void>();
  #head: AuditHead | null = null;
  #notifyScheduled = false;

  constructor(db: Database) {
    this.#db = db;
    this.#insert = db.prepare<AuditRow>(SQL.insert);
    this.#readHead = db.prepare<[], AuditHead>(SQL.head);
    this.#insertMany = db.dialect === 'postgres' ? db.prepare<[string]>(INSERT_MANY_POSTGRES) : null;
  }

  /**
   * Appends one entry in the caller's transaction, if one is open on this connection. Returns the
   * stored row (seq and hash assigned). Throws what SQLite throws; the caller's transaction then
   * rolls back with it.
   */
  append(entry: NewAuditEntry): AuditRow {
    if (this.#db.shared) return this.#appendShared(entry);
    const head = this.#head ?? this.#storedHead();
    let row = sealEntry(entry, head.seq + 1, head.hash);
    try {
      this.#insert.run(row);
    } catch (error) {
      const refused = constraintViolated(error);
      if (refused !== 'trigger' && refused !== 'primary_key') throw error;
      // The cached head is not the stored one (an append rolled back with its transaction): redo
      // the entry on the stored head. A second refusal is a real fault and propagates.
      const stored = this.#storedHead();
      row = sealEntry(entry, stored.seq + 1, stored.hash);
      this.#insert.run(row);
    }
    this.#head = { seq: row.seq, hash: row.hash };
    this.#scheduleNotify();
    return row;
  }

  /**
   * Other brokers append to the same log: the head is read in the writing transaction, whose write
   * lock keeps every other writer out until it commits, so the chain stays one sequence.
   */
  #appendShared(entry: NewAuditEntry): AuditRow {
    if (!this.#db.inTransaction) return this.#db.transaction(() => this.#appendShared(entry));
    const head = this.#storedHead();
    const row = sealEntry(entry, head.seq + 1, head.hash);
    this.#insert.run(row);
    this.#scheduleNotify();
    return row;
  }

  /** Appends `entries` in order in one transaction (joining the caller's, if any). */
  appendAll(entries: readonly NewAuditEntry[]): AuditRow[] {
    if (entries.length === 0) return [];
    const insertMany = this.#insertMany;
    if (insertMany === null || !this.#db.shared) return this.#db.transaction(() => entries.map((entry) => this.append(entry)));
    return this.#db.transaction(() => {
      let head = this.#storedHead();
      const rows = entries.map((entry) => {
        const row = sealEntry(entry, head.seq + 1, head.hash);
        head = row;
        return row;
      });
      for (let start = 0; start < rows.length; start += ROWS_PER_INSERT) insertMany.run(JSON.stringify(rows.slice(start, start + ROWS_PER_INSERT)));
      this.#scheduleNotify();
      return rows;
    });
  }

  /** The newest committed entry (seq 0 and the genesis hash for an empty log). */
  storedHead(): AuditHead {
    return this.#storedHead();
  }

  /**
   * Calls `listener` after entries were appended, once per burst, on a later turn of the event
   * loop: by then the appending transaction has committed or rolled back, so a listener that reads
   * the log sees only committed entries (and may find nothing new after a rollback).
   */
  onAppend(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #storedHead(): AuditHead {
    const head = this.#readHead.get() ?? { seq: 0, hash: GENESIS_HASH };
    this.#head = head;
    return head;
  }

  #scheduleNotify(): void {
    if (this.#notifyScheduled || this.#listeners.size === 0) return;
    this.#notifyScheduled = true;
    setImmediate(() => {
      this.#notifyScheduled = false;
      for (const listener of [...this.#listeners]) listener();
    });
  }
}
