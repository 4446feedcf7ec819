// Decodes the MySQL/MariaDB messages the query log and the broker read: the server's greeting, the
// client's HandshakeResponse41, the commands the log records (COM_QUERY, COM_STMT_PREPARE,
// COM_STMT_EXECUTE with its parameters, COM_INIT_DB, COM_CHANGE_USER, …) and the server's answer
// to a COM_STMT_PREPARE. A body may be a prefix of the message (`cut`, see MAX_KEPT_MESSAGE_BYTES
// in session-capture.ts): what it holds is decoded and the rest marked as not seen. A complete body
// whose fields do not fit it is malformed: MalformedMessage.
//
// Text is decoded as UTF-8 (utf8mb4 is the default character set of MySQL 8 and MariaDB 11, and
// what drivers send); other character sets show their non-ASCII text as U+FFFD.

import type { ParamValue } from '../postgres/frontend-messages.js';
import { MAX_PARAM_VALUE_BYTES } from '../postgres/frontend-messages.js';
import { Capability, FieldType, HANDSHAKE_V10, Reply } from './codes.js';
import { CutShort, MalformedMessage, MessageReader } from '../message-reader.js';

/** What the server said about itself in its first packet. */
export interface Greeting {
  serverVersion: string;
  /** The server's id of this connection: what `KILL QUERY` names. */
  connectionId: number;
  /** The 20-byte nonce the client's password proof is computed with. */
  scramble: Buffer;
  capabilities: number;
  /** The authentication plugin the server proposes (mysql_native_password unless it names another). */
  authPlugin: string;
  /** Where the two capability words sit in the packet's payload (to change them). */
  capabilityOffsets: { lower: number; upper: number };
}

/** What the client said in its HandshakeResponse41. */
export interface HandshakeResponse {
  capabilities: number;
  /** An SSLRequest: the 32-byte prefix of a HandshakeResponse asking for TLS, nothing after. */
  sslRequest: boolean;
  user: string;
  database: string | null;
  authPlugin: string | null;
  /** The connection attributes `program_name` and `_client_name`, when sent. */
  program: string | null;
}

class Reader extends MessageReader {
  int(bytes: 1 | 2 | 3 | 4 | 6): number {
    this.need(bytes);
    const value = this.buffer.readUIntLE(this.at, bytes);
    this.at += bytes;
    return value;
  }

  bytes(count: number): Buffer {
    this.need(count);
    const value = this.buffer.subarray(this.at, this.at + count);
    this.at += count;
    return value;
  }

  /** A length-encoded integer; as a number (lengths above 2^53 are not real). */
  lenenc(): number {
    const first = this.int(1);
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.int(2);
    if (first === 0xfd) return this.int(3);
    if (first === 0xfe) {
      this.need(8);
      const value = this.buffer.readBigUInt64LE(this.at);
      this.at += 8;
      if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new MalformedMessage(`${this.what}: a length of ${value} bytes`);
      return Number(value);
    }
    throw new MalformedMessage(`${this.what}: 0x${first.toString(16)} is not a length-encoded integer`);
  }

  /** A NUL-terminated string that must be whole. */
  cstring(): string {
    const end = this.buffer.indexOf(0, this.at);
    if (end === -1) {
      if (this.cut) throw new CutShort();
      throw new MalformedMessage(`${this.what}: a string has no terminating NUL`);
    }
    const text = this.buffer.toString('utf8', this.at, end);
    this.at = end + 1;
    return text;
  }

  /** The rest of the message as text: a prefix when the body is cut. */
  rest(): { text: string; whole: boolean } {
    const text = this.buffer.toString('utf8', this.at);
    this.at = this.buffer.length;
    return { text, whole: !this.cut };
  }
}

/** The server's first packet (Protocol::HandshakeV10). */
export function decodeGreeting(body: Buffer): Greeting {
  const reader = new Reader(body, false, 'the server greeting');
  const version = reader.int(1);
  if (version !== HANDSHAKE_V10) throw new MalformedMessage(`the server greeting has protocol version ${version}, not ${HANDSHAKE_V10}`);
  const serverVersion = reader.cstring();
  const connectionId = reader.int(4);
  const part1 = reader.bytes(8);
  reader.int(1);
  const lower = reader.at;
  let capabilities = reader.int(2);
  let authPlugin = 'mysql_native_password';
  let scramble = part1;
  let upper = -1;
  if (reader.left > 0) {
    reader.int(1); // character set
    reader.int(2); // status
    upper = reader.at;
    capabilities = (capabilities | (reader.int(2) << 16)) >>> 0;
    const dataLength = reader.int(1);
    reader.bytes(10);
    if (capabilities & Capability.secureConnection) {
      const part2 = reader.bytes(Math.max(13, dataLength - 8));
      // The 20-byte scramble ends with a NUL the server adds.
      scramble = Buffer.concat([part1, part2.subarray(0, part2.length - 1)]);
    }
    if (capabilities & Capability.pluginAuth) {
      const end = body.indexOf(0, reader.at);
      authPlugin = body.toString('latin1', reader.at, end === -1 ? body.length : end);
    }
  }
  return { serverVersion, connectionId, scramble, capabilities, authPlugin, capabilityOffsets: { lower, upper } };
}

