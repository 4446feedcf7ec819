// TLS for MySQL/MariaDB clients that insist on it (`mariadb --ssl`, `mysql --ssl-mode=REQUIRED`, a
// driver given `ssl: {…}`), terminated by `access connect` itself, as local-tls.ts does for Postgres.
// The broker takes CLIENT_SSL out of the server's greeting so it can read every statement; this
// module, on the CLI's side of the tunnel, puts it back into the greeting the local client sees.
// A client that then asks for TLS (an SSLRequest: the 32-byte short HandshakeResponse with
// CLIENT_SSL, sequence id 1) gets it on the loopback; its real HandshakeResponse41 then comes inside
// TLS with sequence id 2, and goes up the tunnel as sequence id 1 without CLIENT_SSL: the broker sees
// the conversation of a client that never asked for TLS. Until the server's OK (or ERR) ends the
// handshake, every packet's sequence id is shifted by one: down +1, up -1. The command phase numbers
// each command from 0 again, so from there the bytes pass unchanged.
//
// A client on TLS sends its password in the clear when the server asks for it that way
// (caching_sha2_password's full authentication, a switch to mysql_clear_password or
// sha256_password), but the broker's leg to the database is plaintext: such an answer is not sent
// up, and the connection ends saying why.
//
// A client that does not ask for TLS is relayed unchanged (it sees CLIENT_SSL offered, as a server
// offers it). A first client packet that is no handshake ends the connection with the reason.
//
// This is the pure part: bytes in, bytes out, and when to start TLS (mysql-local-end.ts does the I/O).

/** Every packet starts with a 3-byte little-endian payload length and a 1-byte sequence id. */
const HEADER_BYTES = 4;
/** The only greeting (HandshakeV10) a server has sent since MySQL 3.21. */
const HANDSHAKE_V10 = 10;
/** A greeting is about a hundred bytes; a longer first packet is not a MySQL server's. */
const MAX_GREETING_BYTES = 1024;
/** A handshake with its connection attributes is a few hundred bytes; MySQL caps attributes at 64 KiB. */
const MAX_HANDSHAKE_BYTES = 70 * 1024;
/** An SSLRequest: capabilities, max packet size, character set, 23 reserved bytes. */
const SSL_REQUEST_BYTES = 32;
const CLIENT_PROTOCOL_41 = 0x0000_0200;
const CLIENT_SSL = 0x0000_0800;
/** The first byte of the server packets that end authentication. */
const OK = 0x00;
const ERR = 0xff;

export class MysqlHandshakeError extends Error {
  /** An ERR packet to send the client before the connection ends, when it is one that can show it. */
  readonly answer: Buffer | null;

  constructor(message: string, answer: Buffer | null = null) {
    super(message);
    this.answer = answer;
  }
}

/** ER_HANDSHAKE_ERROR and its SQLSTATE: what the client shows for a handshake the listener ends. */
const HANDSHAKE_ERRNO = 1043;
const HANDSHAKE_SQLSTATE = '08S01';

/** An ERR packet (protocol 4.1) with `message`. */
function errorPacket(seq: number, message: string): Buffer {
  const head = Buffer.alloc(3);
  head[0] = ERR;
  head.writeUInt16LE(HANDSHAKE_ERRNO, 1);
  return packet(seq, Buffer.concat([head, Buffer.from(`#${HANDSHAKE_SQLSTATE}${message}`, 'utf8')]));
}

export type Phase =
  /** Waiting for the server's greeting (it speaks first). */
  | 'greeting'
  /** The client saw TLS offered; its first packet decides. */
  | 'offered'
  /** The client's SSLRequest was read: what it sends next is its TLS handshake (the caller starts TLS). */
  | 'tls'
  /** Inside TLS, before the client's HandshakeResponse41. */
  | 'response'
  /** Inside TLS, authentication: sequence ids shifted until the server's OK or ERR. */
  | 'auth'
  /** Unchanged from here on, both ways. */
  | 'relay';

