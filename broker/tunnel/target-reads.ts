// Reads from a plain-bytes target (a resource kind the broker does not parse) into memory the
// broker reuses, instead of a fresh 64 KiB Buffer per read. Bulk transfers spent a large part of the
// broker's time allocating and collecting those buffers, and read no more than 64 KiB per call.
//
// The socket reads into a slab (net.Socket's `onread`): each read lands after the previous one, so
// a chunk handed to the WebSocket is never overwritten while ws may still hold it. When a slab is
// nearly full, the chunk cut last from it carries a `release`: the relay passes it as that frame's
// send callback, and ws calls it once the frame, and so every frame before it, was handed to the
// kernel. The released slab is then the spare, reused when the current one fills up: two slabs
// take turns while bytes stream, and nothing is allocated per read.
//
// Slabs start small, so an idle tunnel holds little, and grow while reads keep filling the space
// offered them (a bulk transfer), up to MAX_SLAB_BYTES; each read is offered at most MAX_READ_BYTES.
//
// Kinds whose protocol the broker reads (Postgres, MySQL) keep Node's ordinary 'data' reads: their
// logins, TLS and captures read the target socket themselves.

import net from 'node:net';

/**
 * The first slab of a tunnel: small enough to come from Node's shared Buffer pool, so an idle
 * tunnel holds 2 KiB (a slab of its own, even untouched, costs it several times that in RSS).
 */
export const FIRST_SLAB_BYTES = 2 * 1024;
/** The largest slab: two of these per busy tunnel. */
export const MAX_SLAB_BYTES = 1024 * 1024;
/**
 * The most one read may take; a frame to the client is one read. With its 4-byte header such a
 * frame is exactly 64 KiB, what the client's socket reads at a time: a full read then holds whole
 * frames, which ws hands on without copying (a frame split across two reads is copied whole).
 */
export const MAX_READ_BYTES = 64 * 1024 - 4;
/** A slab with less than this left (or a quarter of it, for the small first ones) is retired: smaller reads would cost more calls than they save. */
export const MIN_READ_BYTES = 8 * 1024;

/** Whether `slab` has too little left after `offset` for another read. */
function spent(slab: Buffer, offset: number): boolean {
  const left = slab.length - offset;
  return left < MIN_READ_BYTES && left < slab.length >>> 2;
}

/** Gets each chunk read; `release` is non-null on a slab's last chunk and must be called once that chunk is sent. */
export type TargetChunkSink = (chunk: Buffer, release: (() => void) | null) => void;

export class TargetReads {
  #sink: TargetChunkSink | null = null;
  #slabBytes = FIRST_SLAB_BYTES;
  #slab: Buffer | null = null;
  #offset = 0;
  /** A released slab, ready to be read into again. */
  #spare: Buffer | null = null;
  /** How much the current read was offered. */
  #offered = 0;

  /** For net.connect: the socket reads into the slab and calls back with each chunk. */
  readonly onread = {
    buffer: (): Buffer => this.#nextBuffer(),
    callback: (bytes: number, _buffer: Uint8Array): boolean => {
      this.#delivered(bytes);
      return true;
    },
  };

  /**
   * Where chunks go from now on. Reads do not start before: the socket was created paused, and the
   * caller resumes it after attaching.
   */
  attach(sink: TargetChunkSink): void {
    this.#sink = sink;
  }

  /** The memory the next read goes into: the rest of the slab, or a new slab (the spare if it fits). */
  #nextBuffer(): Buffer {
    let slab = this.#slab;
    if (slab === null || spent(slab, this.#offset)) {
      const spare = this.#spare;
      slab = spare !== null && spare.length >= this.#slabBytes ? spare : Buffer.allocUnsafe(this.#slabBytes);
      this.#spare = null;
      this.#slab = slab;
      this.#offset = 0;
    }
    this.#offered = Math.min(MAX_READ_BYTES, slab.length - this.#offset);
    return slab.subarray(this.#offset, this.#offset + this.#offered);
  }

  #delivered(bytes: number): void {
    const slab = this.#slab as Buffer;
    const chunk = slab.subarray(this.#offset, this.#offset + bytes);
    // A read that filled all it was offered: more is waiting, so the next slab is larger.
    if (bytes === this.#offered && this.#slabBytes < MAX_SLAB_BYTES) this.#slabBytes = Math.min(MAX_SLAB_BYTES, this.#slabBytes * 4);
    this.#offset += bytes;
    const last = spent(slab, this.#offset);
    const release = last
      ? (): void => {
          this.#spare = slab;
        }
      : null;
    if (last) this.#slab = null;
    this.#sink?.(chunk, release);
  }
}

/** net.connect options that read through `reads`, paused until the relay resumes the socket. */
export function connectWithReads(options: net.NetConnectOpts, reads: TargetReads): net.Socket {
  const socket = net.connect({ ...options, onread: reads.onread } as net.NetConnectOpts);
  socket.pause();
  return socket;
}