/** A copy of the greeting's payload with `declined` capabilities cleared, so the client does not ask for them. */
export function withoutCapabilities(body: Buffer, greeting: Greeting, declined: number): Buffer {
  const copy = Buffer.from(body);
  const { lower, upper } = greeting.capabilityOffsets;
  copy.writeUInt16LE(copy.readUInt16LE(lower) & ~declined & 0xffff, lower);
  if (upper >= 0) copy.writeUInt16LE(copy.readUInt16LE(upper) & ~(declined >>> 16) & 0xffff, upper);
  return copy;
}

/** The fixed part of a HandshakeResponse41 and of an SSLRequest: capabilities, max packet, charset, 23 reserved. */
const HANDSHAKE_FIXED_BYTES = 32;

/** The client's HandshakeResponse41 (or SSLRequest). */
export function decodeHandshakeResponse(body: Buffer): HandshakeResponse {
  const reader = new Reader(body, false, 'the client handshake');
  const capabilities = reader.int(4);
  if (!(capabilities & Capability.protocol41))
    throw new MalformedMessage('the client handshake is the pre-4.1 format (HandshakeResponse320), which the broker does not read');
  reader.bytes(HANDSHAKE_FIXED_BYTES - 4);
  if (reader.left === 0 && capabilities & Capability.ssl) {
    return { capabilities, sslRequest: true, user: '', database: null, authPlugin: null, program: null };
  }
  const user = reader.cstring();
  if (capabilities & Capability.pluginAuthLenencClientData) reader.bytes(reader.lenenc());
  else if (capabilities & Capability.secureConnection) reader.bytes(reader.int(1));
  else reader.cstring();
  const database = capabilities & Capability.connectWithDb && reader.left > 0 ? reader.cstring() : null;
  const authPlugin = capabilities & Capability.pluginAuth && reader.left > 0 ? reader.cstring() : null;
  let program: string | null = null;
  if (capabilities & Capability.connectAttrs && reader.left > 0) {
    const attributes = new Reader(reader.bytes(reader.lenenc()), false, 'the client handshake attributes');
    const found = new Map<string, string>();
    while (attributes.left > 0) {
      const key = attributes.bytes(attributes.lenenc()).toString('utf8');
      found.set(key, attributes.bytes(attributes.lenenc()).toString('utf8'));
    }
    program = found.get('program_name') ?? found.get('_client_name') ?? null;
  }
  return { capabilities, sslRequest: false, user, database: database || null, authPlugin, program };
}

/** What the broker puts in a client's handshake when it logs in with a stored credential. */
export interface Login {
  user: string;
  /** The password proof for `plugin` and the greeting's nonce (auth.ts). */
  proof: Buffer;
  plugin: string;
  /** The database when the client named none (the resource's default), else null. */
  database: string | null;
}

/**
 * The client's HandshakeResponse41 with the broker's login in it: the stored user, the broker's
 * proof for the greeting's plugin and, when the client named no database, the resource's. Its
 * capabilities, character set and connection attributes stay the client's.
 */
export function withLogin(body: Buffer, login: Login): Buffer {
  const reader = new Reader(body, false, 'the client handshake');
  let capabilities = reader.int(4);
  if (!(capabilities & Capability.secureConnection))
    throw new MalformedMessage('the client handshake has no length-prefixed auth data (CLIENT_SECURE_CONNECTION), which every 4.1 client sends');
  const fixed = Buffer.from(body.subarray(0, HANDSHAKE_FIXED_BYTES));
  reader.bytes(HANDSHAKE_FIXED_BYTES - 4);
  reader.cstring();
  if (capabilities & Capability.pluginAuthLenencClientData) reader.bytes(reader.lenenc());
  else reader.bytes(reader.int(1));
  const asked = capabilities & Capability.connectWithDb && reader.left > 0 ? reader.cstring() : '';
  if (capabilities & Capability.pluginAuth && reader.left > 0) reader.cstring();
  // Connection attributes (and anything after them) as the client sent them.
  const rest = body.subarray(reader.at);
  const database = asked || login.database || '';
  if (database) capabilities |= Capability.connectWithDb;
  else capabilities &= ~Capability.connectWithDb;
  capabilities |= Capability.pluginAuth;
  fixed.writeUInt32LE(capabilities >>> 0, 0);
  const proof =
    capabilities & Capability.pluginAuthLenencClientData ? lenencBytes(login.proof) : Buffer.concat([Buffer.from([login.proof.length]), login.proof]);
  const nul = Buffer.from([0]);
  return Buffer.concat([
    fixed,
    Buffer.from(login.user, 'utf8'),
    nul,
    proof,
    ...(database ? [Buffer.from(database, 'utf8'), nul] : []),
    Buffer.from(login.plugin, 'latin1'),
    nul,
    rest,
  ]);
}

