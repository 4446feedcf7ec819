// The framer cuts real client streams into the same messages however the bytes arrive, keeps a
// bounded prefix of big messages, and refuses what is not Postgres framing.

import { describe, expect, it } from 'vitest';
import { FramingError, FrontendFramer, MAX_KEPT_MESSAGE_BYTES, type FrontendFrame } from '../../../../broker/tunnel/postgres/frontend-framer.js';
import { cancelRequest, copyData, message, password, query, startup, terminate } from './frontend.js';
import { PG_DRIVER, PSQL_PREFER_SSL, PSQL_SCRIPT } from './recorded.js';

/** A frame as plain data (bodies copied: the framer's views live only for the callback). */
type Seen = { kind: string; type?: string; body?: string; bodyBytes?: number; code?: number; version?: number };

function see(frame: FrontendFrame): Seen {
  switch (frame.kind) {
    case 'message':
      return { kind: 'message', type: String.fromCharCode(frame.type), body: frame.body.toString('hex'), bodyBytes: frame.bodyBytes };
    case 'startup':
      return { kind: 'startup', version: frame.version, body: frame.body.toString('hex') };
    case 'negotiation':
      return { kind: 'negotiation', code: frame.code };
    case 'cancel':
      return { kind: 'cancel' };
  }
}

function frames(chunks: Buffer[]): Seen[] {
  const framer = new FrontendFramer();
  const seen: Seen[] = [];
  for (const chunk of chunks) framer.push(chunk, (frame) => seen.push(see(frame)));
  return seen;
}

function framingError(chunks: Buffer[]): FramingError {
  try {
    frames(chunks);
  } catch (error) {
    if (error instanceof FramingError) return error;
    throw error;
  }
  throw new Error('no FramingError');
}

const RECORDED = { 'psql script': PSQL_SCRIPT, 'psql with sslmode=prefer': PSQL_PREFER_SSL, 'the pg driver': PG_DRIVER };

describe('FrontendFramer', () => {
  it.each(Object.entries(RECORDED))('frames %s into the same messages when split at every byte boundary', (_name, stream) => {
    const whole = frames([stream]);
    for (let at = 1; at < stream.length; at++) {
      expect(frames([stream.subarray(0, at), stream.subarray(at)])).toEqual(whole);
    }
    expect(frames([...stream].map((byte) => Buffer.from([byte])))).toEqual(whole);
  });

  it("frames psql's session as startup, each Query, CopyData, CopyDone and Terminate", () => {
    const seen = frames([PSQL_SCRIPT]);
    expect(seen.map((f) => f.type ?? f.kind)).toEqual(['startup', 'Q', 'Q', 'Q', 'Q', 'Q', 'd', 'c', 'Q', 'X']);
    expect(seen[0]).toMatchObject({ version: 3 << 16 });
    expect(Buffer.from(seen[1]?.body ?? '', 'hex').toString()).toBe('select 1 as one;\0');
  });

  it('reads an SSLRequest before the startup message and stays in the startup phase', () => {
    expect(
      frames([PSQL_PREFER_SSL])
        .slice(0, 2)
        .map((f) => f.kind),
    ).toEqual(['negotiation', 'startup']);
  });

  it('hands on a message that lies in one chunk as a view of it, without a copy', () => {
    const chunk = Buffer.concat([startup({ user: 'u' }), query('select 1')]);
    const views: boolean[] = [];
    new FrontendFramer().push(chunk, (frame) => {
      if (frame.kind === 'message') views.push(frame.body.buffer === chunk.buffer);
    });
    expect(views).toEqual([true]);
  });

  it(`keeps the first ${MAX_KEPT_MESSAGE_BYTES} bytes of a larger message and counts the rest`, () => {
    const sql = `select '${'x'.repeat(100_000)}'`;
    const big = query(sql);
    const seen = frames([startup({ user: 'u' }), big.subarray(0, 40_000), big.subarray(40_000), terminate()]);
    expect(seen.map((f) => f.type ?? f.kind)).toEqual(['startup', 'Q', 'X']);
    expect(seen[1]?.bodyBytes).toBe(Buffer.byteLength(sql) + 1);
    expect(Buffer.from(seen[1]?.body ?? '', 'hex').toString()).toBe(sql.slice(0, MAX_KEPT_MESSAGE_BYTES));
  });

  it('keeps nothing of CopyData and password messages, only their size', () => {
    const seen = frames([startup({ user: 'u' }), password('hunter2'), copyData(Buffer.alloc(70_000, 1))]);
    expect(seen.slice(1)).toEqual([
      { kind: 'message', type: 'p', body: '', bodyBytes: 8 },
      { kind: 'message', type: 'd', body: '', bodyBytes: 70_000 },
    ]);
  });

  it('stops framing after a CancelRequest: nothing else belongs on that connection', () => {
    const framer = new FrontendFramer();
    const seen: Seen[] = [];
    framer.push(Buffer.concat([cancelRequest(4242, 7), Buffer.from('anything')]), (frame) => seen.push(see(frame)));
    expect(seen).toEqual([{ kind: 'cancel' }]);
    expect(framer.finished).toBe(true);
  });

  it('counts the bytes it consumed, so a problem can say where it was found', () => {
    const framer = new FrontendFramer();
    const start = startup({ user: 'u' });
    expect(() => framer.push(Buffer.concat([start, Buffer.from('Zjunk')]), () => undefined)).toThrow(FramingError);
    expect(framer.offset).toBe(start.length + 5);
  });

  it.each([
    ['an HTTP request instead of a startup message', [Buffer.from('GET / HTTP/1.1\r\n\r\n')], /first message .* is not a Postgres startup message/],
    ['a TLS ClientHello sent without asking', [Buffer.from('160301020001', 'hex'), Buffer.alloc(600)], /first message .* is not a Postgres startup message/],
    ['a startup message of protocol 2', [Buffer.from('0000000800020000', 'hex')], /not a Postgres protocol 3 startup message/],
    ['an SSLRequest with a wrong length', [Buffer.from('0000000c04d2162f00000000', 'hex')], /malformed encryption request/],
    ['an unknown message type after startup', [startup({ user: 'u' }), message('Z', Buffer.from('x'))], /unknown message type 0x5a \('Z'\)/],
    ['a message length below its own 4 bytes', [startup({ user: 'u' }), Buffer.from('5100000002', 'hex')], /message 0x51 \('Q'\) has an impossible length 2/],
    ['a negative message length', [startup({ user: 'u' }), Buffer.from('51ffffffff', 'hex')], /impossible length -1/],
  ])('refuses %s', (_name, chunks, reason) => {
    expect(framingError(chunks).message).toMatch(reason);
  });
});
