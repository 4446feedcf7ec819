// The broker's own MySQL conversations with a server: the KILL QUERY at a cut (kill.ts), a login
// with a password the broker holds, then commands; and the login of a tunnel with a stored credential
// (inject-credential.ts), after the client's rewritten handshake. One answer at a time. Messages arrive
// through the same framer as the tunnel's (packets.ts); each step waits for the next whole message.

import { constants, publicEncrypt } from 'node:crypto';
import type net from 'node:net';
import { Capability, Reply } from './codes.js';
import { decodeGreeting, type Greeting } from './messages.js';
import { CACHING_SHA2_PASSWORD, passwordProof } from './auth.js';
import { packet, PacketFramer, type Message } from './packets.js';

/** The broker's logins ask for what they use and nothing else: 4.1 framing, plugin auth, no TLS, no compression. */
const LOGIN_CAPABILITIES =
  Capability.longPassword | Capability.longFlag | Capability.protocol41 | Capability.transactions | Capability.secureConnection | Capability.pluginAuth;
/** utf8mb4_general_ci: every server since MySQL 5.5.3 and MariaDB 5.5 knows it. */
const UTF8MB4 = 45;
/** caching_sha2_password's AuthMoreData codes, and the client's request for the server's public key. */
const FAST_AUTH_OK = 3;
const FULL_AUTH = 4;
const REQUEST_PUBLIC_KEY = 2;
/** What the broker reads of an answer: enough for any error message or greeting. */
const KEEP_BYTES = 64 * 1024;

export class ServerRefused extends Error {
  constructor(
    message: string,
    /** The server's error number (e.g. 1045 access denied). */
    readonly errno: number,
  ) {
    super(message);
  }
}

/** An ERR packet's number and message. */
export function decodeError(body: Buffer): { errno: number; message: string } {
  const errno = body.length >= 3 ? body.readUInt16LE(1) : 0;
  // '#' and a five-character SQLSTATE come before the message in the 4.1 protocol.
  const start = body[3] === 0x23 ? 9 : 3;
  return { errno, message: body.toString('utf8', Math.min(start, body.length)) };
}

