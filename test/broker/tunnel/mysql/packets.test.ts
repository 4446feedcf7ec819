// The framer cuts a MySQL stream into the same messages however the bytes arrive, joins a 16 MiB
// message's packets, keeps a bounded prefix of big messages, and refuses a broken packet sequence.

import { describe, expect, it } from 'vitest';
import { MAX_PACKET_PAYLOAD_BYTES } from '../../../../broker/tunnel/mysql/codes.js';
import { FramingError, packet, PacketFramer, type Message } from '../../../../broker/tunnel/mysql/packets.js';

type Seen = { seq: number; lastSeq: number; body: string; bytes: number };

function frames(chunks: Buffer[], keep = 1024): Seen[] {
  const framer = new PacketFramer(() => keep);
  const seen: Seen[] = [];
  const on = (message: Message): void => {
    seen.push({ seq: message.seq, lastSeq: message.lastSeq, body: message.body.toString('latin1'), bytes: message.bytes });
  };
  for (const chunk of chunks) framer.push(chunk, on);
  return seen;
}

/** `bytes` cut into chunks of `size`. */
function split(bytes: Buffer, size: number): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; at += size) chunks.push(bytes.subarray(at, at + size));
  return chunks;
}

const query = (seq: number, sql: string): Buffer => packet(seq, Buffer.from(`\x03${sql}`, 'latin1'));

describe('PacketFramer', () => {
  const stream = Buffer.concat([query(0, 'select 1'), packet(0, Buffer.from([0x0e])), query(0, 'select * from t where a = 2'), packet(0, Buffer.alloc(0))]);
  const expected: Seen[] = [
    { seq: 0, lastSeq: 0, body: '\x03select 1', bytes: 9 },
    { seq: 0, lastSeq: 0, body: '\x0e', bytes: 1 },
    { seq: 0, lastSeq: 0, body: '\x03select * from t where a = 2', bytes: 28 },
    { seq: 0, lastSeq: 0, body: '', bytes: 0 },
  ];

  it('frames the same messages from one chunk and from chunks of every size down to one byte', () => {
    expect(frames([stream])).toEqual(expected);
    for (const size of [1, 2, 3, 4, 5, 7, 13]) expect(frames(split(stream, size)), `chunks of ${size}`).toEqual(expected);
  });

  it('counts where it is in the stream', () => {
    const framer = new PacketFramer(() => 0);
    framer.push(stream.subarray(0, 10), () => undefined);
    expect(framer.offset).toBe(10);
    expect(framer.atBoundary).toBe(false);
    framer.push(stream.subarray(10), () => undefined);
    expect(framer.offset).toBe(stream.length);
    expect(framer.atBoundary).toBe(true);
  });

  it('joins the packets of a message of 16 MiB and more into one, keeping only its first bytes', () => {
    const first = Buffer.alloc(MAX_PACKET_PAYLOAD_BYTES, 0x61);
    first[0] = 0x03;
    const header = (length: number, seq: number): Buffer => {
      const h = Buffer.alloc(4);
      h.writeUIntLE(length, 0, 3);
      h[3] = seq;
      return h;
    };
    const big = Buffer.concat([header(MAX_PACKET_PAYLOAD_BYTES, 0), first, header(3, 1), Buffer.from('end'), query(0, 'select 2')]);
    const seen = frames(split(big, 64 * 1024), 16);
    expect(seen).toEqual([
      { seq: 0, lastSeq: 1, body: `\x03${'a'.repeat(15)}`, bytes: MAX_PACKET_PAYLOAD_BYTES + 3 },
      { seq: 0, lastSeq: 0, body: '\x03select 2', bytes: 9 },
    ]);
  });

  it('ends a message of exactly 16 MiB at the empty packet after it', () => {
    const payload = Buffer.alloc(MAX_PACKET_PAYLOAD_BYTES, 0x62);
    const h = Buffer.alloc(4);
    h.writeUIntLE(MAX_PACKET_PAYLOAD_BYTES, 0, 3);
    const seen = frames([h, payload, packet(1, Buffer.alloc(0))], 4);
    expect(seen).toEqual([{ seq: 0, lastSeq: 1, body: 'bbbb', bytes: MAX_PACKET_PAYLOAD_BYTES }]);
  });

  it('refuses a continuation packet whose sequence id is not the next one', () => {
    const h = Buffer.alloc(4);
    h.writeUIntLE(MAX_PACKET_PAYLOAD_BYTES, 0, 3);
    h[3] = 4;
    const stray = () => frames([h, Buffer.alloc(MAX_PACKET_PAYLOAD_BYTES), packet(9, Buffer.from('x'))]);
    expect(stray).toThrow(FramingError);
    expect(stray).toThrow(/packet 9 continues .*\(expected 5\)/);
  });

  it('wraps a multi-packet sequence from 255 to 0', () => {
    const h = Buffer.alloc(4);
    h.writeUIntLE(MAX_PACKET_PAYLOAD_BYTES, 0, 3);
    h[3] = 255;
    expect(frames([h, Buffer.alloc(MAX_PACKET_PAYLOAD_BYTES), packet(0, Buffer.from('z'))], 0)).toEqual([
      { seq: 255, lastSeq: 0, body: '', bytes: MAX_PACKET_PAYLOAD_BYTES + 1 },
    ]);
  });
});
