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
// Until its target first fills a read, a tunnel reads into one buffer shared by the whole broker
// (SHARED_READ_BYTES) and each chunk is copied out of it: an idle or chatty tunnel holds no read
// memory of its own (a socket always holds the buffer of its next read, so a slab of its own,
// even a 2 KiB one, was 2 KiB of every idle tunnel). Sharing is safe because reads run one at a
// time on this thread and the chunk is copied before the read's callback returns. The first read
// that fills the shared buffer starts the tunnel's own slabs (a bulk transfer), which grow while
// reads keep filling the space offered them, up to MAX_SLAB_BYTES; each read is offered at most
// MAX_READ_BYTES.
//
// Kinds whose protocol the broker reads (Postgres, MySQL) keep Node's ordinary 'data' reads: their
// logins, TLS and captures read the target socket themselves.

import net from 'node:net';

/**
 * The shared buffer every tunnel reads into until one read fills it. Small enough that the copy of
 * a chunk comes from Node's Buffer pool (under 4 KiB), as interactive traffic (a shell, a query
 * and its answer) mostly is.
 */
export const SHARED_READ_BYTES = 2 * 1024;
/** A tunnel's first slab of its own, once a read filled the shared buffer. */
export const FIRST_SLAB_BYTES = 4 * SHARED_READ_BYTES;
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

/** Read into by every tunnel that has no slab of its own yet; never handed out, only copied from. */
const shared = Buffer.allocUnsafeSlow(SHARED_READ_BYTES);

export class TargetReads {
  #sink: TargetChunkSink | null = null;
  /** The size of the next slab of its own; 0 while the tunnel still reads into the shared buffer. */
  #slabBytes = 0;
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

  /** Bytes of read memory this tunnel holds of its own (its slab and spare): 0 until its target first fills a read. */
  get heldBytes(): number {
    return (this.#slab?.length ?? 0) + (this.#spare?.length ?? 0);
  }

  /** The memory the next read goes into: the shared buffer, the rest of the slab, or a new slab (the spare if it fits). */
  #nextBuffer(): Buffer {
    if (this.#slabBytes === 0) {
      this.#offered = SHARED_READ_BYTES;
      return shared;
    }
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
    if (this.#slabBytes === 0) {
      // Copied out before the next read (of any tunnel) lands in the shared buffer.
      const chunk = Buffer.from(shared.subarray(0, bytes));
      // A read that filled the shared buffer: more is waiting, so this tunnel reads into slabs of its own.
      if (bytes === this.#offered) this.#slabBytes = FIRST_SLAB_BYTES;
      this.#sink?.(chunk, null);
      return;
    }
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