export class Conversation {
  readonly #socket: net.Socket;
  readonly #framer = new PacketFramer(() => KEEP_BYTES);
  readonly #queue: Message[] = [];
  #waiting: { resolve: (message: Message) => void; reject: (error: Error) => void } | null = null;
  #failed: Error | null = null;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  /** The next whole message from the server. */
  next(): Promise<Message> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#failed) return Promise.reject(this.#failed);
    return new Promise((resolve, reject) => {
      this.#waiting = { resolve, reject };
    });
  }

  send(seq: number, payload: Buffer): void {
    this.#socket.write(packet(seq, payload));
  }

  /** Stops reading the socket and pauses it (the relay takes it over and resumes it). */
  detach(): void {
    this.#socket.pause();
    this.#socket.off('data', this.#onData);
    this.#socket.off('error', this.#onError);
    this.#socket.off('close', this.#onClose);
  }

  /** Reads the greeting and logs in as `user` with `password`; resolves with the greeting once the server said OK. */
  async login(user: string, password: string): Promise<Greeting> {
    const first = await this.next();
    if (first.body[0] === Reply.error) throw refused(first.body);
    const greeting = decodeGreeting(first.body);
    const proof = passwordProof(greeting.authPlugin, password, greeting.scramble) ?? Buffer.alloc(0);
    const fixed = Buffer.alloc(32);
    fixed.writeUInt32LE((LOGIN_CAPABILITIES & greeting.capabilities) >>> 0, 0);
    fixed.writeUInt32LE(16 * 1024 * 1024, 4);
    fixed[8] = UTF8MB4;
    const response = Buffer.concat([fixed, cstring(user), Buffer.from([proof.length]), proof, cstring(greeting.authPlugin)]);
    this.send(first.seq + 1, response);
    await this.authenticate(password, greeting.authPlugin, greeting.scramble);
    return greeting;
  }

  /**
   * After a HandshakeResponse proving `password` for `plugin`: answers what the server asks (a
   * switch to another plugin, caching_sha2_password's full authentication) until its OK, which it
   * resolves with, and the plugin that was used. Rejects with ServerRefused at the server's ERR.
   */
  async authenticate(password: string, plugin: string, scramble: Buffer): Promise<{ ok: Message; method: string }> {
    let method = plugin;
    let nonce = scramble;
    for (;;) {
      const reply = await this.next();
      const kind = reply.body[0];
      if (kind === Reply.ok) return { ok: reply, method };
      if (kind === Reply.error) throw refused(reply.body);
      if (kind === Reply.authSwitch) {
        const end = reply.body.indexOf(0, 1);
        method = reply.body.toString('latin1', 1, end === -1 ? reply.body.length : end);
        nonce = reply.body.subarray(end + 1);
        const proof = passwordProof(method, password, nonce);
        if (proof === null) throw new Error(`the server asked for the ${method} authentication plugin, which the broker does not speak`);
        this.send(reply.seq + 1, proof);
        continue;
      }
      // caching_sha2_password: 3 says the fast proof was accepted (OK follows); 4 asks for the password itself.
      if (kind === Reply.authMoreData && reply.body[1] === FAST_AUTH_OK) continue;
      if (kind === Reply.authMoreData && reply.body[1] === FULL_AUTH && method === CACHING_SHA2_PASSWORD) {
        await this.#fullAuthentication(reply.seq, password, nonce);
        continue;
      }
      throw new Error(`the server answered the login with an unexpected packet (0x${(kind ?? 0).toString(16)})`);
    }
  }

  /** Runs one statement that returns no rows; resolves at its OK, rejects with ServerRefused at its ERR. */
  async run(sql: string): Promise<void> {
    this.send(0, Buffer.concat([Buffer.from([0x03]), Buffer.from(sql, 'utf8')]));
    const reply = await this.next();
    if (reply.body[0] === Reply.error) throw refused(reply.body);
  }

  /** COM_QUIT, then the socket is closed. */
  quit(): void {
    this.send(0, Buffer.from([0x01]));
    this.#socket.end();
  }

  /**
   * caching_sha2_password without TLS, when the server's cache does not hold the user: the broker
   * asks for the server's RSA public key and sends the password encrypted with it (OAEP), XORed with
   * the nonce, never in the clear. The key is the one the server sends on this connection (a
   * man-in-the-middle between broker and database could send its own: the same trust as the
   * plaintext connection the statements travel on).
   */
  async #fullAuthentication(seq: number, password: string, nonce: Buffer): Promise<void> {
    this.send(seq + 1, Buffer.from([REQUEST_PUBLIC_KEY]));
    const key = await this.next();
    if (key.body[0] !== Reply.authMoreData) throw new Error('the server did not send its public key for caching_sha2_password');
    this.send(key.seq + 1, rsaPassword(password, nonce, key.body.subarray(1)));
  }

  readonly #onData = (chunk: Buffer): void => {
    try {
      // Bodies are views of the chunk; a message may wait in the queue past it, so each is copied.
      this.#framer.push(chunk, (message) => this.#deliver({ ...message, body: Buffer.from(message.body) }));
    } catch (error) {
      this.#fail(error instanceof Error ? error : new Error(String(error)));
    }
  };

  readonly #onError = (error: Error): void => this.#fail(error);
  readonly #onClose = (): void => this.#fail(new Error('the server closed the connection'));

  #deliver(message: Message): void {
    const waiting = this.#waiting;
    this.#waiting = null;
    if (waiting) waiting.resolve(message);
    else this.#queue.push(message);
  }

  #fail(error: Error): void {
    this.#failed ??= error;
    const waiting = this.#waiting;
    this.#waiting = null;
    waiting?.reject(this.#failed);
  }
}

/** The password (NUL-terminated) XORed with the nonce, encrypted with the server's RSA key (OAEP, SHA-1), as MySQL 8 expects. */
export function rsaPassword(password: string, nonce: Buffer, publicKeyPem: Buffer): Buffer {
  const plain = Buffer.from(`${password}\0`, 'utf8');
  const seed = nonce.subarray(0, 20);
  for (let i = 0; i < plain.length; i++) plain[i] = (plain[i] as number) ^ (seed[i % seed.length] as number);
  return publicEncrypt({ key: publicKeyPem.toString('latin1'), padding: constants.RSA_PKCS1_OAEP_PADDING }, plain);
}

/** An ERR packet's payload: what a client prints as `ERROR errno (sqlstate): message`. */
export function errorPayload(errno: number, sqlState: string, message: string): Buffer {
  const head = Buffer.alloc(3);
  head[0] = Reply.error;
  head.writeUInt16LE(errno, 1);
  return Buffer.concat([head, Buffer.from(`#${sqlState}`, 'latin1'), Buffer.from(message, 'utf8')]);
}

function cstring(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
}

function refused(body: Buffer): ServerRefused {
  const { errno, message } = decodeError(body);
  return new ServerRefused(`the server refused: ${message} (error ${errno})`, errno);
}
