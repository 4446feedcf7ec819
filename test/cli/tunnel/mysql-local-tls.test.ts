// The MySQL handshake rewriting behind the listener's local TLS (cli/tunnel/mysql-local-tls.ts),
// over byte buffers: TLS offered in the greeting, the SSLRequest taken here, the client's handshake
// from inside TLS sent up as the broker expects it (sequence id 1, no CLIENT_SSL), sequence ids
// shifted both ways until the server's OK, and nothing changed for a client that asks for no TLS.
// What goes up is checked with the broker's own decoder.

import { describe, expect, it } from 'vitest';
import { Capability, DECLINED_CAPABILITIES } from '../../../broker/tunnel/mysql/codes.js';
import { decodeGreeting, decodeHandshakeResponse } from '../../../broker/tunnel/mysql/messages.js';
import { packet } from '../../../broker/tunnel/mysql/packets.js';
import { MysqlHandshakeError, MysqlTlsOffer } from '../../../cli/tunnel/mysql-local-tls.js';
import { command, greeting, handshake, OK, SERVER_CAPABILITIES, sslRequest } from '../../broker/tunnel/mysql/wire.js';

/** The greeting as the broker sends it: TLS taken out. */
const STRIPPED = greeting(7, SERVER_CAPABILITIES & ~DECLINED_CAPABILITIES);

/** `handshake(…)` as a client sends it inside TLS: CLIENT_SSL set, sequence id 2. */
function tlsHandshake(user: string, database: string | null): Buffer {
  const plain = handshake(user, database);
  const bytes = Buffer.from(plain);
  bytes.writeUInt32LE((bytes.readUInt32LE(4) | Capability.ssl) >>> 0, 4);
  bytes[3] = 2;
  return bytes;
}

