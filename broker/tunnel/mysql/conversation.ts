// The broker's own short MySQL conversations with a server (the KILL QUERY at a cut, kill.ts): a
// login with a password the broker holds, then commands, one answer at a time. Messages arrive
// through the same framer as the tunnel's (packets.ts); each step waits for the next whole message.

import type net from 'node:net';
import { Capability, Reply } from './codes.js';
import { decodeGreeting, type Greeting } from './messages.js';
import { CACHING_SHA2_PASSWORD, passwordProof } from './auth.js';
import { packet, PacketFramer, type Message } from './packets.js';

/** The broker's logins ask for what they use and nothing else: 4.1 framing, plugin auth, no TLS, no compression. */
const LOGIN_CAPABILITIES =
  0x0000_0001 /* long password */ |
  0x0000_0004 /* long flag */ |
  Capability.protocol41 |
  0x0000_2000 /* transactions */ |
  Capability.secureConnection |
  Capability.pluginAuth;
/** utf8mb4_general_ci: every server since MySQL 5.5.3 and MariaDB 5.5 knows it. */
const UTF8MB4 = 45;
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
    socket.on('data', (chunk: Buffer) => {
      try {
        // Bodies are views of the chunk; a message may wait in the queue past it, so each is copied.
        this.#framer.push(chunk, (message) => this.#deliver({ ...message, body: Buffer.from(message.body) }));
      } catch (error) {
        this.#fail(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.on('error', (error) => this.#fail(error));
    socket.on('close', () => this.#fail(new Error('the server closed the connection')));
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
    for (;;) {
      const reply = await this.next();
      const kind = reply.body[0];
      if (kind === Reply.ok) return greeting;
      if (kind === Reply.error) throw refused(reply.body);
      if (kind === Reply.authSwitch) {
        const end = reply.body.indexOf(0, 1);
        const plugin = reply.body.toString('latin1', 1, end === -1 ? reply.body.length : end);
        const switched = passwordProof(plugin, password, reply.body.subarray(end + 1));
        if (switched === null) throw new Error(`the server asked for the ${plugin} authentication plugin, which the broker does not speak`);
        this.send(reply.seq + 1, switched);
        continue;
      }
      // caching_sha2_password: 3 says the fast proof was accepted (OK follows); 4 asks for the password itself.
      if (kind === Reply.authMoreData && reply.body[1] === 3) continue;
      if (kind === Reply.authMoreData && reply.body[1] === 4) {
        throw new Error(`the server wants the password itself (${CACHING_SHA2_PASSWORD} full authentication), which the broker sends only over TLS`);
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

function cstring(text: string): Buffer {
  return Buffer.concat([Buffer.from(text, 'utf8'), Buffer.from([0])]);
}

function refused(body: Buffer): ServerRefused {
  const { errno, message } = decodeError(body);
  return new ServerRefused(`the server refused: ${message} (error ${errno})`, errno);
}
