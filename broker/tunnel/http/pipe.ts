// Two connected in-memory streams: what one end writes the other reads. For resources the broker
// speaks itself (http): the relay (tunnel/relay.ts) writes the client's bytes into one end as it
// would into a target socket, and the broker's own HTTP server reads the other end as a connection
// (`server.emit('connection', end)`). The relay keeps every guarantee it has for a socket: byte
// counts, backpressure, the idle timeout, and a cut that destroys "the target" (here: this end,
// which destroys the other, so the HTTP server drops the connection and its requests).
//
// Node 20 has no `stream.duplexPair` (added in 22.6), so this is the small version of it, plus the
// part of a socket's surface the relay and the HTTP server call (setTimeout, setNoDelay, setKeepAlive).

import { Duplex } from 'node:stream';

export class PipeEnd extends Duplex {
  /** The other end; set once by `pipePair`. */
  peer!: PipeEnd;
  /**
   * What destroying this end does to the other: `abort` destroys it (the relay's cut drops the
   * server's connection and its requests at once); `eof` lets it read what this end wrote and then
   * ends it (as a socket's peer receives the bytes before the FIN: a server's last answer, e.g. a
   * 431 written just before it destroys the connection, still reaches the client).
   */
  readonly #onDestroy: 'abort' | 'eof';
  /** A write of ours waiting for the peer to read (backpressure): called when it asks for more. */
  #waiting: (() => void) | null = null;
  #idleMs = 0;
  #idle: NodeJS.Timeout | null = null;

  constructor(onDestroy: 'abort' | 'eof') {
    super();
    this.#onDestroy = onDestroy;
  }

  /** Like net.Socket#setTimeout: 'timeout' after `ms` with no byte either way; 0 turns it off. */
  setTimeout(ms: number, callback?: () => void): this {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = null;
    this.#idleMs = ms;
    if (callback) this.once('timeout', callback);
    this.#touch();
    return this;
  }

  /** Sockets have these; an in-memory pipe has nothing to tune. */
  setNoDelay(_noDelay?: boolean): this {
    return this;
  }

  setKeepAlive(_enable?: boolean, _initialDelay?: number): this {
    return this;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#touch();
    const peer = this.peer;
    if (peer.destroyed) {
      callback(new Error('the other end of the pipe is closed'));
      return;
    }
    peer.#touch();
    // The peer's buffer is full: hold this write until it reads (its _read).
    if (peer.push(chunk)) callback();
    else this.#waiting = () => callback();
  }

  override _read(): void {
    const waiting = this.peer.#waiting;
    this.peer.#waiting = null;
    waiting?.();
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer.push(null);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.#idle) clearTimeout(this.#idle);
    this.#idle = null;
    // One end gone is the connection gone: the other end closes too.
    if (!this.peer.destroyed) {
      if (this.#onDestroy === 'abort') this.peer.destroy();
      else this.peer.push(null);
    }
    const waiting = this.peer.#waiting;
    this.peer.#waiting = null;
    waiting?.();
    callback(error);
  }

  /** Restarts the idle timer (called per chunk: `refresh` reuses the timer instead of making one). */
  #touch(): void {
    if (this.#idleMs <= 0 || this.destroyed) {
      if (this.#idle) clearTimeout(this.#idle);
      this.#idle = null;
      return;
    }
    if (this.#idle) {
      this.#idle.refresh();
      return;
    }
    this.#idle = setTimeout(() => this.emit('timeout'), this.#idleMs);
    this.#idle.unref();
  }
}

/** Two ends, each the other's peer: the relay's (destroying it aborts the server's) and the server's. */
export function pipePair(): [PipeEnd, PipeEnd] {
  const a = new PipeEnd('abort');
  const b = new PipeEnd('eof');
  a.peer = b;
  b.peer = a;
  return [a, b];
}
