// The query log of one Postgres tunnel: reads the client → server bytes the relay hands it (after
// the SSLRequest preamble, so plaintext) and appends to the audit log, through the batched appender:
//
//   pg.startup   once: the role, database and application name the client asked for;
//   pg.query     per simple Query (a multi-statement string is one entry, as sent), and per
//                executed portal of the extended protocol (Parse → Bind → Execute): its SQL and
//                parameters, once even when the client fetches it in several Executes;
//   pg.copy      per COPY … FROM STDIN: CopyData counted in messages and bytes, never logged;
//   pg.unrecordable  once, when the stream stops being one it can record (see below);
//   pg.cancelled  handed in by the endpoint (`record`) when a cut by the broker cancelled the running query.
//
// Passwords and SASL exchanges ('p') are framed and skipped unread. The capture reads only what the
// client sends, so an entry says what was asked for, not whether the server accepted it (a statement
// that failed to parse is still logged when the client executes it).
//
// Fail closed: a query that runs is a query in the log. The relay hands each chunk here before it
// writes it, and anything the capture cannot record — a malformed or oversize length, an unknown
// first message or type byte, a TLS handshake, an encryption request that reached the stream,
// bytes after a CancelRequest, a message whose fields do not fit, a bug here — refuses the chunk:
// `up` returns the reason, the relay ends the session (CloseCode.unrecordable) and writes none of
// the chunk, so the server never receives a complete message the log does not hold. Logged once
// and recorded as pg.unrecordable. Entries already made for complete messages earlier in a refused
// chunk stay: they say what the client asked for, which the server then never received.
//
// Terminate does not end the reading: the capture does not bet on the server stopping there (inside
// COPY FROM STDIN, PostgreSQL takes a Terminate as a protocol error, not a goodbye), so what follows
// one is framed and recorded like anything else.

import type { Logger } from '../../log.js';
import type { NewAuditEntry } from '../../audit/entry.js';
import { pgCopyEntry, pgQueryEntry, pgStartupEntry, pgUnrecordableEntry, type PgQuery } from '../../audit/session-entries.js';
import type { ResourcePolicy } from '../../config/types.js';
import type { NewSession } from '../../store/session-store.js';
import type { TunnelObserver } from '../protocol.js';
import { describeRequest, Frontend } from './codes.js';
import { FramingError, FrontendFramer, type FrontendFrame } from './frontend-framer.js';
import {
  decodeBind,
  decodeClose,
  decodeExecute,
  decodeFunctionCall,
  decodeParse,
  decodeQuery,
  decodeStartup,
  MalformedMessage,
  type Bind,
} from './frontend-messages.js';

/**
 * Prepared statements (and portals) remembered per session. Enough for an ORM's statement cache
 * (pgx keeps 512, pgJDBC 256) while bounding memory to a few MiB per session; beyond it the oldest
 * is forgotten, and an Execute of it is logged with `sql: null` and its name.
 */
export const MAX_TRACKED_STATEMENTS = 512;

/** Where the entries go: the audit log's batched appender. */
export interface CaptureSink {
  add(entry: NewAuditEntry): void;
  /** Writes what is buffered at the end of this event-loop turn, with whatever other sessions added meanwhile (group commit). */
  flushSoon(): void;
  /** Writes what is buffered: called when the session ends, so its entries come before `session.closed`. */
  flush(): void;
  /** Entries still buffered: after a flush, those the log could not write (a full disk, a failed store). */
  readonly pending: number;
}

export interface CaptureOptions {
  sink: CaptureSink;
  log: Logger;
  now: () => number;
}

/** The tunnel endpoint's `observe` hook: a capture for every postgres tunnel, none for other kinds. */
export function pgQueryCapture(options: CaptureOptions): (session: NewSession, policy: ResourcePolicy) => TunnelObserver | null {
  return (session, policy) => (policy.kind === 'postgres' ? new SessionCapture(session, options) : null);
}

/** SQL as the capture holds it for a later Execute. */
interface Statement {
  sql: string;
  sqlCut: boolean;
  messageBytes: number;
}

