// PostgreSQL as the stores' SqlDatabase: several brokers on one database. Statements are written
// with the same parameters as for SQLite (`?`, or `@name` with one object) and sent as $1, $2 …
// Every write transaction takes one cluster-wide lock first (a transaction-level advisory lock), so
// writers on all brokers run one after another, as SQLite's writers do: a read inside a transaction
// stays true until its commit, the audit log's head is the head, a grant expires exactly once.

import { AccessError } from '../../../shared/errors.js';
import { assertSynchronous, type ChannelOptions, type SqlDatabase, type SqlRunResult, type SqlStatement } from '../sql-database.js';
import { ChannelListener } from './channel-listener.js';
import { SyncPostgresConnection } from './sync-connection.js';

/** The advisory lock key every write transaction holds until it ends ('acce' in ASCII). */
export const WRITE_LOCK_KEY = 0x61636365;

/** Connecting, a statement and a wait for the write lock each give up after this long (SQLite's busy timeout). */
export const POSTGRES_TIMEOUT_MS = 5_000;

export interface PostgresDatabaseOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  timeoutMs?: number;
  /** Shows in pg_stat_activity. Default "access-broker". */
  applicationName?: string;
}

export class PostgresDatabase implements SqlDatabase {
  readonly dialect = 'postgres';
  readonly shared = true;
  readonly name: string;
  readonly #url: string;
  readonly #applicationName: string;
  readonly #connection: SyncPostgresConnection;
  #depth = 0;

