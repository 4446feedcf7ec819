// The broker's password proofs agree with an independent client's (mysql2's own code), and its
// login answers what a server asks: a plugin switch, and caching_sha2_password's full
// authentication with the server's RSA key, checked here by a fake server that decrypts it.

import { constants, generateKeyPairSync, privateDecrypt, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { CACHING_SHA2_PASSWORD, NATIVE_PASSWORD, passwordProof } from '../../../../broker/tunnel/mysql/auth.js';
import { Conversation, rsaPassword, ServerRefused } from '../../../../broker/tunnel/mysql/conversation.js';
import { packet, PacketFramer, type Message } from '../../../../broker/tunnel/mysql/packets.js';
import { startTarget, type Target } from '../harness.js';

const require = createRequire(import.meta.url);
const mysql2 = path.dirname(require.resolve('mysql2/package.json'));
const auth41 = require(path.join(mysql2, 'lib/auth_41.js')) as { calculateToken(password: string, seed1: Buffer, seed2: Buffer): Buffer };
const sha2 = require(path.join(mysql2, 'lib/auth_plugins/caching_sha2_password.js')) as { calculateToken(password: string, scramble: Buffer): Buffer };

const nonce = randomBytes(20);

describe('passwordProof', () => {
  it("computes mysql_native_password's proof as mysql2 does", () => {
    expect(passwordProof(NATIVE_PASSWORD, 'pässword', nonce)).toEqual(auth41.calculateToken('pässword', nonce.subarray(0, 8), nonce.subarray(8)));
  });

  it("computes caching_sha2_password's fast-path proof as mysql2 does, ignoring the nonce's trailing NUL", () => {
    expect(passwordProof(CACHING_SHA2_PASSWORD, 's3cret', Buffer.concat([nonce, Buffer.from([0])]))).toEqual(sha2.calculateToken('s3cret', nonce));
  });

  it('sends an empty proof for an empty password, and none for a plugin it does not speak', () => {
    expect(passwordProof(NATIVE_PASSWORD, '', nonce)).toEqual(Buffer.alloc(0));
    expect(passwordProof('client_ed25519', 'x', nonce)).toBeNull();
  });
});

let target: Target | null = null;
afterEach(async () => {
  await target?.close();
  target = null;
});

/** A fake server: runs `script` with each message the broker sends, in order. */
async function serve(script: (next: () => Promise<Message>, send: (seq: number, payload: Buffer) => void) => Promise<void>): Promise<Conversation> {
  target = await startTarget((socket) => {
    const queue: Message[] = [];
    let wake: (() => void) | null = null;
    const framer = new PacketFramer(() => 4096);
    socket.on('data', (chunk: Buffer) =>
      framer.push(chunk, (message) => {
        queue.push({ ...message, body: Buffer.from(message.body) });
        wake?.();
      }),
    );
    const next = async (): Promise<Message> => {
      while (queue.length === 0) await new Promise<void>((resolve) => (wake = resolve));
      return queue.shift() as Message;
    };
    void script(next, (seq, payload) => socket.write(packet(seq, payload)));
  });
  const socket = net.connect({ host: '127.0.0.1', port: target.port });
  await new Promise((resolve) => socket.once('connect', resolve));
  return new Conversation(socket);
}

describe('Conversation.authenticate', () => {
  it('follows a switch to caching_sha2_password and its full authentication with the RSA key the server sends', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const switched = randomBytes(20);
    const seen: string[] = [];
    const conversation = await serve(async (next, send) => {
      send(2, Buffer.concat([Buffer.from([0xfe]), Buffer.from(`${CACHING_SHA2_PASSWORD}\0`), switched, Buffer.from([0])]));
      const proof = await next();
      seen.push(`proof ${proof.seq} ${proof.body.equals(sha2.calculateToken('s3cret', switched))}`);
      send(4, Buffer.from([0x01, 0x04]));
      const ask = await next();
      seen.push(`ask ${ask.seq} ${ask.body.toString('hex')}`);
      send(6, Buffer.concat([Buffer.from([0x01]), Buffer.from(publicKey.export({ type: 'spki', format: 'pem' }))]));
      const sealed = await next();
      const plain = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, sealed.body);
      for (let i = 0; i < plain.length; i++) plain[i] = (plain[i] as number) ^ (switched[i % 20] as number);
      seen.push(`password ${sealed.seq} ${JSON.stringify(plain.toString())}`);
      send(8, Buffer.from([0, 0, 0, 2, 0, 0, 0]));
    });
    const { ok, method } = await conversation.authenticate('s3cret', NATIVE_PASSWORD, nonce);
    expect(seen).toEqual(['proof 3 true', 'ask 5 02', 'password 7 "s3cret\\u0000"']);
    expect(ok.seq).toBe(8);
    expect(method).toBe(CACHING_SHA2_PASSWORD);
  });

  it("rejects with the server's refusal (number and words) at its ERR", async () => {
    const conversation = await serve(async (_next, send) => {
      send(2, Buffer.concat([Buffer.from([0xff, 0x15, 0x04]), Buffer.from("#28000Access denied for user 'app'@'localhost'")]));
    });
    const error = await conversation.authenticate('wrong', NATIVE_PASSWORD, nonce).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ServerRefused);
    expect(error).toMatchObject({ errno: 1045, message: expect.stringContaining("Access denied for user 'app'") });
  });

  it('rsaPassword seals the password so that only the key holder reads it', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const sealed = rsaPassword('pw', nonce, Buffer.from(publicKey.export({ type: 'spki', format: 'pem' })));
    expect(sealed.includes(Buffer.from('pw'))).toBe(false);
    const plain = privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, sealed);
    expect(plain.map((byte, i) => byte ^ (nonce[i % 20] as number)).toString()).toBe('pw\0');
  });
});
