// The query log of one MySQL/MariaDB tunnel (the shared guarantees are in ../capture.ts): it reads
// the client → server bytes the relay hands it before writing them, and the server → client bytes
// before sending them (the greeting, the end of authentication, the statement ids the server
// assigns), and appends to the audit log:
//
//   mysql.handshake  once: the database user and database the client asked for, its program name,
//                    the server's version and connection id;
//   mysql.query      per COM_QUERY (a multi-statement string is one entry, as sent), and per
//                    COM_STMT_EXECUTE: the text of its COM_STMT_PREPARE and the bound parameters;
//   mysql.command    per command that changes the session without being a statement (COM_INIT_DB,
//                    COM_CHANGE_USER, COM_PROCESS_KILL, …) and per LOAD DATA LOCAL file (counted);
//   mysql.unrecordable  once, when the stream stops being one it can record;
//   mysql.killed     handed in by the endpoint when a cut killed the running statement (afterCut).
//
// How the conversation is followed, from the sequence ids alone: the server greets (seq 0), the
// client answers (seq 1), then authentication packets go back and forth (seq 2, 3, …; the client's
// are skipped unread, like Postgres passwords) until the server's OK or ERR. From then on every
// client message with seq 0 is a command — the server reads a command only at seq 0 (any other
// number is "packets out of order" and ends the connection) — so every command the server runs is
// one this capture decoded. A client packet with another seq is allowed only inside an exchange the
// server opened (authentication after COM_CHANGE_USER, a LOAD DATA LOCAL file it asked for).
//
// Fail closed, as ../capture.ts says: a client packet out of sequence, an unknown or replication
// command, a handshake asking for TLS or compression (the greeting the client saw offered neither),
// a message whose fields do not fit — the session ends there and the chunk is not forwarded.

import type { NewAuditEntry } from '../../audit/entry.js';
import {
  mysqlCommandEntry,
  mysqlHandshakeEntry,
  mysqlKilledEntry,
  mysqlPrepareEntry,
  mysqlQueryEntry,
  mysqlUnrecordableEntry,
  type MysqlQuery,
} from '../../audit/session-entries.js';
import type { ResourcePolicy } from '../../config/types.js';
import type { NewSession, SessionEndReason } from '../../store/session-store.js';
import { remember, StatementCapture, type CaptureOptions, type EntrySubject } from '../capture.js';
import { MAX_PARAM_VALUE_BYTES, type ParamValue } from '../postgres/frontend-messages.js';
import type { ServerSideEnd } from '../protocol.js';
import { Command, DECLINED_CAPABILITIES, describeCommand, Reply } from './codes.js';
import { killQuery } from './kill.js';
import {
  decodeChangeUser,
  decodeExecute,
  decodeGreeting,
  decodeHandshakeResponse,
  decodeId,
  decodeLongData,
  decodePrepareOk,
  decodeText,
  executeStatementId,
  type ParamType,
} from './messages.js';
import { MalformedMessage } from '../message-reader.js';
import { FramingError, PacketFramer, type Message } from './packets.js';

/**
 * Most bytes of one client message kept for decoding. The log keeps 8 Ki characters of SQL (at
 * most 32 KiB of UTF-8) and a bounded value per parameter; a bigger message (a bulk INSERT's text,
 * an execute with large values) is read up to here and counted beyond.
 */
export const MAX_KEPT_MESSAGE_BYTES = 32 * 1024;
/**
 * Long-data bytes kept per prepared statement until its execute (the first MAX_PARAM_VALUE_BYTES of
 * each parameter, like an inline value): as much as one kept message, so tracked statements bound
 * what a session holds; a value beyond it is shown by its size alone.
 */
export const MAX_LONG_DATA_HELD_BYTES = MAX_KEPT_MESSAGE_BYTES;
/** Of a server message, the capture reads at most the greeting or a COM_STMT_PREPARE_OK (12 bytes). */
const MAX_KEPT_SERVER_BYTES = 1024;

