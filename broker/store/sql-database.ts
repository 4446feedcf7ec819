// The one connection every store writes through, whichever database is behind it: SQLite (the
// embedded default, better-sqlite3) or PostgreSQL (several brokers on one database). Both are used
// synchronously, as better-sqlite3 is: a store operation and the audit entry it writes run in one
// uninterrupted transaction, so the request service, the audit appender and the session store
// compose without awaiting. The PostgreSQL connection gets there by running node-postgres on a
// worker thread and waiting for each answer (postgres/sync-connection.ts).
//
// The stores own their SQL, one text per dialect; parameters are written the same way in both:
// `?` positional, or `@name` with one object argument.

import type { Logger } from '../log.js';

export type SqlDialect = 'sqlite' | 'postgres';

/** One step of a database's schema (migrations.ts for SQLite, postgres/migrations.ts for PostgreSQL). */
export interface Migration {
  /** 1, 2, 3 … without gaps; the position in MIGRATIONS is version - 1. */
  readonly version: number;
  /** Says what the migration does; recorded next to the version for whoever inspects the file. */
  readonly name: string;
  readonly sql: string;
}

/** A statement prepared on a SqlDatabase; the subset of better-sqlite3's Statement the stores use. */
export interface SqlStatement<Params extends unknown[] | object = unknown[], Row = unknown> {
  run(...params: Params extends unknown[] ? Params : [Params]): SqlRunResult;
  get(...params: Params extends unknown[] ? Params : [Params]): Row | undefined;
  all(...params: Params extends unknown[] ? Params : [Params]): Row[];
  /** The same statement answering each row's first column only (`Row` is then that column's type). */
  pluck(): SqlStatement<Params, Row>;
  /** The same statement answering each row as an array of its columns, in order. */
  raw(): SqlStatement<Params, unknown[]>;
}

export interface SqlRunResult {
  /** Rows inserted, updated or deleted. */
  changes: number;
}

export interface SqlDatabase {
  readonly dialect: SqlDialect;
  /** What to call the database in a message: the file, or the PostgreSQL URL without its password. */
  readonly name: string;
  /**
   * True when other broker processes write to the same database at the same time (PostgreSQL).
   * Whatever a store remembers between transactions (the audit log's head) must then be read again
   * inside each transaction.
   */
  readonly shared: boolean;
  /** True while a transaction is open on this connection. */
  readonly inTransaction: boolean;
  prepare<Params extends unknown[] | object = unknown[], Row = unknown>(sql: string): SqlStatement<Params, Row>;
  /** Runs one or more statements without parameters (schema changes). */
  exec(sql: string): void;
  /**
   * Runs `fn` as one write transaction: everything written inside commits together or not at all,
   * and no other writer (another connection, another broker) interleaves between a read inside and
   * the writes that depend on it. Called inside another transaction it becomes a savepoint of the
   * outer one. `fn` must be synchronous.
   */
  transaction<T>(fn: () => T): T;
  close(): void;
  /**
   * Where other brokers write (PostgreSQL): a connection of its own that LISTENs on a channel for
   * what they commit, not started yet. Absent where no other process writes (SQLite).
   */
  listen?(options: ChannelOptions): ChannelSubscription;
}

export interface ChannelOptions {
  /** A channel name NOTIFY sends to (an identifier: letters, digits, underscores). */
  channel: string;
  /** Each notification's payload. */
  onNotify: (payload: string) => void;
  /** After every connect and reconnect, once LISTEN is in place: read what may have been missed. */
  onListening: () => void;
  log: Logger;
}

export interface ChannelSubscription {
  start(): void;
  close(): Promise<void>;
}

/**
 * Refuses an async transaction body: the transaction ends when `fn` returns, before its awaits run.
 * Throwing here rolls back whatever the synchronous part wrote.
 */
export function assertSynchronous(result: unknown): void {
  if (typeof result === 'object' && result !== null && typeof (result as { then?: unknown }).then === 'function') {
    throw new TypeError('a store transaction must be synchronous; do the awaiting before or after it');
  }
}
