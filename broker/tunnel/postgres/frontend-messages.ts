// Decodes the content of the client messages the query log reads (framed by frontend-framer.ts):
// StartupMessage, Query, Parse, Bind, Execute, Close, FunctionCall. A body may be a prefix of the
// message (`cut`, see MAX_KEPT_MESSAGE_BYTES): then what it holds is decoded and the rest marked as
// not seen. A complete body whose fields do not fit it is malformed: MalformedMessage.
//
// Text is decoded as UTF-8, the encoding drivers and psql use almost everywhere; a client whose
// client_encoding is another one (pg.startup records it) has its non-ASCII text shown with U+FFFD.

import { CutShort, MalformedMessage, MessageReader } from '../message-reader.js';

/** A parameter value kept in full up to this many bytes; a longer one is cut (bulk data, documents). */
export const MAX_PARAM_VALUE_BYTES = 1024;

export interface StartupInfo {
  /** "3.0" */
  protocol: string;
  /** The database role (`user`), database (defaults to the role, as the server does) and application_name. */
  user: string | null;
  database: string | null;
  applicationName: string | null;
  clientEncoding: string | null;
}

/**
 * One Bind parameter as the log keeps it: text as a string, binary as `{ binary: hex }`, NULL as
 * null, and a value above MAX_PARAM_VALUE_BYTES as its prefix with `bytes` (the full size) and
 * `truncated`. Values are recorded as sent — a password set with a parameter is in the log — so
 * the log is readable by auditors only.
 */
export type ParamValue = string | null | { text: string; bytes: number; truncated: true } | { binary: string; bytes?: number; truncated?: true };

export interface Bind {
  portal: string;
  statement: string;
  params: ParamValue[];
  /** Parameters beyond the kept part of a very large Bind: counted, not shown. */
  paramsNotShown: number;
}

export interface Parse {
  statement: string;
  sql: string;
  /** The SQL is a prefix: the message was larger than what the log keeps. */
  sqlCut: boolean;
}

class Reader extends MessageReader {
  /** A NUL-terminated string; in a cut body, the rest of the body when its NUL is beyond the cut. */
  cstring(): { text: string; whole: boolean } {
    const end = this.buffer.indexOf(0, this.at);
    if (end === -1) {
      if (!this.cut) throw new MalformedMessage(`${this.what}: a string has no terminating NUL`);
      const text = this.buffer.toString('utf8', this.at);
      this.at = this.buffer.length;
      return { text, whole: false };
    }
    const text = this.buffer.toString('utf8', this.at, end);
    this.at = end + 1;
    return { text, whole: true };
  }

  /** A string the rest of the message depends on (a name): it must be whole. */
  name(): string {
    const { text, whole } = this.cstring();
    if (!whole) throw new CutShort();
    return text;
  }

  int16(): number {
    this.need(2);
    const value = this.buffer.readInt16BE(this.at);
    this.at += 2;
    return value;
  }

  int32(): number {
    this.need(4);
    const value = this.buffer.readInt32BE(this.at);
    this.at += 4;
    return value;
  }
}

/** StartupMessage parameters: pairs of NUL-terminated strings, then one NUL. Throws MalformedMessage. */
export function startupParameters(body: Buffer): Map<string, string> {
  const reader = new Reader(body, false, 'StartupMessage');
  const params = new Map<string, string>();
  for (;;) {
    const key = reader.name();
    if (key === '') break;
    params.set(key, reader.name());
  }
  return params;
}

export function decodeStartup(version: number, body: Buffer): StartupInfo {
  const params = startupParameters(body);
  const user = params.get('user') ?? null;
  return {
    protocol: `${version >>> 16}.${version & 0xffff}`,
    user,
    database: params.get('database') ?? user,
    applicationName: params.get('application_name') ?? null,
    clientEncoding: params.get('client_encoding') ?? null,
  };
}

/** Query: the SQL text, a prefix of it when the message was cut. */
export function decodeQuery(body: Buffer, cut: boolean): { sql: string; sqlCut: boolean } {
  const { text, whole } = new Reader(body, cut, 'Query').cstring();
  return { sql: text, sqlCut: !whole };
}

