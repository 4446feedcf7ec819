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

import type { NewAuditEntry } from '../../audit/entry.js';
import { pgCopyEntry, pgQueryEntry, pgStartupEntry, pgUnrecordableEntry, type PgQuerySubject, type PgStatement } from '../../audit/session-entries.js';
import { remember, StatementCapture, type EntrySubject } from '../capture.js';
import { describeRequest, Frontend } from './codes.js';
import { FramingError, FrontendFramer, type FrontendFrame } from './frontend-framer.js';
import { decodeBind, decodeClose, decodeExecute, decodeFunctionCall, decodeParse, decodeQuery, decodeStartup, type Bind } from './frontend-messages.js';
import { MalformedMessage } from '../message-reader.js';

export { MAX_TRACKED_STATEMENTS } from '../capture.js';

export type { CaptureOptions, CaptureSink } from '../capture.js';

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

export class SessionCapture extends StatementCapture {
  readonly #framer = new FrontendFramer();
  #database: string | null = null;
  readonly #statements = new Map<string, Statement>();
  readonly #portals = new Map<string, Portal>();
  #copy: { messages: number; bytes: number } | null = null;

  protected readUp(chunk: Buffer): void {
    const from = this.#framer.offset;
    this.#framer.push(chunk, this.#onFrame);
    // The framer stops at a CancelRequest; nothing may follow one on its connection.
    if (this.#framer.finished && this.#framer.offset - from < chunk.length) throw new FramingError('bytes after a CancelRequest');
  }

  protected aboutTheBytes(error: unknown): boolean {
    return error instanceof FramingError || error instanceof MalformedMessage;
  }

  protected unrecordableEntry(subject: EntrySubject, reason: string, atByte: number): NewAuditEntry {
    return pgUnrecordableEntry({ ...subject, reason, atByte });
  }

  protected get atByte(): number {
    return this.#framer.offset;
  }

  protected override finish(): void {
    if (this.#copy) this.#endCopy('unfinished');
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
    this.add(
      pgStartupEntry({
        ...this.subject(),
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
    // Names that are empty (unnamed) and absent fields are left out of the entry by pgQueryEntry.
    this.#query({
      sql: parsed?.sql ?? null,
      protocol: 'extended',
      sqlCut: parsed?.sqlCut,
      messageBytes: parsed?.messageBytes,
      statement: portal?.statement,
      portal: portalName,
      params: portal?.bind.params ?? [],
      paramsNotShown: portal?.bind.paramsNotShown,
    });
  }

  #query(statement: PgStatement): void {
    const subject: PgQuerySubject = this.subject();
    subject.database = this.#database;
    this.add(pgQueryEntry(subject, statement));
  }

  #endCopy(outcome: 'done' | 'failed' | 'unfinished'): void {
    const copy = this.#copy ?? { messages: 0, bytes: 0 };
    this.#copy = null;
    this.add(pgCopyEntry({ ...this.subject(), ...copy, outcome }));
  }
}