/** A short byte string with its length-encoded length (proofs are 20 or 32 bytes). */
function lenencBytes(bytes: Buffer): Buffer {
  if (bytes.length >= 0xfb) throw new RangeError('a proof longer than 250 bytes');
  return Buffer.concat([Buffer.from([bytes.length]), bytes]);
}

/** COM_QUERY, COM_STMT_PREPARE, COM_INIT_DB…: the text after the command byte. */
export function decodeText(body: Buffer, cut: boolean): { text: string; textCut: boolean } {
  const { text, whole } = new Reader(body.subarray(1), cut, 'the command').rest();
  return { text, textCut: !whole };
}

/** COM_STMT_CLOSE, COM_STMT_RESET, COM_PROCESS_KILL, COM_STMT_FETCH: the 4-byte id after the command byte. */
export function decodeId(body: Buffer, what: string): number {
  const reader = new Reader(body, false, what);
  reader.int(1);
  return reader.int(4);
}

/** COM_STMT_SEND_LONG_DATA: which parameter of which statement, and the data's bytes so far. */
export function decodeLongData(body: Buffer): { statementId: number; param: number; data: Buffer } {
  const reader = new Reader(body, true, 'COM_STMT_SEND_LONG_DATA');
  try {
    reader.int(1);
    return { statementId: reader.int(4), param: reader.int(2), data: reader.buffer.subarray(reader.at) };
  } catch (error) {
    if (error instanceof CutShort) throw new MalformedMessage('COM_STMT_SEND_LONG_DATA: too short');
    throw error;
  }
}

/** COM_CHANGE_USER: the new user and default database (the auth data between them is skipped). */
export function decodeChangeUser(body: Buffer, capabilities: number): { user: string; database: string | null } {
  const reader = new Reader(body, false, 'COM_CHANGE_USER');
  reader.int(1);
  const user = reader.cstring();
  if (capabilities & Capability.secureConnection) reader.bytes(reader.int(1));
  else reader.cstring();
  const database = reader.cstring();
  return { user, database: database || null };
}

/** The server's COM_STMT_PREPARE_OK: the statement id later commands name, and its parameter count. */
export function decodePrepareOk(body: Buffer): { statementId: number; params: number } | null {
  if (body[0] !== Reply.ok || body.length < 12) return null;
  return { statementId: body.readUInt32LE(1), params: body.readUInt16LE(7) };
}

/** A parameter's type as COM_STMT_EXECUTE sends it: the type byte and whether it is unsigned. */
export interface ParamType {
  type: number;
  unsigned: boolean;
}

export interface Execute {
  statementId: number;
  params: ParamValue[];
  /** Parameters whose values were not shown (a very large execute, or types never seen). */
  paramsNotShown: number;
  /** The types the client bound with this execute (new_params_bound_flag), for later ones that reuse them. */
  types: ParamType[] | null;
}

/** The statement id of a COM_STMT_EXECUTE, before its parameters are read. */
export function executeStatementId(body: Buffer): number {
  return decodeId(body, 'COM_STMT_EXECUTE');
}

/**
 * COM_STMT_EXECUTE of a statement with `count` parameters (from its PREPARE_OK). `bound` are the
 * types of an earlier execute, used when this one does not send them; `longData` the values sent
 * with COM_STMT_SEND_LONG_DATA, which the execute itself does not carry.
 */
