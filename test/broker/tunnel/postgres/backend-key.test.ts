// The tunnel reads the server's BackendKeyData from the server → client stream, at any chunk
// boundary, and stops looking at the first ReadyForQuery or at bytes that are not Postgres.

import { describe, expect, it } from 'vitest';
import { BackendKeyReader, MAX_SECRET_BYTES, type BackendKey } from '../../../../broker/tunnel/postgres/backend-key.js';
import { cancelRequest } from '../../../../broker/tunnel/postgres/cancel.js';
import { PG15_PID, PG15_SECRET, PG15_STARTUP } from './recorded-server.js';

function message(type: string, body: Buffer): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0, 'latin1');
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function backendKeyData(pid: number, secret: Buffer): Buffer {
  const pidBytes = Buffer.alloc(4);
  pidBytes.writeInt32BE(pid, 0);
  return message('K', Buffer.concat([pidBytes, secret]));
}

const READY = message('Z', Buffer.from('I'));
const AUTH_OK = message('R', Buffer.alloc(4));

/** What the reader makes of `chunks`, and after which chunk it was done (null: never). */
function read(chunks: Buffer[]): { key: BackendKey | null; doneAt: number | null } {
  const reader = new BackendKeyReader();
  let doneAt: number | null = null;
  chunks.forEach((chunk, index) => {
    if (doneAt !== null) return; // the caller detached it
    reader.push(chunk);
    if (reader.done) doneAt = index;
  });
  return { key: reader.key, doneAt };
}

function splitAt(bytes: Buffer, ...at: number[]): Buffer[] {
  const cuts = [0, ...at, bytes.length];
  return cuts.slice(1).map((end, i) => bytes.subarray(cuts[i], end));
}

describe('BackendKeyReader', () => {
  it('reads the process id and secret key of a recorded PostgreSQL 15 startup in one chunk', () => {
    const { key, doneAt } = read([PG15_STARTUP]);
    expect(key).toEqual({ pid: PG15_PID, secret: PG15_SECRET });
    expect(doneAt).toBe(0);
  });

  it('reads the same key whichever byte the recorded stream is split at', () => {
    for (let at = 1; at < PG15_STARTUP.length; at++) {
      expect(read(splitAt(PG15_STARTUP, at)).key, `split at ${at}`).toEqual({ pid: PG15_PID, secret: PG15_SECRET });
    }
  });

  it('reads the same key from the recorded stream fed one byte at a time, and at every pair of splits around BackendKeyData', () => {
    const bytes = [...PG15_STARTUP].map((byte) => Buffer.from([byte]));
    expect(read(bytes).key).toEqual({ pid: PG15_PID, secret: PG15_SECRET });
    const k = PG15_STARTUP.lastIndexOf(backendKeyData(PG15_PID, PG15_SECRET));
    for (let first = k - 6; first <= k + 13; first++) {
      for (let second = first + 1; second <= k + 13; second++) {
        expect(read(splitAt(PG15_STARTUP, first, second)).key, `split at ${first} and ${second}`).toEqual({ pid: PG15_PID, secret: PG15_SECRET });
      }
    }
  });

  it('is done once it has the key, so the rows and notices that follow are never looked at', () => {
    const k = PG15_STARTUP.lastIndexOf(backendKeyData(PG15_PID, PG15_SECRET));
    const upToKey = PG15_STARTUP.subarray(0, k + 13);
    const { key, doneAt } = read([upToKey, READY, Buffer.from('not postgres at all')]);
    expect(key?.pid).toBe(PG15_PID);
    expect(doneAt).toBe(0);
  });

  it('stops without a key at the first ReadyForQuery when no BackendKeyData came before it (a pooler that offers no cancel)', () => {
    const { key, doneAt } = read([AUTH_OK, READY, backendKeyData(1, Buffer.alloc(4))]);
    expect(key).toBeNull();
    expect(doneAt).toBe(1);
  });

  it('skips notices and a NegotiateProtocolVersion before the key', () => {
    const notice = message('N', Buffer.from('SNOTICE\0Mhello\0\0'));
    const negotiate = message('v', Buffer.from('0000000000000000', 'hex'));
    const { key } = read([Buffer.concat([negotiate, AUTH_OK, notice, backendKeyData(77, Buffer.from('01020304', 'hex')), READY])]);
    expect(key).toEqual({ pid: 77, secret: Buffer.from('01020304', 'hex') });
  });

  it('reads a protocol 3.2 secret key longer than four bytes, split inside the key', () => {
    const secret = Buffer.alloc(32, 0xab);
    const stream = Buffer.concat([AUTH_OK, backendKeyData(4242, secret), READY]);
    for (let at = 1; at < stream.length; at++) {
      expect(read(splitAt(stream, at)).key, `split at ${at}`).toEqual({ pid: 4242, secret });
    }
  });

  it('stops without a key on a BackendKeyData whose length is impossible', () => {
    const tooShort = message('K', Buffer.alloc(4));
    const tooLong = message('K', Buffer.alloc(4 + MAX_SECRET_BYTES + 1));
    expect(read([Buffer.concat([AUTH_OK, tooShort])])).toEqual({ key: null, doneAt: 0 });
    expect(read([Buffer.concat([AUTH_OK, tooLong])])).toEqual({ key: null, doneAt: 0 });
  });

  it('stops without a key on bytes that are not a Postgres startup (a TLS record the broker cannot read)', () => {
    const tlsRecord = Buffer.from('160303007a020000760303', 'hex');
    expect(read([tlsRecord])).toEqual({ key: null, doneAt: 0 });
    // An 'S' answer to an SSLRequest the broker did not intercept: the stream after it is TLS.
    expect(read([Buffer.from('S'), tlsRecord])).toEqual({ key: null, doneAt: 1 });
  });
});

describe('cancelRequest', () => {
  it('names the backend the way PostgreSQL reads a CancelRequest: length 16, code 80877102, pid, secret', () => {
    const bytes = cancelRequest({ pid: PG15_PID, secret: PG15_SECRET });
    expect(bytes.toString('hex')).toBe(`00000010${(80877102).toString(16).padStart(8, '0')}00003ea85a71103d`);
  });

  it('carries a longer protocol 3.2 secret key whole, with the length to match', () => {
    const bytes = cancelRequest({ pid: 1, secret: Buffer.alloc(32, 7) });
    expect(bytes.length).toBe(44);
    expect(bytes.readInt32BE(0)).toBe(44);
    expect(bytes.subarray(12)).toEqual(Buffer.alloc(32, 7));
  });
});
