// Numbers of the MySQL/MariaDB client/server protocol that the tunnel reads.
// https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html and
// https://mariadb.com/kb/en/clientserver-protocol/

/** Every packet starts with a 3-byte little-endian payload length and a 1-byte sequence id. */
export const PACKET_HEADER_BYTES = 4;
/**
 * A payload of exactly this many bytes continues in the next packet (the 16 MiB case): one
 * message is the payloads of its packets up to the first shorter one, which may be empty.
 */
export const MAX_PACKET_PAYLOAD_BYTES = 0xff_ffff;

/** The only handshake protocol version a server has sent since MySQL 3.21. */
export const HANDSHAKE_V10 = 10;

/** Capability flags (the ones the tunnel reads or changes). */
export const Capability = {
  longPassword: 0x0000_0001,
  longFlag: 0x0000_0004,
  connectWithDb: 0x0000_0008,
  compress: 0x0000_0020,
  protocol41: 0x0000_0200,
  ssl: 0x0000_0800,
  transactions: 0x0000_2000,
  secureConnection: 0x0000_8000,
  pluginAuth: 0x0008_0000,
  connectAttrs: 0x0010_0000,
  pluginAuthLenencClientData: 0x0020_0000,
  deprecateEof: 0x0100_0000,
  zstdCompression: 0x0400_0000,
  queryAttributes: 0x0800_0000,
} as const;

/**
 * What the broker takes out of the server's greeting before the client sees it, so the client
 * never asks for it: TLS (the client → broker leg is already inside the tunnel's TLS, and the
 * broker must read the statements), compression (a compressed stream is not readable packet by
 * packet) and MySQL 8's query attributes (they change COM_QUERY and COM_STMT_EXECUTE). A client
 * that asks for any of them anyway is refused (session-capture.ts).
 */
export const DECLINED_CAPABILITIES = Capability.ssl | Capability.compress | Capability.zstdCompression | Capability.queryAttributes;

/** The first byte of a server packet that is a whole answer, or a step of authentication. */
export const Reply = {
  ok: 0x00,
  authMoreData: 0x01,
  localInfile: 0xfb,
  authSwitch: 0xfe,
  error: 0xff,
} as const;

/** Command bytes: the first byte of each packet with sequence id 0 in the command phase. */
export const Command = {
  sleep: 0x00,
  quit: 0x01,
  initDb: 0x02,
  query: 0x03,
  fieldList: 0x04,
  createDb: 0x05,
  dropDb: 0x06,
  refresh: 0x07,
  shutdown: 0x08,
  statistics: 0x09,
  processInfo: 0x0a,
  connect: 0x0b,
  processKill: 0x0c,
  debug: 0x0d,
  ping: 0x0e,
  time: 0x0f,
  delayedInsert: 0x10,
  changeUser: 0x11,
  binlogDump: 0x12,
  tableDump: 0x13,
  connectOut: 0x14,
  registerSlave: 0x15,
  stmtPrepare: 0x16,
  stmtExecute: 0x17,
  stmtSendLongData: 0x18,
  stmtClose: 0x19,
  stmtReset: 0x1a,
  setOption: 0x1b,
  stmtFetch: 0x1c,
  daemon: 0x1d,
  binlogDumpGtid: 0x1e,
  resetConnection: 0x1f,
  /** MariaDB's array binding. */
  stmtBulkExecute: 0xfa,
} as const;

const COMMAND_NAMES = new Map<number, string>(Object.entries(Command).map(([name, code]) => [code, name]));

/** "query (0x03)", "0x99" for a byte that is no command. */
export function describeCommand(code: number): string {
  const hex = `0x${code.toString(16).padStart(2, '0')}`;
  const name = COMMAND_NAMES.get(code);
  return name ? `${name} (${hex})` : hex;
}

/** Column types of COM_STMT_EXECUTE parameters (enum_field_types). */
export const FieldType = {
  decimal: 0x00,
  tiny: 0x01,
  short: 0x02,
  long: 0x03,
  float: 0x04,
  double: 0x05,
  null: 0x06,
  timestamp: 0x07,
  longlong: 0x08,
  int24: 0x09,
  date: 0x0a,
  time: 0x0b,
  datetime: 0x0c,
  year: 0x0d,
  newdate: 0x0e,
  varchar: 0x0f,
  bit: 0x10,
  json: 0xf5,
  newdecimal: 0xf6,
  enum: 0xf7,
  set: 0xf8,
  tinyBlob: 0xf9,
  mediumBlob: 0xfa,
  longBlob: 0xfb,
  blob: 0xfc,
  varString: 0xfd,
  string: 0xfe,
  geometry: 0xff,
} as const;
