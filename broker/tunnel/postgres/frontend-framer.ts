// Cuts the client → server byte stream of a Postgres connection into messages, chunk by chunk, for
// the query log. Hand-written on purpose: node-postgres's pg-protocol parses only what a server
// sends, and pg-gateway (the maintained frontend parser) is a whole server that owns the socket,
// answers authentication itself and parses only startup and simple queries. The framing is small
// and fixed (protocol 3: an untyped startup message `int32 length, int32 code, …`, then
// `byte type, int32 length, …`), and a tap on a live relay needs what neither offers: any chunk
// boundary, bounded memory for a message of any size, and a clear stop on anything else.
//
// Only a bounded prefix of the messages the log reads is kept (KEPT_TYPES); everything else
// (CopyData, passwords, Sync…) is counted and skipped without a copy. A message wholly inside one
// chunk is handed on as a view of it, without a copy; frames must not be kept past the callback.
//
// Anything that is not Postgres framing throws a FramingError: the caller stops reading the stream
// (the relay carries on; see session-capture.ts).

import {
  CANCEL_REQUEST_CODE,
  describeType,
  Frontend,
  FRONTEND_TYPES,
  GSSENC_REQUEST_CODE,
  MAX_MESSAGE_BYTES,
  MAX_STARTUP_BYTES,
  NEGOTIATION_REQUEST_BYTES,
  PROTOCOL_MAJOR_3,
  SSL_REQUEST_CODE,
} from './codes.js';

/**
 * Most bytes of one message kept for decoding. The log keeps 8 Ki characters of SQL (at most 32
 * KiB of UTF-8) and a bounded value per parameter; a bigger message (a bulk INSERT's text, a Bind
 * of thousands of parameters) is read up to here and counted beyond.
 */
export const MAX_KEPT_MESSAGE_BYTES = 32 * 1024;

/** The messages whose content the query log reads; the rest are only framed. */
const KEPT_TYPES: ReadonlySet<number> = new Set([Frontend.query, Frontend.parse, Frontend.bind, Frontend.execute, Frontend.close, Frontend.functionCall]);

const STARTUP_HEADER_BYTES = 8;
const TYPED_HEADER_BYTES = 5;

export type FrontendFrame =
  /** SSLRequest / GSSENCRequest that reached the stream (no preamble answered it). */
  | { kind: 'negotiation'; code: number }
  /** CancelRequest: this connection only cancels another session's query; nothing follows. */
  | { kind: 'cancel' }
  /** StartupMessage: `body` is everything after the protocol version (the parameters). */
  | { kind: 'startup'; version: number; body: Buffer }
  /**
   * A message after startup. `body` is its content, or a prefix of it when `bodyBytes` is larger
   * (empty for the types the log does not read).
   */
  | { kind: 'message'; type: number; body: Buffer; bodyBytes: number };

export class FramingError extends Error {}

interface Body {
  /** What the message is: a typed message's type byte, or one of the untyped first messages. */
  of: number | 'startup' | 'negotiation' | 'cancel';
  /** The startup/negotiation code (protocol version or request code). */
  code: number;
  bodyBytes: number;
  /** Content bytes still to come. */
  left: number;
  /** Content bytes to keep, and those kept so far. */
  keep: number;
  kept: number;
  buffer: Buffer | null;
}

const EMPTY = Buffer.alloc(0);

export class FrontendFramer {
  /** Bytes consumed so far: where in the stream a problem was found. */
  offset = 0;
  #phase: 'startup' | 'typed' | 'finished' = 'startup';
  readonly #header = Buffer.alloc(STARTUP_HEADER_BYTES);
  #headerFill = 0;
  #body: Body | null = null;

  /** Whether the stream ended its protocol (after CancelRequest): later bytes are not framed. */
  get finished(): boolean {
    return this.#phase === 'finished';
  }