  constructor(options: PostgresDatabaseOptions) {
    this.name = redactedUrl(options.url);
    this.#url = options.url;
    this.#applicationName = options.applicationName ?? 'access-broker';
    this.#connection = new SyncPostgresConnection({
      url: options.url,
      name: this.name,
      timeoutMs: options.timeoutMs ?? POSTGRES_TIMEOUT_MS,
      applicationName: this.#applicationName,
    });
  }

  get inTransaction(): boolean {
    return this.#depth > 0;
  }

  prepare<Params extends unknown[] | object = unknown[], Row = unknown>(sql: string): SqlStatement<Params, Row> {
    return new PostgresStatement(this.#connection, toPositional(sql), 'object') as unknown as SqlStatement<Params, Row>;
  }

  /** Runs `sql` as it is (no parameters): several statements, functions with $$ bodies. */
  exec(sql: string): void {
    this.#connection.call({ op: 'query', sql, params: [] });
  }

  transaction<T>(fn: () => T): T {
    if (this.#depth > 0) return this.#savepoint(fn);
    this.#connection.call({ op: 'begin', sql: `BEGIN; SELECT pg_advisory_xact_lock(${WRITE_LOCK_KEY})` });
    this.#depth = 1;
    try {
      const result = fn();
      assertSynchronous(result);
      this.#connection.call({ op: 'end', sql: 'COMMIT' });
      return result;
    } catch (error) {
      rollBack(() => this.#connection.call({ op: 'end', sql: 'ROLLBACK' }));
      throw error;
    } finally {
      this.#depth = 0;
    }
  }

  close(): void {
    this.#connection.close();
  }

  /**
   * A connection of its own to the same database that LISTENs on `channel` (channel-listener.ts): a
   * notification is not the answer to a call, so it cannot come through this one. Not started yet.
   */
  listen(options: ChannelOptions): ChannelListener {
    return new ChannelListener({ ...options, url: this.#url, name: this.name, applicationName: `${this.#applicationName} listener` });
  }

  /** A transaction inside a transaction: its writes undo alone if `fn` throws, the outer one goes on. */
  #savepoint<T>(fn: () => T): T {
    const name = `nested_${this.#depth}`;
    this.#connection.call({ op: 'query', sql: `SAVEPOINT ${name}`, params: [] });
    this.#depth += 1;
    try {
      const result = fn();
      this.#connection.call({ op: 'query', sql: `RELEASE SAVEPOINT ${name}`, params: [] });
      return result;
    } catch (error) {
      rollBack(() => this.#connection.call({ op: 'query', sql: `ROLLBACK TO SAVEPOINT ${name}; RELEASE SAVEPOINT ${name}`, params: [] }));
      throw error;
    } finally {
      this.#depth -= 1;
    }
  }
}

/** Undoing after a failure: when the connection itself broke, the server has already undone it. */
function rollBack(undo: () => void): void {
  try {
    undo();
  } catch {
    // The error that made us roll back is the one the caller needs.
  }
}

type RowMode = 'object' | 'array' | 'first';

class PostgresStatement {
  readonly #connection: SyncPostgresConnection;
  readonly #sql: PositionalSql;
  readonly #mode: RowMode;

  constructor(connection: SyncPostgresConnection, sql: PositionalSql, mode: RowMode) {
    this.#connection = connection;
    this.#sql = sql;
    this.#mode = mode;
  }

  run(...params: unknown[]): SqlRunResult {
    return { changes: this.#query(params).rowCount };
  }

  get(...params: unknown[]): unknown {
    return this.#query(params).rows[0];
  }

  all(...params: unknown[]): unknown[] {
    return this.#query(params).rows;
  }

  pluck(): PostgresStatement {
    return new PostgresStatement(this.#connection, this.#sql, 'first');
  }

  raw(): PostgresStatement {
    return new PostgresStatement(this.#connection, this.#sql, 'array');
  }

  #query(params: unknown[]): { rows: unknown[]; rowCount: number } {
    const values = bind(this.#sql, params);
    const result = this.#connection.call({
      op: 'query',
      sql: this.#sql.text,
      params: values,
      ...(this.#mode === 'object' ? {} : { rowMode: 'array' as const }),
    });
    if (this.#mode !== 'first') return result;
    return { rows: result.rows.map((row) => (row as unknown[])[0]), rowCount: result.rowCount };
  }
}

/** A statement rewritten with $n placeholders, and which named parameter each stands for. */
export interface PositionalSql {
  text: string;
  /** Null when the statement uses `?` (values are given in order). */
  names: string[] | null;
  count: number;
}

/**
 * Rewrites `?` and `@name` placeholders as $1, $2 … (the same name is the same number), leaving
 * quoted strings, quoted identifiers and comments as they are. A statement uses one kind or the other.
 */
export function toPositional(sql: string): PositionalSql {
  const names: string[] = [];
  let positional = 0;
  let text = '';
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    const skip = skippedSpan(sql, i);
    if (skip > i) {
      text += sql.slice(i, skip);
      i = skip;
    } else if (c === '?') {
      positional += 1;
      text += `$${positional}`;
      i += 1;
    } else if (c === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '')) {
      const name = /^[A-Za-z_][A-Za-z0-9_]*/.exec(sql.slice(i + 1))?.[0] as string;
      let index = names.indexOf(name);
      if (index === -1) index = names.push(name) - 1;
      text += `$${index + 1}`;
      i += 1 + name.length;
    } else {
      text += c;
      i += 1;
    }
  }
  if (positional > 0 && names.length > 0) throw new TypeError(`a statement uses either ? or @name parameters, not both: ${sql}`);
  return { text, names: names.length > 0 ? names : null, count: names.length > 0 ? names.length : positional };
}

/** Where a quoted string, quoted identifier or comment starting at `i` ends (or `i` when none starts there). */
function skippedSpan(sql: string, i: number): number {
  const c = sql[i];
  const next = sql[i + 1];
  if (c === "'" || c === '"') {
    let j = i + 1;
    while (j < sql.length) {
      if (sql[j] === c) {
        if (sql[j + 1] === c) j += 2;
        else return j + 1;
      } else j += 1;
    }
    return sql.length;
  }
  if (c === '-' && next === '-') {
    const end = sql.indexOf('\n', i);
    return end === -1 ? sql.length : end;
  }
  if (c === '/' && next === '*') {
    const end = sql.indexOf('*/', i + 2);
    return end === -1 ? sql.length : end + 2;
  }
  return i;
}

/** The values in $n order; named parameters come from one object, as better-sqlite3 takes them. */
function bind(sql: PositionalSql, params: unknown[]): unknown[] {
  if (sql.names === null) {
    if (params.length !== sql.count) throw new RangeError(`the statement takes ${sql.count} parameters, ${params.length} were given: ${sql.text}`);
    return params.map(toValue);
  }
  const [object] = params;
  if (params.length !== 1 || typeof object !== 'object' || object === null) {
    throw new TypeError(`the statement takes named parameters (${sql.names.join(', ')}) as one object: ${sql.text}`);
  }
  return sql.names.map((name) => {
    if (!(name in object)) throw new RangeError(`missing named parameter "${name}": ${sql.text}`);
    return toValue((object as Record<string, unknown>)[name]);
  });
}

/** Booleans are stored as 0 and 1, as in SQLite, so both databases give the stores the same rows. */
function toValue(value: unknown): unknown {
  if (value === undefined) return null;
  if (typeof value === 'boolean') return value ? 1 : 0;
  return value;
}

const POSTGRES_SCHEMES = new Set(['postgres:', 'postgresql:']);

/** The URL as it may be shown: without its password. */
export function redactedUrl(url: string): string {
  const parsed = URL.canParse(url) ? new URL(url) : null;
  if (parsed === null || !POSTGRES_SCHEMES.has(parsed.protocol)) {
    throw new AccessError('config_invalid', 'the PostgreSQL store is not a postgres:// URL; write it as postgres://USER:PASSWORD@HOST:5432/DATABASE');
  }
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}