const switchTo = (plugin: string, seq: number): Buffer =>
  packet(seq, Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${plugin}\0`), Buffer.alloc(20, 0x33), Buffer.from([0])]));
const AUTH_SWITCH = (seq: number): Buffer => switchTo('mysql_native_password', seq);
const AUTH_DATA = (seq: number): Buffer => packet(seq, Buffer.alloc(20, 0x44));

function payloadOf(bytes: Buffer): Buffer {
  return bytes.subarray(4, 4 + bytes.readUIntLE(0, 3));
}

/** An offer past the SSLRequest: the caller has started TLS. */
function afterSslRequest(): MysqlTlsOffer {
  const offer = new MysqlTlsOffer();
  offer.down(STRIPPED);
  const result = offer.up(sslRequest());
  expect(result).toEqual({ forward: Buffer.alloc(0), startTls: { rest: Buffer.alloc(0) } });
  return offer;
}

describe('the greeting', () => {
  it('offers TLS in the greeting the broker stripped, and changes nothing else in it', () => {
    const shown = new MysqlTlsOffer().down(STRIPPED);
    const decoded = decodeGreeting(payloadOf(shown));
    const original = decodeGreeting(payloadOf(STRIPPED));
    expect(original.capabilities & Capability.ssl).toBe(0);
    expect(decoded.capabilities).toBe((original.capabilities | Capability.ssl) >>> 0);
    expect(decoded.scramble).toEqual(original.scramble);
    expect({ ...decoded, capabilities: 0 }).toEqual({ ...original, capabilities: 0 });
    expect(shown[3]).toBe(0);
  });

  it('offers TLS in a greeting that already has it (a relay that does not strip), unchanged', () => {
    const full = greeting(7);
    expect(new MysqlTlsOffer().down(full)).toEqual(full);
  });

  it('reads a greeting that arrives a byte at a time, with what follows it', () => {
    const offer = new MysqlTlsOffer();
    const out: Buffer[] = [];
    const stream = Buffer.concat([STRIPPED, Buffer.from('after')]);
    for (let i = 0; i < stream.length; i++) out.push(offer.down(stream.subarray(i, i + 1)));
    const all = Buffer.concat(out);
    expect(all.subarray(all.length - 5).toString()).toBe('after');
    expect(decodeGreeting(payloadOf(all)).capabilities & Capability.ssl).toBe(Capability.ssl);
    expect(offer.phase).toBe('offered');
  });

  it('passes on an ERR instead of a greeting (too many connections) as it is, and everything after', () => {
    const err = packet(0, Buffer.concat([Buffer.from([0xff, 0x10, 0x04]), Buffer.from('Too many connections')]));
    const offer = new MysqlTlsOffer();
    expect(offer.down(err)).toEqual(err);
    expect(offer.up(Buffer.from('x')).forward).toEqual(Buffer.from('x'));
    expect(offer.phase).toBe('relay');
  });
});

describe('a client that asks for no TLS', () => {
  it('goes up unchanged, handshake and commands, and the answers come down unchanged', () => {
    const offer = new MysqlTlsOffer();
    offer.down(STRIPPED);
    const hello = handshake('alice', 'shop');
    const query = command(0x03, 'select 1');
    expect(offer.up(hello.subarray(0, 10)).forward).toEqual(Buffer.alloc(0));
    const up = offer.up(Buffer.concat([hello.subarray(10), query]));
    expect(up.startTls).toBeUndefined();
    expect(up.forward).toEqual(Buffer.concat([hello, query]));
    expect(offer.down(OK(2))).toEqual(OK(2));
    expect(offer.phase).toBe('relay');
  });
});

describe('a client that asks for TLS', () => {
  it('starts TLS at its SSLRequest and hands back the TLS bytes that came with it', () => {
    const offer = new MysqlTlsOffer();
    offer.down(STRIPPED);
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05]);
    const request = sslRequest();
    expect(offer.up(request.subarray(0, 3))).toEqual({ forward: Buffer.alloc(0) });
    expect(offer.up(Buffer.concat([request.subarray(3), hello]))).toEqual({ forward: Buffer.alloc(0), startTls: { rest: hello } });
    expect(offer.phase).toBe('tls');
  });

  it('sends its handshake from inside TLS up as sequence id 1 without CLIENT_SSL, which the broker reads as a plain handshake', () => {
    const offer = afterSslRequest();
    const inside = tlsHandshake('alice', 'shop');
    const up = offer.up(inside).forward;
    expect(up[3]).toBe(1);
    const response = decodeHandshakeResponse(payloadOf(up));
    expect(response).toMatchObject({ sslRequest: false, user: 'alice', database: 'shop', program: 'rec-client' });
    expect(response.capabilities & DECLINED_CAPABILITIES).toBe(0);
    // Everything but the capability flag is the client's own.
    expect(payloadOf(up).subarray(4)).toEqual(payloadOf(inside).subarray(4));
  });

  it('shifts sequence ids both ways through an auth switch until the OK, then passes commands unchanged', () => {
    const offer = afterSslRequest();
    offer.up(tlsHandshake('alice', null));
    // The server: switch (2), the client: its answer (3), the server: OK (4). The client counts one more.
    expect(offer.down(AUTH_SWITCH(2))).toEqual(AUTH_SWITCH(3));
    expect(offer.up(AUTH_DATA(4)).forward).toEqual(AUTH_DATA(3));
    expect(offer.down(OK(4))).toEqual(OK(5));
    expect(offer.phase).toBe('relay');
    const query = command(0x03, 'select 1');
    expect(offer.up(query).forward).toEqual(query);
    expect(offer.down(OK(1))).toEqual(OK(1));
  });

  it('renumbers packets split across chunks at any byte, and passes what follows the OK unchanged', () => {
    const offer = afterSslRequest();
    const inside = tlsHandshake('alice', 'shop');
    const up: Buffer[] = [];
    for (let i = 0; i < inside.length; i += 3) up.push(offer.up(inside.subarray(i, i + 3)).forward);
    expect(Buffer.concat(up)[3]).toBe(1);
    const after = packet(0, Buffer.from('not renumbered'));
    const stream = Buffer.concat([AUTH_SWITCH(2), OK(2 + 1), after]);
    const down: Buffer[] = [];
    for (let i = 0; i < stream.length; i++) down.push(offer.down(stream.subarray(i, i + 1)));
    expect(Buffer.concat(down)).toEqual(Buffer.concat([AUTH_SWITCH(3), OK(4), after]));
  });

  it('passes the ERR of a refused login down renumbered, and ends the handshake there', () => {
    const offer = afterSslRequest();
    offer.up(tlsHandshake('alice', null));
    const err = (seq: number): Buffer => packet(seq, Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from('#28000Access denied')]));
    expect(offer.down(err(2))).toEqual(err(3));
    expect(offer.phase).toBe('relay');
  });
});

describe('a password the client would send in the clear, believing the connection is TLS end to end', () => {
  it.each([
    ["caching_sha2_password's full authentication", packet(2, Buffer.from([0x01, 0x04]))],
    ['a switch to mysql_clear_password', switchTo('mysql_clear_password', 2)],
    ['a switch to sha256_password', switchTo('sha256_password', 2)],
  ])('is not sent up after %s: the connection ends, saying why', (what, ask) => {
    const offer = afterSslRequest();
    offer.up(tlsHandshake('alice', null));
    expect(offer.down(ask)[3]).toBe(3);
    const password = packet(4, Buffer.from('secret\0'));
    let refusal: unknown;
    try {
      offer.up(password);
    } catch (error) {
      refusal = error;
    }
    expect(refusal).toBeInstanceOf(MysqlHandshakeError);
    expect((refusal as Error).message).toMatch(new RegExp(`asked for ${what}, to which a client on TLS sends its password in the clear`));
    // The client hears it as an ERR after its own answer (its seq 4): ER_HANDSHAKE_ERROR, 08S01.
    const answer = (refusal as MysqlHandshakeError).answer as Buffer;
    expect(answer[3]).toBe(5);
    expect(payloadOf(answer).subarray(0, 9)).toEqual(Buffer.from([0xff, 0x13, 0x04, ...Buffer.from('#08S01')]));
    expect(payloadOf(answer).subarray(9).toString()).toMatch(/^access connect: the server asked for /);
  });

  it("lets caching_sha2_password's fast path through (the scramble, then 0x01 0x03 and the OK)", () => {
    const offer = afterSslRequest();
    offer.up(tlsHandshake('alice', null));
    expect(offer.down(packet(2, Buffer.from([0x01, 0x03])))).toEqual(packet(3, Buffer.from([0x01, 0x03])));
    expect(offer.down(OK(3))).toEqual(OK(4));
    expect(offer.phase).toBe('relay');
  });
});

describe('a client that is not speaking MySQL', () => {
  it('ends at a first packet that is no handshake, saying so', () => {
    const offer = new MysqlTlsOffer();
    offer.down(STRIPPED);
    expect(() => offer.up(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(MysqlHandshakeError);
    const again = new MysqlTlsOffer();
    again.down(STRIPPED);
    expect(() => again.up(Buffer.from('GET / HTTP/1.1\r\n'))).toThrow(/first packet \(sequence id 32, \d+ bytes\) is not a MySQL handshake/);
  });

  it('ends at a packet inside TLS that is not the handshake following the SSLRequest', () => {
    const offer = afterSslRequest();
    expect(() => offer.up(command(0x03, 'select 1'))).toThrow(/inside TLS \(sequence id 0, 9 bytes\) is not the handshake/);
  });

  it('ends at a handshake inside TLS that does not ask for TLS', () => {
    const offer = afterSslRequest();
    const plain = Buffer.from(handshake('alice', null));
    plain[3] = 2;
    expect(() => offer.up(plain)).toThrow(/not a HandshakeResponse41 asking for TLS/);
  });

  it('ends at an authentication packet out of order', () => {
    const offer = afterSslRequest();
    offer.up(tlsHandshake('alice', null));
    offer.down(AUTH_SWITCH(2));
    expect(() => offer.up(AUTH_DATA(1))).toThrow(/sequence id 1 during authentication: out of order/);
  });
});