export function decodeExecute(body: Buffer, cut: boolean, count: number, bound: ParamType[] | null, longData: ReadonlyMap<number, ParamValue>): Execute {
  const reader = new Reader(body, cut, 'COM_STMT_EXECUTE');
  reader.int(1);
  const execute: Execute = { statementId: reader.int(4), params: [], paramsNotShown: 0, types: null };
  reader.int(1); // flags (cursor type)
  reader.int(4); // iteration count, always 1
  if (count === 0) return execute;
  try {
    const nulls = reader.bytes(Math.ceil(count / 8));
    const newTypes = reader.int(1) === 1;
    let types = bound;
    if (newTypes) {
      types = [];
      for (let i = 0; i < count; i++) types.push({ type: reader.int(1), unsigned: (reader.int(1) & 0x80) !== 0 });
      execute.types = types;
    }
    if (types === null) throw new MalformedMessage('COM_STMT_EXECUTE: parameter values without their types (none were bound before)');
    for (let i = 0; i < count; i++) {
      const isNull = ((nulls[i >> 3] as number) & (1 << (i & 7))) !== 0;
      const long = longData.get(i);
      if (isNull) execute.params.push(null);
      else if (long !== undefined) execute.params.push(long);
      else execute.params.push(paramValue(reader, types[i] as ParamType));
    }
  } catch (error) {
    if (!(error instanceof CutShort)) throw error;
    execute.paramsNotShown = count - execute.params.length;
  }
  return execute;
}

/** One bound value of a binary-protocol execute, as text (numbers and dates as MySQL would print them). */
function paramValue(reader: Reader, { type, unsigned }: ParamType): ParamValue {
  switch (type) {
    case FieldType.null:
      return null;
    case FieldType.tiny:
      return String(unsigned ? reader.int(1) : reader.bytes(1).readInt8(0));
    case FieldType.short:
    case FieldType.year:
      return String(unsigned ? reader.int(2) : reader.bytes(2).readInt16LE(0));
    case FieldType.long:
    case FieldType.int24:
      return String(unsigned ? reader.int(4) : reader.bytes(4).readInt32LE(0));
    case FieldType.longlong: {
      const bytes = reader.bytes(8);
      return String(unsigned ? bytes.readBigUInt64LE(0) : bytes.readBigInt64LE(0));
    }
    case FieldType.float:
      return String(reader.bytes(4).readFloatLE(0));
    case FieldType.double:
      return String(reader.bytes(8).readDoubleLE(0));
    case FieldType.date:
    case FieldType.datetime:
    case FieldType.timestamp:
      return dateTime(reader.bytes(reader.int(1)));
    case FieldType.time:
      return time(reader.bytes(reader.int(1)));
    default:
      // Strings, decimals, blobs, JSON, bits: a length-encoded string.
      return text(reader, reader.lenenc());
  }
}

function text(reader: Reader, length: number): ParamValue {
  const available = Math.min(length, reader.left);
  if (available < length && !reader.cut) throw new MalformedMessage('COM_STMT_EXECUTE: a parameter value runs past the end of the message');
  const shown = Math.min(length, MAX_PARAM_VALUE_BYTES);
  // Cut before the part shown: this value and the ones after it are counted as not shown.
  if (available < shown) throw new CutShort();
  const value = reader.buffer.toString('utf8', reader.at, reader.at + shown);
  reader.at += available;
  return shown === length ? value : { text: value, bytes: length, truncated: true };
}

const pad = (value: number, width = 2): string => String(value).padStart(width, '0');

/** MYSQL_TIME of a DATE/DATETIME/TIMESTAMP: 0, 4, 7 or 11 bytes. */
function dateTime(bytes: Buffer): string {
  if (bytes.length === 0) return '0000-00-00 00:00:00';
  if (bytes.length < 4) throw new MalformedMessage(`COM_STMT_EXECUTE: a ${bytes.length}-byte date`);
  const date = `${pad(bytes.readUInt16LE(0), 4)}-${pad(bytes[2] as number)}-${pad(bytes[3] as number)}`;
  if (bytes.length < 7) return date;
  const clock = `${pad(bytes[4] as number)}:${pad(bytes[5] as number)}:${pad(bytes[6] as number)}`;
  return `${date} ${clock}${bytes.length >= 11 ? `.${pad(bytes.readUInt32LE(7), 6)}` : ''}`;
}

/** MYSQL_TIME of a TIME: 0, 8 or 12 bytes (sign, days, h, m, s, µs). */
function time(bytes: Buffer): string {
  if (bytes.length === 0) return '00:00:00';
  if (bytes.length < 8) throw new MalformedMessage(`COM_STMT_EXECUTE: a ${bytes.length}-byte time`);
  const hours = bytes.readUInt32LE(1) * 24 + (bytes[5] as number);
  const clock = `${bytes[0] ? '-' : ''}${pad(hours)}:${pad(bytes[6] as number)}:${pad(bytes[7] as number)}`;
  return bytes.length >= 12 ? `${clock}.${pad(bytes.readUInt32LE(8), 6)}` : clock;
}