export interface UpResult {
  /** Bytes to send up the tunnel. */
  forward: Buffer;
  /** Set once, with the SSLRequest: start TLS on the client's socket; `rest` is the client's TLS already. */
  startTls?: { rest: Buffer };
}

const EMPTY = Buffer.alloc(0);

/** One packet: header and payload. */
function packet(seq: number, payload: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = seq & 0xff;
  return Buffer.concat([header, payload]);
}

/** The offset of the greeting's lower capability word, or -1 when `payload` is no HandshakeV10. */
function capabilityOffset(payload: Buffer): number {
  if (payload[0] !== HANDSHAKE_V10) return -1;
  const versionEnd = payload.indexOf(0, 1);
  if (versionEnd < 0) return -1;
  // Version NUL, connection id (4), the scramble's first 8 bytes, a filler byte.
  const offset = versionEnd + 1 + 4 + 8 + 1;
  return offset + 2 <= payload.length ? offset : -1;
}

/** Of each packet in authentication, the first bytes are kept: enough for an auth switch's plugin name. */
const HEAD_BYTES = 64;
/** caching_sha2_password's "perform full authentication": a client on TLS answers with its password in the clear. */
const FULL_AUTHENTICATION = Buffer.from([0x01, 0x04]);
const AUTH_SWITCH = 0xfe;
/** Plugins a client on TLS sends its password to in the clear. */
const CLEARTEXT_PLUGINS: ReadonlySet<string> = new Set(['mysql_clear_password', 'sha256_password']);

/**
 * Shifts the sequence id of every packet in a byte stream by `by`, chunk by chunk, and tells
 * `onPacket` each packet's first payload bytes (HEAD_BYTES at most) once its packet has ended.
 */
class Renumber {
  readonly #by: number;
  readonly #header = Buffer.alloc(HEADER_BYTES);
  #fill = 0;
  /** Payload bytes of the current packet still to pass. */
  #left = 0;
  readonly #head = Buffer.alloc(HEAD_BYTES);
  #headFill = 0;
  #inPacket = false;
  #length = 0;
  #seq = 0;

  constructor(by: number) {
    this.#by = by;
  }