/** Commands the broker does not relay: replication streams and bulk array binds are not statements it can record. */
const REFUSED_COMMANDS: ReadonlySet<number> = new Set([
  Command.binlogDump,
  Command.binlogDumpGtid,
  Command.tableDump,
  Command.registerSlave,
  Command.connectOut,
  Command.daemon,
  Command.stmtBulkExecute,
]);
/** Commands that are neither statements nor change the session: framed, nothing logged. */
const QUIET_COMMANDS: ReadonlySet<number> = new Set([
  Command.sleep,
  Command.quit,
  Command.statistics,
  Command.processInfo,
  Command.connect,
  Command.debug,
  Command.ping,
  Command.time,
  Command.delayedInsert,
  Command.setOption,
  Command.stmtFetch,
]);
/** MariaDB's statement id for "the statement prepared last" (pipelined prepare and execute). */
const LAST_PREPARED = 0xffff_ffff;
/** Commands the server does not answer. */
const UNANSWERED: ReadonlySet<number> = new Set([Command.quit, Command.stmtClose, Command.stmtSendLongData]);

interface Prepared {
  sql: string;
  sqlCut: boolean;
  messageBytes: number;
  params: number;
  /** Types bound by an earlier execute (a later one may leave them out). */
  types: ParamType[] | null;
  /** COM_STMT_SEND_LONG_DATA per parameter: the first bytes and the total. */
  longData: Map<number, { head: Buffer; bytes: number }>;
  /** Bytes of `longData` heads held, at most MAX_LONG_DATA_HELD_BYTES. */
  longDataHeld: number;
}

/** The command whose answer the server sends next. */
interface Awaiting {
  command: number;
  /** The seq the answer starts with: one after the command's last packet. */
  replySeq: number;
  prepare?: { sql: string; sqlCut: boolean; messageBytes: number };
}

type Phase = 'greeting' | 'handshake' | 'auth' | 'command';

export class MysqlCapture extends StatementCapture {
  readonly #policy: ResourcePolicy;
  readonly #client: PacketFramer;
  readonly #server: PacketFramer;
  #phase: Phase = 'greeting';
  #capabilities = 0;
  #connectionId: number | null = null;
  #serverVersion = '';
  #dbUser: string | null = null;
  #database: string | null = null;
  #awaiting: Awaiting | null = null;
  /** A LOAD DATA LOCAL file the server asked for: its packets so far. */
  #infile: { packets: number; bytes: number } | null = null;
  /** The last sequence id either side sent in the current exchange. */
  #lastSeq = 0;
  readonly #statements = new Map<number, Prepared>();
  /** The statement prepared last: what MariaDB's statement id 0xFFFFFFFF names. */
  #lastPrepared: Prepared | null = null;
  /** The highest statement id the server gave this connection (it counts upwards, never reusing one). */
  #lastNamed = 0;
  /** Prepares whose answer the capture could not read (pipelining): an unknown id may be one of them. */
  #unmappedPrepares = 0;

  constructor(session: NewSession, policy: ResourcePolicy, options: CaptureOptions) {
    super(session, options);
    this.#policy = policy;
    this.#client = new PacketFramer((seq) => this.#clientMessageStarts(seq));
    this.#server = new PacketFramer(() => (this.#phase === 'greeting' || this.#phase === 'auth' || this.#awaiting ? MAX_KEPT_SERVER_BYTES : 0));
  }