interface Portal {
  statement: string;
  /** Null when the statement's Parse was never seen (or forgotten). */
  parsed: Statement | null;
  bind: Bind;
  executed: boolean;
}

export class SessionCapture implements TunnelObserver {
  readonly #session: NewSession;
  readonly #options: CaptureOptions;
  readonly #framer = new FrontendFramer();
  /** Why the capture refused the stream, once it has (every later chunk is refused the same). */
  #refused: string | null = null;
  #database: string | null = null;
  readonly #statements = new Map<string, Statement>();
  readonly #portals = new Map<string, Portal>();
  #copy: { messages: number; bytes: number } | null = null;
  #wrote = false;
  /** Entries added since the last flush this capture asked for. */
  #unflushed = false;

  constructor(session: NewSession, options: CaptureOptions) {
    this.#session = session;
    this.#options = options;
  }

  /** Why the capture refused the stream, or null while it records it. */
  get refused(): string | null {
    return this.#refused;
  }

  up(chunk: Buffer): string | null {
    if (this.#refused !== null) return this.#refused;
    try {
      const from = this.#framer.offset;
      this.#framer.push(chunk, this.#onFrame);
      // The framer stops at a CancelRequest; nothing may follow one on its connection.
      if (this.#framer.finished && this.#framer.offset - from < chunk.length) throw new FramingError('bytes after a CancelRequest');
      // Committed after the relay wrote the chunk, while the server runs it: by the time its answer
      // arrives (beforeDown) there is usually nothing left to write.
      if (this.#unflushed) this.#options.sink.flushSoon();
      return null;
    } catch (error) {
      return this.#refuse(error);
    }
  }

  /**
   * The target is about to answer: what the client sent is written first (one transaction for
   * everything buffered, unless the flush `up` asked for has already written it). A SIGKILL can then lose only statements whose answers nobody has seen;
   * without this, up to a flush interval of statements that ran would be missing from the log.
   */
  beforeDown(): string | null {
    if (!this.#unflushed) return null;
    this.#options.sink.flush();
    if (this.#options.sink.pending > 0) return 'the audit log could not record what the client sent, so the answer was not passed on';
    this.#unflushed = false;
    return null;
  }

  end(): void {
    if (this.#copy) this.#endCopy('unfinished');
    if (this.#wrote) this.#options.sink.flush();
  }

  /** An entry about the session from elsewhere (the broker cancelled its query at a cut): written at once. */
  record(entry: NewAuditEntry): void {
    this.#options.sink.add(entry);
    this.#options.sink.flush();
  }

  readonly #onFrame = (frame: FrontendFrame): void => {
    if (frame.kind === 'message') this.#message(frame.type, frame.body, frame.body.length < frame.bodyBytes, frame.bodyBytes);
    else if (frame.kind === 'startup') this.#startup(frame.version, frame.body);
    // The preamble answers every encryption request; one here would reach the server, which may answer 'S'.
    else if (frame.kind === 'negotiation') throw new FramingError(`an encryption request (${describeRequest(frame.code)}) the broker did not answer`);
    // 'cancel' carries nothing to log.
  };

  #startup(version: number, body: Buffer): void {
    const info = decodeStartup(version, body);
    this.#database = info.database;
    this.#add(
      pgStartupEntry({
        ...this.#subject(),
        dbUser: info.user,
        database: info.database,
        applicationName: info.applicationName,
        clientEncoding: info.clientEncoding,
        protocol: info.protocol,
      }),
    );
  }

  #message(type: number, body: Buffer, cut: boolean, bodyBytes: number): void {
    switch (type) {
      case Frontend.query: {
        const { sql, sqlCut } = decodeQuery(body, cut);
        this.#query({ sql, protocol: 'simple', sqlCut, messageBytes: bodyBytes });
        return;
      }
      case Frontend.parse: {
        const parse = decodeParse(body, cut);
        remember(this.#statements, parse.statement, { sql: parse.sql, sqlCut: parse.sqlCut, messageBytes: bodyBytes });
        return;
      }
      case Frontend.bind: {
        const bind = decodeBind(body, cut);
        remember(this.#portals, bind.portal, { statement: bind.statement, parsed: this.#statements.get(bind.statement) ?? null, bind, executed: false });
        return;
      }
      case Frontend.execute:
        this.#execute(decodeExecute(body).portal);
        return;
      case Frontend.close: {
        const { target, name } = decodeClose(body);
        (target === 'statement' ? this.#statements : this.#portals).delete(name);
        return;
      }
      case Frontend.functionCall:
        this.#query({ sql: null, protocol: 'function', functionOid: decodeFunctionCall(body, cut).functionOid });
        return;
      case Frontend.copyData:
        this.#copy ??= { messages: 0, bytes: 0 };
        this.#copy.messages++;
        this.#copy.bytes += bodyBytes;
        return;
      case Frontend.copyDone:
        this.#endCopy('done');
        return;
      case Frontend.copyFail:
        this.#endCopy('failed');
        return;
      default:
      // Sync, Flush, Describe, Terminate, passwords: framed, nothing to log.
    }
  }

  #execute(portalName: string): void {
    const portal = this.#portals.get(portalName);
    // A portal fetched in several Executes (a row limit) ran one statement: one entry.
    if (portal?.executed) return;
    if (portal) portal.executed = true;
    const parsed = portal?.parsed ?? null;
    this.#query({
      sql: parsed?.sql ?? null,
      protocol: 'extended',
      ...(parsed?.sqlCut ? { sqlCut: true, messageBytes: parsed.messageBytes } : {}),
      ...(portal?.statement ? { statement: portal.statement } : {}),
      ...(portalName ? { portal: portalName } : {}),
      params: portal?.bind.params ?? [],
      ...(portal?.bind.paramsNotShown ? { paramsNotShown: portal.bind.paramsNotShown } : {}),
    });
  }

  #query(query: Omit<PgQuery, 'sessionId' | 'user' | 'resource' | 'at' | 'database'>): void {
    this.#add(pgQueryEntry({ ...this.#subject(), database: this.#database, ...query }));
  }

  #endCopy(outcome: 'done' | 'failed' | 'unfinished'): void {
    const copy = this.#copy ?? { messages: 0, bytes: 0 };
    this.#copy = null;
    this.#add(pgCopyEntry({ ...this.#subject(), ...copy, outcome }));
  }

  /** Refuses the stream for good: logged and recorded once; returns the reason the relay closes with. */
  #refuse(error: unknown): string {
    const expected = error instanceof FramingError || error instanceof MalformedMessage;
    const message = error instanceof Error ? error.message : String(error);
    // Not the client's bytes but this code: said so, with the stack for whoever fixes it.
    const reason = expected ? message : `the capture failed: ${message}`;
    this.#refused = reason;
    const fields = { session: this.#session.id, resource: this.#session.resource, atByte: this.#framer.offset };
    try {
      this.#options.log.warn(
        `ended the session at bytes it cannot record: ${reason}`,
        expected ? fields : { ...fields, error: error instanceof Error ? error.stack : message },
      );
      this.#add(pgUnrecordableEntry({ ...this.#subject(), reason, atByte: this.#framer.offset }));
    } catch {
      // Logging and the audit buffer do not throw; if they ever do, the session still ends.
    }
    return reason;
  }

  #subject(): { sessionId: string; user: NewSession['user']; resource: string; at: number } {
    return { sessionId: this.#session.id, user: this.#session.user, resource: this.#session.resource, at: this.#options.now() };
  }

  #add(entry: NewAuditEntry): void {
    this.#wrote = true;
    this.#unflushed = true;
    this.#options.sink.add(entry);
  }
}

/** Sets `key` as the newest entry, forgetting the oldest beyond MAX_TRACKED_STATEMENTS. */
function remember<T>(map: Map<string, T>, key: string, value: T): void {
  map.delete(key);
  map.set(key, value);
  if (map.size <= MAX_TRACKED_STATEMENTS) return;
  const oldest = map.keys().next();
  if (!oldest.done) map.delete(oldest.value);
}
