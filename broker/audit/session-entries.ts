// The audit entries of a tunnel: `session.opened` and `session.closed` (appended in the
// transaction that writes the `sessions` row, broker/store/session-store.ts) and, for Postgres
// sessions, what the query capture reads from the client (broker/tunnel/postgres/session-capture.ts):
// `pg.startup`, `pg.query` for each statement run, `pg.copy` for COPY data and `pg.unrecordable`
// (through the BatchedAppender: queries can be thousands a second), and `pg.cancelled` when the
// broker cut the session and cancelled its running query (broker/tunnel/postgres/cancel-on-cut.ts).
// MySQL/MariaDB sessions have their own (broker/tunnel/mysql/session-capture.ts): `mysql.handshake`,
// `mysql.query`, `mysql.command`, `mysql.unrecordable` and `mysql.killed`.
// The subject of all of them is the session id, so `access audit show SESSION` finds them together.

import type { NewSession, SessionEnd } from '../store/session-store.js';
import type { ParamValue } from '../tunnel/postgres/frontend-messages.js';
import type { NewAuditEntry } from './entry.js';

/**
 * Longest SQL text kept per query entry. Enough for any statement a person types or an ORM
 * builds; a bulk COPY or generated IN list is cut, its full length recorded.
 */
export const MAX_QUERY_TEXT_CHARS = 8 * 1024;

/** Who an entry of a session is about (the session's user), where and when. */
type SessionSubject = { sessionId: string; user: { oid: string; upn: string | null }; resource: string; at: number };

function sessionEntry(type: NewAuditEntry['type'], subject: SessionSubject, body: Record<string, unknown>): NewAuditEntry {
  return { type, at: subject.at, actor: subject.user, subject: subject.sessionId, resource: subject.resource, body };
}

export function sessionOpenedEntry(session: NewSession): NewAuditEntry {
  return {
    type: 'session.opened',
    at: session.startedAt,
    actor: session.user,
    subject: session.id,
    resource: session.resource,
    body: { requestId: session.requestId, target: session.target, client: session.clientAddress, ...(session.breakGlass ? { breakGlass: true } : {}) },
  };
}

export function sessionClosedEntry(
  session: Pick<NewSession, 'id' | 'user' | 'resource' | 'requestId'>,
  end: SessionEnd,
  queries: number | null = null,
): NewAuditEntry {
  return {
    type: 'session.closed',
    at: end.endedAt,
    actor: session.user,
    subject: session.id,
    resource: session.resource,
    body: {
      requestId: session.requestId,
      bytesUp: end.bytesUp,
      bytesDown: end.bytesDown,
      endReason: end.reason,
      detail: end.detail,
      ...(queries === null ? {} : { queries }),
    },
  };
}

/** One statement a Postgres client sent: what a `pg.query` entry says besides who and where. */
export interface PgStatement {
  /**
   * The statement text as the client sent it (simple query, or Parse of the extended protocol);
   * null when an Execute ran a statement whose Parse the capture no longer holds.
   */
  sql: string | null;
  /** Which protocol message carried it (`function`: a fast-path FunctionCall, no SQL). */
  protocol: 'simple' | 'extended' | 'function';
  /** The SQL is already a prefix (its message was larger than the capture keeps); `messageBytes` is the message's size. */
  sqlCut?: boolean;
  messageBytes?: number;
  /** Extended protocol: the prepared statement and portal names when named (empty: unnamed, not shown), and the Bind parameters. */
  statement?: string;
  portal?: string;
  params?: readonly ParamValue[];
  /** Parameters of a very large Bind beyond what the capture kept. */
  paramsNotShown?: number;
  /** FunctionCall: the function's oid. */
  functionOid?: number;
}

/** Who ran a statement, where and when, and the database the session's client asked for. */
export interface PgQuerySubject extends SessionSubject {
  database?: string | null;
}

/**
 * Writes a statement's text into `body` as an entry keeps it: at most MAX_QUERY_TEXT_CHARS, and when
 * cut (here or upstream, `sqlCut`) marked `truncated` with the size known (characters, or the
 * message's bytes).
 */
function putSql(body: Record<string, unknown>, sql: string | null, sqlCut: boolean | undefined, messageBytes: number | undefined): void {
  const cut = sql !== null && sql.length > MAX_QUERY_TEXT_CHARS;
  body.sql = cut ? sql.slice(0, MAX_QUERY_TEXT_CHARS) : sql;
  if (!cut && !sqlCut) return;
  body.truncated = true;
  // Cut upstream, the text's full length in characters is unknown; its message's size is known.
  if (sqlCut) body.messageBytes = messageBytes;
  else if (sql !== null) body.sqlChars = sql.length;
}