  /** The database user the session logged in as, and the server's connection id, once known. */
  get serverSession(): { dbUser: string; connectionId: number } | null {
    return this.#dbUser !== null && this.#connectionId !== null && this.#phase === 'command'
      ? { dbUser: this.#dbUser, connectionId: this.#connectionId }
      : null;
  }

  protected readUp(chunk: Buffer): void {
    this.#client.push(chunk, this.#onClient);
  }

  protected override readDown(chunk: Buffer): void {
    this.#server.push(chunk, this.#onServer);
  }

  protected aboutTheBytes(error: unknown): boolean {
    return error instanceof FramingError || error instanceof MalformedMessage;
  }

  protected unrecordableEntry(subject: EntrySubject, reason: string, atByte: number): NewAuditEntry {
    return mysqlUnrecordableEntry(subject, reason, atByte);
  }

  protected get atByte(): number {
    return this.#client.offset;
  }

  protected override finish(): void {
    if (this.#infile) this.#endInfile('unfinished');
  }

  /** At a cut by the broker: KILL QUERY on the session's connection, as its database user. */
  async afterCut(session: NewSession, cut: SessionEndReason, at: number): Promise<ServerSideEnd | null> {
    const known = this.serverSession;
    // Never past authentication: nothing runs on the server.
    if (!known) return null;
    // The session ran as a stored login (credential injection): the broker holds its password.
    const stored = this.#policy.credentials.find((credential) => credential.user === known.dbUser);
    await killQuery(this.#policy, { user: known.dbUser, password: stored?.password ?? '' }, known.connectionId);
    return {
      message: `killed the running statement of MySQL connection ${known.connectionId} on cut`,
      fields: { session: session.id, resource: session.resource, connectionId: known.connectionId, cut },
      entry: mysqlKilledEntry({ sessionId: session.id, user: session.user, resource: session.resource, at }, known.connectionId, known.dbUser, cut),
    };
  }

  // ---- client → server --------------------------------------------------------------------------

  /**
   * A client message's first header: refused at once when its sequence id is not one the
   * conversation allows (so no byte of it reaches the server), else how much of it to keep.
   */
  #clientMessageStarts(seq: number): number {
    switch (this.#phase) {
      case 'greeting':
        throw new FramingError('the client sent bytes before the server greeted it');
      case 'handshake':
        if (seq !== 1) throw new FramingError(`the client's handshake has sequence id ${seq}, not 1`);
        return MAX_KEPT_MESSAGE_BYTES;
      case 'auth':
        this.#expect(seq);
        return 0;
      case 'command':
        if (this.#infile) {
          this.#expect(seq);
          return 0;
        }
        if (seq !== 0) throw new FramingError(`a packet with sequence id ${seq} where a command (sequence id 0) must come`);
        return MAX_KEPT_MESSAGE_BYTES;
    }
  }

  #expect(seq: number): void {
    const expected = (this.#lastSeq + 1) & 0xff;
    if (seq !== expected) throw new FramingError(`a packet with sequence id ${seq} where ${expected} comes next: out of order`);
  }

  /** A whole client message; its sequence id was checked at its first header. */
  readonly #onClient = (message: Message): void => {
    const cut = message.body.length < message.bytes;
    switch (this.#phase) {
      case 'greeting':
        return;
      case 'handshake':
        if (cut) throw new MalformedMessage(`the client's handshake is ${message.bytes} bytes, more than the broker reads`);
        this.#handshake(message.body);
        this.#lastSeq = message.lastSeq;
        return;
      case 'auth':
        // Authentication data (a scramble, a password for a plugin that asks for one): never read.
        this.#lastSeq = message.lastSeq;
        return;
      case 'command':
        if (this.#infile) {
          // A file the server asked for: its packets count on past 255 to 0.
          this.#lastSeq = message.lastSeq;
          this.#infile.packets++;
          this.#infile.bytes += message.bytes;
          if (message.bytes === 0) this.#endInfile('done');
          return;
        }
        this.#lastSeq = message.lastSeq;
        this.#command(message, cut);
    }
  };

  #handshake(body: Buffer): void {
    const response = decodeHandshakeResponse(body);
    if (response.sslRequest) {
      throw new MalformedMessage(
        'the client asked for TLS, which the broker declines: the tunnel is TLS to the broker already, and the broker must read the statements. Connect without TLS (mariadb --skip-ssl, mysql --ssl-mode=DISABLED)',
      );
    }
    const declined = response.capabilities & DECLINED_CAPABILITIES;
    if (declined)
      throw new MalformedMessage(`the client asked for capabilities the broker declined (0x${declined.toString(16)}: TLS, compression or query attributes)`);
    this.#capabilities = response.capabilities;
    this.#dbUser = response.user;
    this.#database = response.database;
    this.#phase = 'auth';
    this.add(
      mysqlHandshakeEntry({
        ...this.subject(),
        dbUser: response.user,
        database: response.database,
        program: response.program,
        serverVersion: this.#serverVersion,
        connectionId: this.#connectionId ?? 0,
      }),
    );
  }

