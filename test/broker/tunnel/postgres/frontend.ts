// Postgres frontend messages built byte by byte, for what the recorded sessions (recorded.ts) do
// not show: passwords, portals fetched in parts, Close, huge messages, and broken framing.

const NUL = Buffer.from([0]);

function cstring(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), NUL]);
}

function int16(value: number): Buffer {
  const bytes = Buffer.alloc(2);
  bytes.writeInt16BE(value);
  return bytes;
}

function int32(value: number): Buffer {
  const bytes = Buffer.alloc(4);
  bytes.writeInt32BE(value);
  return bytes;
}

/** A typed message: type byte, int32 length (itself included), content. */
export function message(type: string, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from(type, 'latin1'), int32(body.length + 4), body]);
}

export function startup(params: Record<string, string>): Buffer {
  const body = Buffer.concat([int32(3 << 16), ...Object.entries(params).flatMap(([key, value]) => [cstring(key), cstring(value)]), NUL]);
  return Buffer.concat([int32(body.length + 4), body]);
}

export function sslRequest(): Buffer {
  return Buffer.concat([int32(8), int32(80877103)]);
}

export function gssencRequest(): Buffer {
  return Buffer.concat([int32(8), int32(80877104)]);
}

export function cancelRequest(pid: number, secret: number): Buffer {
  return Buffer.concat([int32(16), int32(80877102), int32(pid), int32(secret)]);
}

export const query = (sql: string): Buffer => message('Q', cstring(sql));
export const parse = (statement: string, sql: string): Buffer => message('P', cstring(statement), cstring(sql), int16(0));
export const execute = (portal: string, maxRows = 0): Buffer => message('E', cstring(portal), int32(maxRows));
export const sync = (): Buffer => message('S');
export const terminate = (): Buffer => message('X');
export const password = (secret: string): Buffer => message('p', cstring(secret));
export const copyData = (bytes: Buffer): Buffer => message('d', bytes);
export const copyDone = (): Buffer => message('c');
export const copyFail = (why: string): Buffer => message('f', cstring(why));
export const close = (what: 'S' | 'P', name: string): Buffer => message('C', Buffer.from(what), cstring(name));
export const functionCall = (oid: number): Buffer => message('F', int32(oid), int16(0), int16(0), int16(0));

/** Bind with one format per parameter: a Buffer is sent in binary, a string as text, null as NULL. */
export function bind(portal: string, statement: string, values: Array<string | Buffer | null>): Buffer {
  const formats = values.map((value) => int16(Buffer.isBuffer(value) ? 1 : 0));
  const params = values.map((value) => {
    if (value === null) return int32(-1);
    const bytes = Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
    return Buffer.concat([int32(bytes.length), bytes]);
  });
  return message('B', cstring(portal), cstring(statement), int16(values.length), ...formats, int16(values.length), ...params, int16(0));
}
