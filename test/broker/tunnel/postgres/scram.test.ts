// The broker's SCRAM-SHA-256 client against RFC 7677's worked example, and the ways a server can
// break the exchange: each is refused with a reason, never a login.

import { describe, expect, it } from 'vitest';
import { chooseMechanism, MAX_SCRAM_ITERATIONS, saslPrep, scramContinue, scramFinish, scramStart } from '../../../../broker/tunnel/postgres/scram.js';
import { md5Password } from '../../../../broker/tunnel/postgres/login.js';

// RFC 7677 section 3: user "user", password "pencil".
const CLIENT_NONCE = 'rOprNGfwEbeRWgbNEkqO';
const SERVER_FIRST = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
const CLIENT_FINAL = 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=';
const SERVER_FINAL = 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=';

describe('SCRAM-SHA-256', () => {
  it("computes RFC 7677's client proof and accepts its server signature", async () => {
    const start = scramStart(null, CLIENT_NONCE, 'user');
    expect(start.clientFirst).toBe(`n,,n=user,r=${CLIENT_NONCE}`);
    const step = await scramContinue(start, 'pencil', SERVER_FIRST);
    expect(step.clientFinal).toBe(CLIENT_FINAL);
    expect(() => scramFinish(step, SERVER_FINAL)).not.toThrow();
  });

  it('names the user * for PostgreSQL, which reads the role from the StartupMessage', () => {
    expect(scramStart(null, 'abc').clientFirst).toBe('n,,n=*,r=abc');
  });

  it('refuses a server that does not prove it knows the password', async () => {
    const step = await scramContinue(scramStart(null, CLIENT_NONCE, 'user'), 'pencil', SERVER_FIRST);
    expect(() => scramFinish(step, 'v=AAAAi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=')).toThrow(/signature is wrong/);
    expect(() => scramFinish(step, 'e=invalid-proof')).toThrow('the server ended the exchange: invalid-proof');
  });

  it("refuses a nonce that does not extend the broker's, and an iteration count that would stall the broker", async () => {
    const start = scramStart(null, CLIENT_NONCE, 'user');
    await expect(scramContinue(start, 'pencil', 'r=somebodyElse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096')).rejects.toThrow(/nonce/);
    await expect(scramContinue(start, 'pencil', `r=${CLIENT_NONCE},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096`)).rejects.toThrow(/nonce/);
    await expect(scramContinue(start, 'pencil', `r=${CLIENT_NONCE}x,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=${MAX_SCRAM_ITERATIONS + 1}`)).rejects.toThrow(
      /more than the 100000/,
    );
  });

  it('binds to the TLS certificate when it can (SCRAM-SHA-256-PLUS), else uses SCRAM-SHA-256, and says why when neither fits', () => {
    expect(chooseMechanism(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'], true)).toEqual({ mechanism: 'SCRAM-SHA-256-PLUS' });
    expect(chooseMechanism(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256'], false)).toEqual({ mechanism: 'SCRAM-SHA-256' });
    expect(chooseMechanism(['SCRAM-SHA-256'], true)).toEqual({ mechanism: 'SCRAM-SHA-256' });
    expect(chooseMechanism(['SCRAM-SHA-256-PLUS'], false)).toMatchObject({ problem: expect.stringContaining('only SCRAM-SHA-256-PLUS (channel binding)') });
  });

  it('carries the binding in the gs2 header and, with its data, in the final message', async () => {
    const binding = { type: 'tls-server-end-point' as const, data: Buffer.from('0123456789abcdef0123456789abcdef') };
    const start = scramStart(binding, CLIENT_NONCE);
    expect(start.clientFirst).toBe(`p=tls-server-end-point,,n=*,r=${CLIENT_NONCE}`);
    const step = await scramContinue(start, 'pencil', SERVER_FIRST);
    const channel = /^c=([^,]+),/.exec(step.clientFinal)?.[1] ?? '';
    expect(Buffer.from(channel, 'base64')).toEqual(Buffer.concat([Buffer.from('p=tls-server-end-point,,'), binding.data]));
  });

  it('prepares passwords as libpq does: non-ASCII spaces become spaces, soft hyphens vanish, NFKC', () => {
    expect(saslPrep('a\u00A0b\u00ADc\uFB01')).toBe('a bcfi');
  });
});

describe('MD5', () => {
  it('answers md5(md5(password + user) + salt) as PostgreSQL computes it', () => {
    // Python: 'md5' + md5(md5(b'secretapp').hexdigest().encode() + bytes([1, 2, 3, 4])).hexdigest()
    expect(md5Password('app', 'secret', Buffer.from([1, 2, 3, 4]))).toBe('md5911f527656472583a006e7727877b33e');
  });
});