  #command(message: Message, cut: boolean): void {
    const { body } = message;
    const command = body[0];
    if (command === undefined) throw new MalformedMessage('an empty command packet');
    if (REFUSED_COMMANDS.has(command))
      throw new MalformedMessage(`the command ${describeCommand(command)}, which the broker does not relay: it is not a statement it can record`);
    // A command sent before the server answered a COM_STMT_PREPARE (pipelining): that answer can no
    // longer be told from the next command's, so its statement id stays unknown.
    if (this.#awaiting?.prepare) this.#unmappedPrepares++;
    if (!UNANSWERED.has(command)) this.#awaiting = { command, replySeq: (message.lastSeq + 1) & 0xff };
    switch (command) {
      case Command.query: {
        const { text, textCut } = decodeText(body, cut);
        this.#query({ sql: text, protocol: 'text', ...(textCut ? { sqlCut: true, messageBytes: message.bytes } : {}) });
        return;
      }
      case Command.stmtPrepare: {
        const { text, textCut } = decodeText(body, cut);
        (this.#awaiting as Awaiting).prepare = { sql: text, sqlCut: textCut, messageBytes: message.bytes };
        // Logged as sent, before the server names it: every text the server may run is in the log,
        // even when an execute cannot be tied to it (forgotten, or a client sending ahead of answers).
        this.add(mysqlPrepareEntry(this.subject(), text, textCut, message.bytes));
        return;
      }
      case Command.stmtExecute:
        this.#execute(body, cut);
        return;
      case Command.stmtSendLongData:
        this.#longData(body, message.bytes);
        return;
      case Command.stmtClose:
        this.#statements.delete(decodeId(body, 'COM_STMT_CLOSE'));
        return;
      case Command.stmtReset: {
        const reset = this.#statements.get(decodeId(body, 'COM_STMT_RESET'));
        reset?.longData.clear();
        if (reset) reset.longDataHeld = 0;
        return;
      }
      case Command.initDb: {
        const { text } = decodeText(body, cut);
        this.#database = text;
        this.add(mysqlCommandEntry(this.subject(), 'initDb', { database: text }));
        return;
      }
      case Command.changeUser: {
        const { user, database } = decodeChangeUser(body, this.#capabilities);
        this.#dbUser = user;
        this.#database = database;
        this.#statements.clear();
        this.#lastPrepared = null;
        this.#phase = 'auth';
        this.add(mysqlCommandEntry(this.subject(), 'changeUser', { dbUser: user, database }));
        return;
      }
      case Command.resetConnection:
        this.#statements.clear();
        this.#lastPrepared = null;
        this.add(mysqlCommandEntry(this.subject(), 'resetConnection', {}));
        return;
      case Command.processKill:
        this.add(mysqlCommandEntry(this.subject(), 'processKill', { connectionId: decodeId(body, 'COM_PROCESS_KILL') }));
        return;
      case Command.fieldList:
        this.add(mysqlCommandEntry(this.subject(), 'fieldList', { table: decodeText(body, cut).text.split('\0')[0] ?? '' }));
        return;
      case Command.createDb:
      case Command.dropDb:
        this.add(mysqlCommandEntry(this.subject(), command === Command.createDb ? 'createDb' : 'dropDb', { database: decodeText(body, cut).text }));
        return;
      case Command.refresh:
      case Command.shutdown:
        this.add(mysqlCommandEntry(this.subject(), command === Command.refresh ? 'refresh' : 'shutdown', { arg: body[1] ?? null }));
        return;
      default:
        if (QUIET_COMMANDS.has(command)) return;
        throw new MalformedMessage(`unknown command byte ${describeCommand(command)}`);
    }
  }

  #execute(body: Buffer, cut: boolean): void {
    const id = executeStatementId(body);
    const prepared = id === LAST_PREPARED ? this.#lastPrepared : this.#statements.get(id);
    if (!prepared && (this.#unmappedPrepares > 0 || id === LAST_PREPARED)) {
      // It may run a statement whose text the broker holds but cannot tie to this id: fail closed.
      throw new MalformedMessage(
        `COM_STMT_EXECUTE of statement ${id}, which the broker cannot tie to its COM_STMT_PREPARE (commands sent before the server answered a prepare); send each command after the previous answer`,
      );
    }
    if (!prepared) {
      // Prepared before the capture could map it (a pipelining client) or forgotten: logged without text.
      this.#query({ sql: null, protocol: 'prepared', statementId: id });
      return;
    }
    const longData = new Map<number, ParamValue>();
    for (const [param, { head, bytes }] of prepared.longData) longData.set(param, longValue(head, bytes));
    const execute = decodeExecute(body, cut, prepared.params, prepared.types, longData);
    if (execute.types) prepared.types = execute.types;
    // Long data belongs to one execute.
    prepared.longData.clear();
    prepared.longDataHeld = 0;
    this.#query({
      sql: prepared.sql,
      protocol: 'prepared',
      ...(prepared.sqlCut ? { sqlCut: true, messageBytes: prepared.messageBytes } : {}),
      statementId: id,
      params: execute.params,
      ...(execute.paramsNotShown ? { paramsNotShown: execute.paramsNotShown } : {}),
    });
  }