  /**
   * Rewrites `chunk` from `at`; stops after the packet for which `onPacket` returns true and
   * returns where it stopped (chunk.length when all of it was read).
   */
  push(chunk: Buffer, at: number, out: Buffer[], onPacket: (seq: number, head: Buffer, length: number) => boolean): number {
    let i = at;
    while (i < chunk.length) {
      if (!this.#inPacket) {
        const take = Math.min(HEADER_BYTES - this.#fill, chunk.length - i);
        chunk.copy(this.#header, this.#fill, i, i + take);
        this.#fill += take;
        i += take;
        if (this.#fill < HEADER_BYTES) return i;
        this.#fill = 0;
        this.#length = this.#header.readUIntLE(0, 3);
        const seq = this.#header[3] as number;
        const shifted = (seq + this.#by) & 0xff;
        const header = Buffer.from(this.#header);
        header[3] = shifted;
        out.push(header);
        this.#left = this.#length;
        this.#headFill = 0;
        this.#inPacket = true;
        this.#seq = seq;
      }
      const take = Math.min(this.#left, chunk.length - i);
      if (take > 0) {
        const keep = Math.min(HEAD_BYTES - this.#headFill, take);
        if (keep > 0) this.#headFill += chunk.copy(this.#head, this.#headFill, i, i + keep);
        out.push(chunk.subarray(i, i + take));
        this.#left -= take;
        i += take;
      }
      if (this.#left === 0) {
        this.#inPacket = false;
        if (onPacket(this.#seq, this.#head.subarray(0, this.#headFill), this.#length)) return i;
      }
    }
    return i;
  }
}

/** What in a server's authentication packet makes a client on TLS answer with its password in the clear; null for anything else. */
function asksForCleartext(head: Buffer, length: number): string | null {
  if (length === FULL_AUTHENTICATION.length && head.equals(FULL_AUTHENTICATION)) return "caching_sha2_password's full authentication";
  if (head[0] !== AUTH_SWITCH) return null;
  const end = head.indexOf(0, 1);
  const plugin = head.subarray(1, end < 0 ? head.length : end).toString('latin1');
  return CLEARTEXT_PLUGINS.has(plugin) ? `a switch to ${plugin}` : null;
}

/** Collects one whole packet from a stream; null until it is complete. */
class OnePacket {
  #held: Buffer = EMPTY;

  /**
   * Adds `chunk`; the packet and what follows it once whole, else null; 'refused' when `accept`
   * says no to its header (what was added stays held: take()).
   */
  push(chunk: Buffer, accept: (seq: number, length: number) => boolean): { seq: number; payload: Buffer; rest: Buffer } | null | 'refused' {
    this.#held = this.#held.length === 0 ? Buffer.from(chunk) : Buffer.concat([this.#held, chunk]);
    if (this.#held.length < HEADER_BYTES) return null;
    const length = this.#held.readUIntLE(0, 3);
    const seq = this.#held[3] as number;
    if (!accept(seq, length)) return 'refused';
    const end = HEADER_BYTES + length;
    if (this.#held.length < end) return null;
    const whole = this.#held;
    this.#held = EMPTY;
    return { seq, payload: whole.subarray(HEADER_BYTES, end), rest: whole.subarray(end) };
  }

  /** The bytes held, given back. */
  take(): Buffer {
    const held = this.#held;
    this.#held = EMPTY;
    return held;
  }
}

/**
 * One client connection's handshake: `down` for the server's bytes (coming down the tunnel),
 * `up` for the client's (plaintext, from inside TLS once it started). Throws MysqlHandshakeError
 * on a client that is not speaking MySQL.
 */
export class MysqlTlsOffer {
  #phase: Phase = 'greeting';
  readonly #greeting = new OnePacket();
  readonly #first = new OnePacket();
  readonly #down = new Renumber(1);
  readonly #up = new Renumber(-1);
  /** What the server asked for that makes a client on TLS send its password in the clear, once it did. */
  #cleartextAsked: string | null = null;
  /** The sequence id, as the server numbered it, of the packet that asked. */
  #cleartextAskedSeq = 0;

  get phase(): Phase {
    return this.#phase;
  }

  /** The server's bytes as the client must see them. */
  down(chunk: Buffer): Buffer {
    switch (this.#phase) {
      case 'greeting':
        return this.#downGreeting(chunk);
      case 'auth': {
        const out: Buffer[] = [];
        const at = this.#down.push(chunk, 0, out, (seq, head, length) => {
          // OK or ERR: authentication is over (a whole answer, not a 16 MiB packet continued).
          if ((head[0] === OK || head[0] === ERR) && length < 0xff_ffff) this.#phase = 'relay';
          else if (this.#cleartextAsked === null) {
            this.#cleartextAsked = asksForCleartext(head, length);
            this.#cleartextAskedSeq = seq;
          }
          return this.#phase === 'relay';
        });
        if (at < chunk.length) out.push(chunk.subarray(at));
        return Buffer.concat(out);
      }
      default:
        // Between the greeting and the client's handshake a server says nothing; in the command phase nothing changes.
        return chunk;
    }
  }

  #downGreeting(chunk: Buffer): Buffer {
    const greeting = this.#greeting.push(chunk, (_seq, length) => length <= MAX_GREETING_BYTES);
    if (greeting === 'refused') {
      // Not a greeting: passed on as it is, and everything after it.
      this.#phase = 'relay';
      return this.#greeting.take();
    }
    if (!greeting) return EMPTY;
    const offset = capabilityOffset(greeting.payload);
    const payload = Buffer.from(greeting.payload);
    if (offset < 0 || !(payload.readUInt16LE(offset) & CLIENT_PROTOCOL_41)) {
      // Not a greeting this module can offer TLS in (an ERR: too many connections): passed on as it is.
      this.#phase = 'relay';
      return Buffer.concat([packet(greeting.seq, payload), greeting.rest]);
    }
    payload.writeUInt16LE(payload.readUInt16LE(offset) | CLIENT_SSL, offset);
    this.#phase = 'offered';
    return Buffer.concat([packet(greeting.seq, payload), greeting.rest]);
  }

  /** The client's bytes as the broker must see them. */
  up(chunk: Buffer): UpResult {
    switch (this.#phase) {
      case 'greeting':
        // A client that speaks before the server: the broker refuses it (it reads the stream itself).
        this.#phase = 'relay';
        return { forward: chunk };
      case 'offered':
        return this.#upFirst(chunk);
      case 'tls':
        this.#phase = 'response';
        return this.#upResponse(chunk);
      case 'response':
        return this.#upResponse(chunk);
      case 'auth': {
        if (this.#cleartextAsked !== null && chunk.length > 0) {
          // What the client sends now is its password in the clear: it must not reach the broker's plaintext leg to the database.
          const why = `the server asked for ${this.#cleartextAsked}, to which a client on TLS sends its password in the clear, and the broker's connection to the database is not TLS; connect without TLS (--ssl-mode=DISABLED, --skip-ssl), or ask for a stored login on the resource`;
          // The client numbered the server's ask one higher, and its answer one more: the ERR follows that.
          throw new MysqlHandshakeError(why, errorPacket(this.#cleartextAskedSeq + 3, `access connect: ${why}`));
        }
        const out: Buffer[] = [];
        this.#up.push(chunk, 0, out, (seq) => {
          if (seq < 2) throw new MysqlHandshakeError(`the client sent a packet with sequence id ${seq} during authentication: out of order`);
          return false;
        });
        return { forward: Buffer.concat(out) };
      }
      case 'relay':
        return { forward: chunk };
    }
  }

  #upFirst(chunk: Buffer): UpResult {
    const first = this.#first.push(chunk, (seq, length) => {
      if (seq === 1 && length <= MAX_HANDSHAKE_BYTES) return true;
      throw new MysqlHandshakeError(`the client's first packet (sequence id ${seq}, ${length} bytes) is not a MySQL handshake — is the client speaking MySQL?`);
    });
    if (!first || first === 'refused') return { forward: EMPTY };
    const capabilities = first.payload.length >= 4 ? first.payload.readUInt32LE(0) : 0;
    if (first.payload.length === SSL_REQUEST_BYTES && capabilities & CLIENT_SSL) {
      this.#phase = 'tls';
      return { forward: EMPTY, startTls: { rest: first.rest } };
    }
    // No TLS asked for: the broker reads this handshake as it is, and everything after it.
    this.#phase = 'relay';
    return { forward: Buffer.concat([packet(first.seq, first.payload), first.rest]) };
  }

  #upResponse(chunk: Buffer): UpResult {
    const response = this.#first.push(chunk, (seq, length) => {
      if (seq === 2 && length <= MAX_HANDSHAKE_BYTES) return true;
      throw new MysqlHandshakeError(
        `the client's packet inside TLS (sequence id ${seq}, ${length} bytes) is not the handshake that must follow its SSLRequest`,
      );
    });
    if (!response || response === 'refused') return { forward: EMPTY };
    const { payload } = response;
    const capabilities = payload.length >= SSL_REQUEST_BYTES ? payload.readUInt32LE(0) : 0;
    if (!(capabilities & CLIENT_PROTOCOL_41) || !(capabilities & CLIENT_SSL)) {
      throw new MysqlHandshakeError(
        `the client's handshake inside TLS is not a HandshakeResponse41 asking for TLS (${payload.length} bytes, capabilities 0x${capabilities.toString(16)})`,
      );
    }
    const rewritten = Buffer.from(payload);
    rewritten.writeUInt32LE((capabilities & ~CLIENT_SSL) >>> 0, 0);
    this.#phase = 'auth';
    const forward = [packet(1, rewritten)];
    if (response.rest.length > 0) forward.push(this.up(response.rest).forward);
    return { forward: Buffer.concat(forward) };
  }
}
