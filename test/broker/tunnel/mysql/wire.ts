// MySQL packets as a client and a server send them, built by hand for the capture's tests.

import { Capability } from '../../../../broker/tunnel/mysql/codes.js';
import { packet } from '../../../../broker/tunnel/mysql/packets.js';

/** What a MariaDB 10.11 server offers, with TLS (the broker takes it out). */
export const SERVER_CAPABILITIES = 0xf7fe | Capability.ssl | (0x81bf << 16);
/** What a 4.1 client with plugin auth, attributes and a default database asks for. */
export const CLIENT_CAPABILITIES =
  Capability.protocol41 | Capability.secureConnection | Capability.pluginAuth | Capability.connectAttrs | Capability.pluginAuthLenencClientData;

const cstring = (text: string): Buffer => Buffer.from(`${text}\0`, 'utf8');
const lenenc = (bytes: Buffer): Buffer => Buffer.concat([Buffer.from([bytes.length]), bytes]);

/** Protocol::HandshakeV10 as a server sends it (seq 0). */
export function greeting(connectionId: number, capabilities = SERVER_CAPABILITIES): Buffer {
  const fixed = Buffer.alloc(4 + 8 + 1 + 2 + 1 + 2 + 2 + 1 + 10);
  let at = 0;
  at = fixed.writeUInt32LE(connectionId, at);
  fixed.fill(0x41, at, at + 8);
  at += 9;
  at = fixed.writeUInt16LE(capabilities & 0xffff, at);
  fixed[at++] = 45;
  at = fixed.writeUInt16LE(2, at);
  at = fixed.writeUInt16LE(capabilities >>> 16, at);
  fixed[at] = 21;
  return packet(
    0,
    Buffer.concat([Buffer.from([10]), cstring('10.11.19-MariaDB'), fixed, Buffer.alloc(12, 0x42), Buffer.from([0]), cstring('mysql_native_password')]),
  );
}

/** HandshakeResponse41 (seq 1). */
export function handshake(user: string, database: string | null, capabilities = CLIENT_CAPABILITIES): Buffer {
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE((capabilities | (database === null ? 0 : Capability.connectWithDb)) >>> 0, 0);
  fixed.writeUInt32LE(16 * 1024 * 1024, 4);
  fixed[8] = 45;
  const attrs = Buffer.concat([lenenc(Buffer.from('program_name')), lenenc(Buffer.from('rec-client'))]);
  return packet(
    1,
    Buffer.concat([
      fixed,
      cstring(user),
      lenenc(Buffer.alloc(20, 0x11)),
      database === null ? Buffer.alloc(0) : cstring(database),
      cstring('mysql_native_password'),
      lenenc(attrs),
    ]),
  );
}

/** The SSLRequest a client that wants TLS sends instead (seq 1, the 32-byte prefix). */
export function sslRequest(): Buffer {
  const fixed = Buffer.alloc(32);
  fixed.writeUInt32LE((CLIENT_CAPABILITIES | Capability.ssl) >>> 0, 0);
  return packet(1, fixed);
}

export const OK = (seq: number): Buffer => packet(seq, Buffer.from([0, 0, 0, 2, 0, 0, 0]));

/** A command packet (seq 0 unless told). */
export function command(code: number, payload: Buffer | string = Buffer.alloc(0), seq = 0): Buffer {
  return packet(seq, Buffer.concat([Buffer.from([code]), typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload]));
}

/** COM_STMT_PREPARE_OK for statement `id` with `params` parameters (seq 1). */
export function prepareOk(id: number, params: number): Buffer {
  const body = Buffer.alloc(12);
  body.writeUInt32LE(id, 1);
  body.writeUInt16LE(0, 5);
  body.writeUInt16LE(params, 7);
  return packet(1, body);
}

/** COM_STMT_EXECUTE of `id` binding a LONGLONG and a VAR_STRING (NULL when null). */
export function execute(id: number, n: bigint, text: string | null): Buffer {
  const head = Buffer.alloc(10);
  head[0] = 0x17;
  head.writeUInt32LE(id, 1);
  head.writeUInt32LE(1, 6);
  const nulls = Buffer.from([text === null ? 0b10 : 0]);
  const types = Buffer.from([0x08, 0, 0xfd, 0]);
  const value = Buffer.alloc(8);
  value.writeBigInt64LE(n);
  const values = text === null ? [value] : [value, lenenc(Buffer.from(text, 'utf8'))];
  return packet(0, Buffer.concat([head, nulls, Buffer.from([1]), types, ...values]));
}