/** The SQL fields of an entry's body on their own (putSql). */
function sqlFields(sql: string | null, sqlCut: boolean | undefined, messageBytes: number | undefined): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  putSql(body, sql, sqlCut, messageBytes);
  return body;
}

/**
 * The entry of one statement. Its body is built field by field rather than with object spreads:
 * this runs for every statement an audited client sends, and spreads cost several times more (the
 * body is stored as canonical JSON, keys sorted, so the order they are set in does not matter).
 */
export function pgQueryEntry(subject: PgQuerySubject, statement: PgStatement): NewAuditEntry {
  const body: Record<string, unknown> = {};
  putSql(body, statement.sql, statement.sqlCut, statement.messageBytes);
  body.protocol = statement.protocol;
  if (subject.database) body.database = subject.database;
  if (statement.statement) body.statement = statement.statement;
  if (statement.portal) body.portal = statement.portal;
  if (statement.params) body.params = statement.params;
  if (statement.paramsNotShown) body.paramsNotShown = statement.paramsNotShown;
  if (statement.functionOid !== undefined) body.functionOid = statement.functionOid;
  return sessionEntry('pg.query', subject, body);
}

/** Who a Postgres session's client said it is: the first entry of its timeline after `session.opened`. */
export interface PgStartup {
  sessionId: string;
  user: { oid: string; upn: string | null };
  resource: string;
  at: number;
  /** The database role and database the client asked for (before the server authenticated it). */
  dbUser: string | null;
  database: string | null;
  applicationName: string | null;
  clientEncoding: string | null;
  protocol: string;
}

export function pgStartupEntry(startup: PgStartup): NewAuditEntry {
  return {
    type: 'pg.startup',
    at: startup.at,
    actor: startup.user,
    subject: startup.sessionId,
    resource: startup.resource,
    body: {
      dbUser: startup.dbUser,
      database: startup.database,
      applicationName: startup.applicationName,
      ...(startup.clientEncoding ? { clientEncoding: startup.clientEncoding } : {}),
      protocol: startup.protocol,
    },
  };
}

/** The data of one COPY … FROM STDIN: counted, never logged (the statement itself is a pg.query). */
export interface PgCopy {
  sessionId: string;
  user: { oid: string; upn: string | null };
  resource: string;
  at: number;
  /** CopyData messages and their bytes. */
  messages: number;
  bytes: number;
  /** `done`: CopyDone; `failed`: the client sent CopyFail; `unfinished`: the tunnel ended mid-copy. */
  outcome: 'done' | 'failed' | 'unfinished';
}

export function pgCopyEntry(copy: PgCopy): NewAuditEntry {
  return {
    type: 'pg.copy',
    at: copy.at,
    actor: copy.user,
    subject: copy.sessionId,
    resource: copy.resource,
    body: { direction: 'in', messages: copy.messages, bytes: copy.bytes, outcome: copy.outcome },
  };
}

/**
 * The capture met bytes it cannot record (garbage, a TLS handshake, an encryption request…): the
 * broker ended the session there and forwarded none of them. Brokers before fail-closed capture
 * wrote `pg.capture_degraded` instead and relayed the rest unread; no broker writes that any more.
 */
export interface PgUnrecordable {
  sessionId: string;
  user: { oid: string; upn: string | null };
  resource: string;
  at: number;
  reason: string;
  /** Offset in the client → server stream where parsing stopped. */
  atByte: number;
}

export function pgUnrecordableEntry(refused: PgUnrecordable): NewAuditEntry {
  return {
    type: 'pg.unrecordable',
    at: refused.at,
    actor: refused.user,
    subject: refused.sessionId,
    resource: refused.resource,
    body: { reason: refused.reason, atByte: refused.atByte },
  };
}

/** The broker cut a Postgres session (revoke, expiry…) and cancelled the query its backend was running. */
export interface PgCancelled {
  sessionId: string;
  user: { oid: string; upn: string | null };
  resource: string;
  at: number;
  /** The server's process id of the session's backend (pg_stat_activity.pid). */
  backendPid: number;
  /** Why the broker cut the session: the session's end reason (e.g. `grantRevoked`). */
  cut: string;
}

export function pgCancelledEntry(cancelled: PgCancelled): NewAuditEntry {
  return {
    type: 'pg.cancelled',
    at: cancelled.at,
    actor: cancelled.user,
    subject: cancelled.sessionId,
    resource: cancelled.resource,
    body: { backendPid: cancelled.backendPid, cut: cancelled.cut },
  };
}

// ---- MySQL / MariaDB (broker/tunnel/mysql/session-capture.ts) ------------------------------------