  /** Frames what `chunk` completes, in order; throws FramingError on bytes that are not Postgres. */
  push(chunk: Buffer, onFrame: (frame: FrontendFrame) => void): void {
    let at = 0;
    while (at < chunk.length && this.#phase !== 'finished') {
      const body = this.#body;
      if (body === null) {
        if (this.#phase === 'typed' && this.#headerFill === 0 && chunk.length - at >= TYPED_HEADER_BYTES) {
          // The usual case: the whole header is in this chunk, read in place.
          this.offset += TYPED_HEADER_BYTES;
          this.#body = this.#typedBody(chunk[at] as number, chunk.readInt32BE(at + 1));
          at += TYPED_HEADER_BYTES;
        } else {
          const size = this.#phase === 'startup' ? STARTUP_HEADER_BYTES : TYPED_HEADER_BYTES;
          const take = Math.min(size - this.#headerFill, chunk.length - at);
          chunk.copy(this.#header, this.#headerFill, at, at + take);
          this.#headerFill += take;
          at += take;
          this.offset += take;
          if (this.#headerFill < size) return;
          this.#headerFill = 0;
          this.#body = this.#phase === 'startup' ? this.#startupBody() : this.#typedBody(this.#header[0] as number, this.#header.readInt32BE(1));
        }
        if (this.#body.left === 0) this.#finish(onFrame);
        continue;
      }
      const take = Math.min(body.left, chunk.length - at);
      const keep = Math.min(body.keep - body.kept, take);
      if (keep > 0) {
        if (body.kept === 0 && keep === body.keep && take === body.left) {
          // The whole message is in this chunk: a view, no copy (frames live only for the callback).
          body.buffer = chunk.subarray(at, at + keep);
        } else {
          body.buffer ??= Buffer.allocUnsafe(body.keep);
          chunk.copy(body.buffer, body.kept, at, at + keep);
        }
        body.kept += keep;
      }
      body.left -= take;
      at += take;
      this.offset += take;
      if (body.left === 0) this.#finish(onFrame);
    }
  }

  #finish(onFrame: (frame: FrontendFrame) => void): void {
    const { of, code, bodyBytes, buffer, kept } = this.#body as Body;
    this.#body = null;
    const body = buffer === null ? EMPTY : buffer.subarray(0, kept);
    if (typeof of === 'number') {
      onFrame({ kind: 'message', type: of, body, bodyBytes });
      return;
    }
    if (of === 'negotiation') {
      onFrame({ kind: 'negotiation', code });
    } else if (of === 'cancel') {
      this.#phase = 'finished';
      onFrame({ kind: 'cancel' });
    } else {
      this.#phase = 'typed';
      onFrame({ kind: 'startup', version: code, body });
    }
  }

  #startupBody(): Body {
    const length = this.#header.readInt32BE(0);
    const code = this.#header.readInt32BE(4);
    const where = `the first message (length ${length}, code ${code})`;
    if (length < STARTUP_HEADER_BYTES || length > MAX_STARTUP_BYTES) throw new FramingError(`${where} is not a Postgres startup message`);
    const bodyBytes = length - STARTUP_HEADER_BYTES;
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      if (length !== NEGOTIATION_REQUEST_BYTES) throw new FramingError(`${where} is a malformed encryption request`);
      return body('negotiation', code, 0, 0);
    }
    if (code === CANCEL_REQUEST_CODE) return body('cancel', code, bodyBytes, 0);
    if (code >>> 16 !== PROTOCOL_MAJOR_3) throw new FramingError(`${where} is not a Postgres protocol 3 startup message`);
    return body('startup', code, bodyBytes, bodyBytes);
  }

  #typedBody(type: number, length: number): Body {
    if (!FRONTEND_TYPES.has(type)) throw new FramingError(`unknown message type ${describeType(type)}`);
    if (length < 4 || length > MAX_MESSAGE_BYTES) throw new FramingError(`message ${describeType(type)} has an impossible length ${length}`);
    const bodyBytes = length - 4;
    return body(type, 0, bodyBytes, KEPT_TYPES.has(type) ? Math.min(bodyBytes, MAX_KEPT_MESSAGE_BYTES) : 0);
  }
}

function body(of: Body['of'], code: number, bodyBytes: number, keep: number): Body {
  return { of, code, bodyBytes, left: bodyBytes, keep, kept: 0, buffer: null };
}