/** Parse: statement name and SQL (the parameter type oids that follow are not logged). */
export function decodeParse(body: Buffer, cut: boolean): Parse {
  const reader = new Reader(body, cut, 'Parse');
  try {
    const statement = reader.name();
    const { text, whole } = reader.cstring();
    return { statement, sql: text, sqlCut: !whole };
  } catch (error) {
    // A statement name longer than the kept part: not something a real client sends.
    if (error instanceof CutShort) throw new MalformedMessage('Parse: the statement name does not fit the message');
    throw error;
  }
}

/** Bind: portal, statement, and each parameter value with its format (0 text, 1 binary). */
export function decodeBind(body: Buffer, cut: boolean): Bind {
  const reader = new Reader(body, cut, 'Bind');
  const bind: Bind = { portal: '', statement: '', params: [], paramsNotShown: 0 };
  let declared = 0;
  try {
    bind.portal = reader.name();
    bind.statement = reader.name();
    const formatCount = reader.int16();
    const formats: number[] = [];
    for (let i = 0; i < formatCount; i++) formats.push(reader.int16());
    declared = reader.int16();
    if (formatCount > 1 && formatCount !== declared) {
      throw new MalformedMessage(`Bind: ${formatCount} parameter formats for ${declared} parameters`);
    }
    for (let i = 0; i < declared; i++) {
      const binary = (formatCount === 1 ? formats[0] : formats[i]) === 1;
      bind.params.push(paramValue(reader, binary));
    }
  } catch (error) {
    if (!(error instanceof CutShort)) throw error;
    bind.paramsNotShown = Math.max(0, declared - bind.params.length);
  }
  if (!cut) {
    // Result-column format codes follow the parameters; they must fit exactly.
    const resultFormats = reader.int16();
    if (reader.left !== resultFormats * 2) throw new MalformedMessage('Bind: the result formats do not fit the message');
  }
  return bind;
}

function paramValue(reader: Reader, binary: boolean): ParamValue {
  const length = reader.int32();
  if (length === -1) return null;
  if (length < 0) throw new MalformedMessage(`Bind: a parameter has the impossible length ${length}`);
  const shown = Math.min(length, MAX_PARAM_VALUE_BYTES);
  const available = Math.min(shown, reader.left);
  if (available < shown && !reader.cut) throw new MalformedMessage('Bind: a parameter value runs past the end of the message');
  const bytes = reader.buffer.subarray(reader.at, reader.at + available);
  const all = available === length;
  // The reader may stop here (a cut body): the value is shown as far as it was kept.
  reader.at += Math.min(length, reader.left);
  if (binary) return all ? { binary: bytes.toString('hex') } : { binary: bytes.toString('hex'), bytes: length, truncated: true };
  const text = bytes.toString('utf8');
  return all ? text : { text, bytes: length, truncated: true };
}

/** Execute: the portal (and the row limit, which the log does not need). */
export function decodeExecute(body: Buffer): { portal: string } {
  const reader = new Reader(body, false, 'Execute');
  const portal = reader.name();
  reader.int32();
  return { portal };
}

/** Close: a prepared statement ('S') or a portal ('P') by name. */
export function decodeClose(body: Buffer): { target: 'statement' | 'portal'; name: string } {
  const reader = new Reader(body, false, 'Close');
  if (reader.left < 1) throw new MalformedMessage('Close: empty');
  const kind = body[0];
  reader.at = 1;
  const name = reader.name();
  if (kind === 0x53) return { target: 'statement', name };
  if (kind === 0x50) return { target: 'portal', name };
  throw new MalformedMessage(`Close: unknown target byte 0x${(kind ?? 0).toString(16)}`);
}

/** FunctionCall (the fast-path interface libpq's large-object functions use): the function's oid. */
export function decodeFunctionCall(body: Buffer, cut: boolean): { functionOid: number } {
  const reader = new Reader(body, cut, 'FunctionCall');
  try {
    return { functionOid: reader.int32() >>> 0 };
  } catch (error) {
    if (error instanceof CutShort) throw new MalformedMessage('FunctionCall: too short');
    throw error;
  }
}