/** Who a MySQL session's client said it is (its HandshakeResponse), and the server's id of the connection. */
export interface MysqlHandshake extends SessionSubject {
  /** The database user the client logged in as (before the server authenticated it). */
  dbUser: string;
  database: string | null;
  /** The client's program name from its connection attributes, when sent. */
  program: string | null;
  serverVersion: string;
  /** The server's connection id (information_schema.processlist.id): what KILL QUERY names. */
  connectionId: number;
}

export function mysqlHandshakeEntry(handshake: MysqlHandshake): NewAuditEntry {
  return sessionEntry('mysql.handshake', handshake, {
    dbUser: handshake.dbUser,
    database: handshake.database,
    ...(handshake.program ? { program: handshake.program } : {}),
    serverVersion: handshake.serverVersion,
    connectionId: handshake.connectionId,
  });
}

/** One statement a MySQL client ran: COM_QUERY (`text`) or COM_STMT_EXECUTE of a prepared statement. */
export interface MysqlQuery extends SessionSubject {
  /** Null when an execute named a statement whose prepare the capture does not hold. */
  sql: string | null;
  protocol: 'text' | 'prepared';
  database: string | null;
  sqlCut?: boolean;
  messageBytes?: number;
  /** Prepared: the server's statement id, and the bound parameters. */
  statementId?: number;
  params?: readonly ParamValue[];
  paramsNotShown?: number;
}

export function mysqlQueryEntry(query: MysqlQuery): NewAuditEntry {
  return sessionEntry('mysql.query', query, {
    ...sqlFields(query.sql, query.sqlCut, query.messageBytes),
    protocol: query.protocol,
    ...(query.database ? { database: query.database } : {}),
    ...(query.statementId === undefined ? {} : { statementId: query.statementId }),
    ...(query.params ? { params: query.params } : {}),
    ...(query.paramsNotShown ? { paramsNotShown: query.paramsNotShown } : {}),
  });
}

/**
 * A MySQL command other than a statement that changes what the session is or does: `initDb` (the
 * default database), `changeUser`, `processKill`, `fieldList`, `createDb`, `dropDb`, `refresh`,
 * `shutdown`, `resetConnection`, `localInfile` (file data the client sent for LOAD DATA LOCAL:
 * counted, never logged). `details` says what it named.
 */
export function mysqlCommandEntry(subject: SessionSubject, command: string, details: Record<string, unknown>): NewAuditEntry {
  return sessionEntry('mysql.command', subject, { command, ...details });
}

/**
 * A COM_STMT_PREPARE as the client sent it (a `mysql.command` of command `prepare`), before the
 * server named the statement: its executes are `mysql.query` entries with this text.
 */
export function mysqlPrepareEntry(subject: SessionSubject, sql: string, sqlCut: boolean, messageBytes: number): NewAuditEntry {
  return mysqlCommandEntry(subject, 'prepare', sqlFields(sql, sqlCut, messageBytes));
}

/** The capture met bytes it cannot record: the broker ended the session there and forwarded none of them. */
export function mysqlUnrecordableEntry(subject: SessionSubject, reason: string, atByte: number): NewAuditEntry {
  return sessionEntry('mysql.unrecordable', subject, { reason, atByte });
}

/** The broker cut a MySQL session (revoke, expiry…) and killed the statement its connection was running. */
export function mysqlKilledEntry(subject: SessionSubject, connectionId: number, dbUser: string, cut: string): NewAuditEntry {
  return sessionEntry('mysql.killed', subject, { connectionId, dbUser, cut });
}

/**
 * The broker logged in to the database itself with a stored login (credential injection, postgres
 * and mysql): which database user ran the session, and whether the database accepted the login.
 */
export interface DbLogin {
  sessionId: string;
  user: { oid: string; upn: string | null };
  resource: string;
  at: number;
  /** The database user the broker logged in as. */
  dbUser: string;
  /** Where its password came from: `$ENV_NAME` or a file path (DatabaseCredential.source), never the password. */
  credential: string;
  /** The authentication method the database asked for, e.g. SCRAM-SHA-256, md5, caching_sha2_password. */
  method: string | null;
  outcome: 'accepted' | 'refused';
  /** When refused: what the database (or the exchange) said. */
  reason: string | null;
}

export function dbLoginEntry(login: DbLogin): NewAuditEntry {
  return {
    type: 'db.login',
    at: login.at,
    actor: login.user,
    subject: login.sessionId,
    resource: login.resource,
    body: {
      dbUser: login.dbUser,
      credential: login.credential,
      method: login.method,
      outcome: login.outcome,
      ...(login.reason === null ? {} : { reason: login.reason }),
    },
  };
}
