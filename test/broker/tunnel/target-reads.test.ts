// Reading a plain-bytes target into reused slabs: until a read fills the buffer shared by every
// tunnel, a tunnel holds no read memory of its own; a chunk handed out is never read into again until
// its slab was released, released slabs are reused (no allocation per read), slabs grow while reads
// fill them, and over a real socket the bytes arrive whole and in order, not before the relay resumes.

import { createHash, randomBytes } from 'node:crypto';
import type net from 'node:net';
import { describe, expect, it } from 'vitest';
import { dialTarget } from '../../../broker/tunnel/dial.js';
import { FIRST_SLAB_BYTES, MAX_READ_BYTES, MAX_SLAB_BYTES, SHARED_READ_BYTES, TargetReads } from '../../../broker/tunnel/target-reads.js';
import { startTarget } from './harness.js';

interface Delivered {
  chunk: Buffer;
  copy: Buffer;
  release: (() => void) | null;
}

/** Plays the socket: each read fills what it is offered (or `size`), with bytes of its own. */
function reader(): { reads: TargetReads; delivered: Delivered[]; read: (size?: number) => Buffer } {
  const reads = new TargetReads();
  const delivered: Delivered[] = [];
  reads.attach((chunk, release) => delivered.push({ chunk, copy: Buffer.from(chunk), release }));
  let next = reads.onread.buffer();
  return {
    reads,
    delivered,
    read: (size?: number) => {
      const into = next;
      const bytes = Math.min(size ?? into.length, into.length);
      randomBytes(bytes).copy(into);
      reads.onread.callback(bytes, into);
      next = reads.onread.buffer();
      return into;
    },
  };
}

describe('TargetReads', () => {
  it('starts in the shared buffer, then grows slabs of its own while reads fill what they are offered, each read at most MAX_READ_BYTES', () => {
    const { read, delivered } = reader();
    expect(read().length).toBe(SHARED_READ_BYTES);
    expect(read().length).toBe(FIRST_SLAB_BYTES);
    const sizes = Array.from({ length: 40 }, () => read().length);
    expect(Math.max(...sizes)).toBe(MAX_READ_BYTES);
    expect(Math.max(...delivered.map((d) => d.chunk.buffer.byteLength))).toBe(MAX_SLAB_BYTES);
  });

  it('never reads into a chunk it handed out before that slab is released, and reuses the slab after', () => {
    const { read, delivered } = reader();
    // Grow to full slabs, releasing nothing: every chunk handed out keeps its bytes.
    for (let i = 0; i < 200; i++) read();
    for (const d of delivered) expect(d.chunk.equals(d.copy)).toBe(true);
    const lasts = delivered.filter((d) => d.release !== null);
    expect(lasts.length).toBeGreaterThan(2);
    // A slab's last chunk ends it: released now, the slab is read into again.
    const last = lasts.at(-1) as Delivered;
    last.release?.();
    const before = delivered.length;
    for (let i = 0; i < 40; i++) read();
    const reused = delivered.slice(before).some((d) => d.chunk.buffer === last.chunk.buffer);
    expect(reused).toBe(true);
  });

  it('an idle or chatty tunnel holds no read memory of its own: small reads land in one buffer shared by every tunnel', () => {
    const one = reader();
    const other = reader();
    // Both sockets would read into the same memory next.
    expect(one.read(100).buffer).toBe(other.read(100).buffer);
    for (let i = 0; i < 20; i++) one.read(SHARED_READ_BYTES - 1);
    expect(one.reads.heldBytes).toBe(0);
    expect(other.reads.heldBytes).toBe(0);
    // Each chunk was copied out: later reads into the shared buffer never change one handed out.
    for (const d of [...one.delivered, ...other.delivered]) expect(d.chunk.equals(d.copy)).toBe(true);
    // The first read that fills the shared buffer starts slabs of its own (a bulk transfer).
    one.read();
    one.read(100);
    expect(one.reads.heldBytes).toBe(FIRST_SLAB_BYTES);
  });

  it('carries a target’s bytes whole and in order over a real socket, and reads nothing until resumed', async () => {
    const payload = randomBytes(8 * 1024 * 1024);
    const target = await startTarget((socket: net.Socket) => socket.end(payload));
    try {
      const reads = new TargetReads();
      const socket = await dialTarget({ host: '127.0.0.1', port: target.port }, { resource: 'bulk', timeoutMs: 5_000, reads });
      const hash = createHash('sha256');
      let bytes = 0;
      let releases = 0;
      reads.attach((chunk, release) => {
        hash.update(chunk);
        bytes += chunk.length;
        if (release) {
          releases++;
          // Released later, as ws does once the frame is flushed.
          setImmediate(release);
        }
      });
      // Paused until the relay says so: nothing arrives meanwhile.
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(bytes).toBe(0);
      const ended = new Promise((resolve) => socket.once('end', resolve));
      socket.resume();
      await ended;
      socket.destroy();
      expect(bytes).toBe(payload.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
      expect(releases).toBeGreaterThan(0);
    } finally {
      await target.close();
    }
  });
});
