// Cuts one direction of a MySQL/MariaDB byte stream into messages, chunk by chunk, for the query
// log: any chunk boundary, bounded memory for a message of any size, and a clear stop on framing
// that is not MySQL. A packet is `int<3> payload length, int<1> sequence id, payload`; a payload of
// exactly 0xFFFFFF bytes continues in the next packet (the 16 MiB case), whose sequence id must be
// the next one. The framer joins those into one message and checks that sequence; which sequence
// id a message may start with depends on the conversation, so the capture checks that.
//
// Only a bounded prefix of a message is kept (the caller says how much per message, from its first
// header); the rest is counted and skipped without a copy. A message wholly inside one chunk is
// handed on as a view of it; messages must not be kept past the callback.

import { MAX_PACKET_PAYLOAD_BYTES, PACKET_HEADER_BYTES } from './codes.js';

export class FramingError extends Error {}

export interface Message {
  /** The sequence id of its first packet. */
  seq: number;
  /** The sequence id of its last packet (seq, unless the message spans several packets). */
  lastSeq: number;
  /** The payload, or its first bytes when `bytes` is larger. */
  body: Buffer;
  /** The whole payload's length, over all its packets. */
  bytes: number;
}

/**
 * How many bytes of a message to keep, decided at its first packet header. It may refuse the
 * message there by throwing (a sequence id the conversation does not allow), before any of its
 * payload is let through.
 */
export type KeepRule = (seq: number) => number;

interface Partial {
  seq: number;
  lastSeq: number;
  bytes: number;
  /** Payload bytes of the current packet still to come. */
  left: number;
  /** The current packet is full size: another packet of this message follows. */
  more: boolean;
  keep: number;
  kept: number;
  buffer: Buffer | null;
}

const EMPTY = Buffer.alloc(0);

export class PacketFramer {
  /** Bytes consumed so far: where in the stream a problem was found. */
  offset = 0;
  readonly #keep: KeepRule;
  readonly #header = Buffer.alloc(PACKET_HEADER_BYTES);
  #headerFill = 0;
  /** The message being read, or null between messages. */
  #message: Partial | null = null;
  /** Between the packets of a multi-packet message: its header is next. */
  #between = false;

  constructor(keep: KeepRule) {
    this.#keep = keep;
  }

  /** Whether the stream stands between two messages (no partial packet or message held). */
  get atBoundary(): boolean {
    return this.#message === null && this.#headerFill === 0;
  }

  /** Frames what `chunk` completes, in order; throws FramingError on a broken packet sequence. */
  push(chunk: Buffer, onMessage: (message: Message) => void): void {
    let at = 0;
    while (at < chunk.length) {
      const message = this.#message;
      if (message === null || this.#between) {
        let length: number;
        let seq: number;
        if (this.#headerFill === 0 && chunk.length - at >= PACKET_HEADER_BYTES) {
          // The usual case: the whole header is in this chunk, read in place.
          length = chunk.readUIntLE(at, 3);
          seq = chunk[at + 3] as number;
          at += PACKET_HEADER_BYTES;
          this.offset += PACKET_HEADER_BYTES;
        } else {
          const take = Math.min(PACKET_HEADER_BYTES - this.#headerFill, chunk.length - at);
          chunk.copy(this.#header, this.#headerFill, at, at + take);
          this.#headerFill += take;
          at += take;
          this.offset += take;
          if (this.#headerFill < PACKET_HEADER_BYTES) return;
          this.#headerFill = 0;
          length = this.#header.readUIntLE(0, 3);
          seq = this.#header[3] as number;
        }
        this.#packet(message, length, seq);
        if ((this.#message as Partial).left === 0) this.#packetEnd(onMessage);
        continue;
      }
      const take = Math.min(message.left, chunk.length - at);
      const keep = Math.min(message.keep - message.kept, take);
      if (keep > 0) {
        if (message.kept === 0 && keep === message.keep && take === message.left && !message.more) {
          // The whole message is in this chunk: a view, no copy (messages live only for the callback).
          message.buffer = chunk.subarray(at, at + keep);
        } else {
          message.buffer ??= Buffer.allocUnsafe(message.keep);
          chunk.copy(message.buffer, message.kept, at, at + keep);
        }
        message.kept += keep;
      }
      message.left -= take;
      at += take;
      this.offset += take;
      if (message.left === 0) this.#packetEnd(onMessage);
    }
  }

  /** A packet header: the first of a message, or the next of a multi-packet one. */
  #packet(message: Partial | null, length: number, seq: number): void {
    const more = length === MAX_PACKET_PAYLOAD_BYTES;
    if (message === null) {
      const keep = Math.max(0, this.#keep(seq));
      // What is kept of a message never exceeds its first packet's payload unless it continues.
      this.#message = { seq, lastSeq: seq, bytes: length, left: length, more, keep: more ? keep : Math.min(keep, length), kept: 0, buffer: null };
      return;
    }
    const expected = (message.lastSeq + 1) & 0xff;
    if (seq !== expected) {
      throw new FramingError(`packet ${seq} continues a ${message.bytes}-byte message whose last packet was ${message.lastSeq} (expected ${expected})`);
    }
    this.#between = false;
    message.lastSeq = seq;
    message.bytes += length;
    message.left = length;
    message.more = more;
    if (!more) message.keep = Math.min(message.keep, message.bytes);
  }

  #packetEnd(onMessage: (message: Message) => void): void {
    const message = this.#message as Partial;
    if (message.more) {
      this.#between = true;
      return;
    }
    this.#message = null;
    this.#between = false;
    const body = message.buffer === null ? EMPTY : message.buffer.subarray(0, message.kept);
    onMessage({ seq: message.seq, lastSeq: message.lastSeq, body, bytes: message.bytes });
  }
}

/** One packet (a payload below 16 MiB) with its header, e.g. an answer the broker writes itself. */
export function packet(seq: number, payload: Buffer): Buffer {
  if (payload.length >= MAX_PACKET_PAYLOAD_BYTES) throw new RangeError(`a ${payload.length}-byte payload needs several packets`);
  const header = Buffer.alloc(PACKET_HEADER_BYTES);
  header.writeUIntLE(payload.length, 0, 3);
  header[3] = seq & 0xff;
  return Buffer.concat([header, payload]);
}
