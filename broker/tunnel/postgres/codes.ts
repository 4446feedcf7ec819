// Numbers of the PostgreSQL frontend/backend protocol (version 3) that the tunnel reads.
// https://www.postgresql.org/docs/current/protocol-message-formats.html

/** Request codes of the untyped messages a client may open a connection with (int32 after the length). */
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** A StartupMessage's code is the protocol version: major in the high 16 bits (3), minor in the low. */
export const PROTOCOL_MAJOR_3 = 3;

/** SSLRequest and GSSENCRequest are exactly this long: length (4) + code (4). */
export const NEGOTIATION_REQUEST_BYTES = 8;
/** The server's one-byte answers: 'S' accepts an SSLRequest, 'N' declines an SSLRequest or a GSSENCRequest. */
export const SSL_ACCEPTED = 0x53; // 'S'
export const ENCRYPTION_DECLINED = 0x4e; // 'N'

/**
 * Longest startup packet PostgreSQL accepts (MAX_STARTUP_PACKET_LENGTH in its source): a longer
 * one is not a Postgres client.
 */
export const MAX_STARTUP_BYTES = 10_000;
/**
 * Longest typed message PostgreSQL accepts (PQ_LARGE_MESSAGE_LIMIT, 1 GiB - 1): a length above it
 * is not Postgres traffic.
 */
export const MAX_MESSAGE_BYTES = 0x3fff_ffff;

/** Frontend message type bytes after startup, by name. */
export const Frontend = {
  bind: 0x42, // 'B'
  close: 0x43, // 'C'
  copyData: 0x64, // 'd'
  copyDone: 0x63, // 'c'
  copyFail: 0x66, // 'f'
  describe: 0x44, // 'D'
  execute: 0x45, // 'E'
  flush: 0x48, // 'H'
  functionCall: 0x46, // 'F'
  parse: 0x50, // 'P'
  /** PasswordMessage, SASLInitialResponse, SASLResponse, GSSResponse: secrets, never read. */
  password: 0x70, // 'p'
  query: 0x51, // 'Q'
  sync: 0x53, // 'S'
  terminate: 0x58, // 'X'
} as const;

/** Every type byte a client may send after startup (protocol 3.0 to 3.2). */
export const FRONTEND_TYPES: ReadonlySet<number> = new Set(Object.values(Frontend));

/** "SSLRequest" or "GSSENCRequest" for an encryption request's code, in refusal reasons. */
export function describeRequest(code: number): string {
  return code === GSSENC_REQUEST_CODE ? 'GSSENCRequest' : 'SSLRequest';
}

/** "0x41 ('A')" for a message type byte, in refusal reasons. */
export function describeType(type: number): string {
  const hex = `0x${type.toString(16).padStart(2, '0')}`;
  return type >= 0x20 && type < 0x7f ? `${hex} ('${String.fromCharCode(type)}')` : hex;
}