  #longData(body: Buffer, bytes: number): void {
    const { statementId, param, data } = decodeLongData(body);
    const prepared = this.#statements.get(statementId);
    if (!prepared) return;
    const held = prepared.longData.get(param) ?? { head: Buffer.alloc(0), bytes: 0 };
    const room = Math.min(MAX_PARAM_VALUE_BYTES - held.head.length, MAX_LONG_DATA_HELD_BYTES - prepared.longDataHeld, data.length);
    prepared.longDataHeld += Math.max(0, room);
    // 7 bytes of header (command, statement id, parameter) come before the data.
    prepared.longData.set(param, {
      head: room > 0 ? Buffer.concat([held.head, data.subarray(0, room)]) : held.head,
      bytes: held.bytes + bytes - 7,
    });
  }

  #query(query: Omit<MysqlQuery, keyof EntrySubject | 'database'>): void {
    this.add(mysqlQueryEntry({ ...this.subject(), database: this.#database, ...query }));
  }

  #endInfile(outcome: 'done' | 'unfinished'): void {
    const infile = this.#infile ?? { packets: 0, bytes: 0 };
    this.#infile = null;
    this.add(mysqlCommandEntry(this.subject(), 'localInfile', { packets: infile.packets, bytes: infile.bytes, outcome }));
  }

  // ---- server → client --------------------------------------------------------------------------

  readonly #onServer = (message: Message): void => {
    const first = message.body[0];
    switch (this.#phase) {
      case 'greeting': {
        // A server that refuses at once (too many connections) sends an ERR and closes.
        if (first === Reply.error) return;
        const greeting = decodeGreeting(message.body);
        this.#connectionId = greeting.connectionId;
        this.#serverVersion = greeting.serverVersion;
        this.#phase = 'handshake';
        return;
      }
      case 'handshake':
        return;
      case 'auth':
        this.#lastSeq = message.lastSeq;
        if (first === Reply.ok) {
          this.#phase = 'command';
          this.#awaiting = null;
        }
        return;
      case 'command':
        this.#answer(message, first);
    }
  };

  /** The first packet of the answer to the command the client sent last: a statement id, a file request. */
  #answer(message: Message, first: number | undefined): void {
    const awaiting = this.#awaiting;
    if (!awaiting) return;
    this.#awaiting = null;
    // Not the start of this command's answer (a client sending commands before reading answers): nothing to learn.
    if (message.seq !== awaiting.replySeq) {
      if (awaiting.prepare) this.#unmappedPrepares++;
      return;
    }
    if (awaiting.prepare) {
      const ok = decodePrepareOk(message.body);
      // A server numbers a connection's statements upwards: an id not above the last is not this prepare's answer.
      if (ok && ok.statementId <= this.#lastNamed) {
        throw new MalformedMessage(`the server's answer to a prepare names statement ${ok.statementId}, not above the last one (${this.#lastNamed})`);
      }
      if (ok) {
        this.#lastNamed = ok.statementId;
        const prepared: Prepared = { ...awaiting.prepare, params: ok.params, types: null, longData: new Map(), longDataHeld: 0 };
        remember(this.#statements, ok.statementId, prepared);
        this.#lastPrepared = prepared;
      } else if (first !== Reply.error) {
        this.#unmappedPrepares++;
      }
      return;
    }
    if (awaiting.command === Command.query && first === Reply.localInfile) {
      this.#infile = { packets: 0, bytes: 0 };
      this.#lastSeq = message.lastSeq;
    }
  }
}

function longValue(head: Buffer, bytes: number): ParamValue {
  const text = head.toString('utf8');
  return head.length === bytes ? text : { text, bytes, truncated: true };
}
