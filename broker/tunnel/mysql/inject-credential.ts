// The MySQL/MariaDB preamble of a resource with stored logins (`credentials`, credential
// injection): the client has the server's greeting (without TLS, greeting.ts) and answers with its
// HandshakeResponse41, whatever password it has (or none). The broker puts the chosen credential's
// user and its own proof of the stored password in it (the nonce is the greeting's; the plugin the
// one the server proposed), keeps the client's capabilities, character set, attributes and
// database (none: the resource's `database`), and answers the server's authentication itself
// (conversation.ts: a switch to another plugin; caching_sha2_password's fast path, or its full
// authentication with the server's RSA key, since the broker → database leg of a mysql resource
// is plaintext). The client is never asked for a password: it receives the server's OK as the
// answer to its handshake, then the session as usual.
//
// The login is audited (db.login, as for Postgres). A refused login reaches the client as an ERR
// packet naming the resource's stored login (`ERROR 1045 (28000): …` in the mysql client) and the
// tunnel is cut with CloseCode.credentialRefused: an administrator's to fix, said at once, not a hang.

import type { DatabaseCredential, ResourcePolicy } from '../../config/types.js';
import { recordDbLogin } from '../database-credential.js';
import type { ClientPreamble, LoginOutcome, PreambleContext, PreambleStep } from '../protocol.js';
import { LOGIN_TIMEOUT_MS } from '../database-credential.js';
import { passwordProof } from './auth.js';
import { Capability, DECLINED_CAPABILITIES, MAX_PACKET_PAYLOAD_BYTES, PACKET_HEADER_BYTES } from './codes.js';
import { Conversation, errorPayload, ServerRefused } from './conversation.js';
import { greetingOf } from './greeting.js';
import { MalformedMessage } from '../message-reader.js';
import { decodeHandshakeResponse, withLogin } from './messages.js';
import { packet } from './packets.js';

/** A handshake with its connection attributes is a few hundred bytes; MySQL caps attributes at 64 KiB. */
const MAX_HANDSHAKE_BYTES = 70 * 1024;
const NOTHING = Buffer.alloc(0);
/** ER_ACCESS_DENIED_ERROR and its SQLSTATE: what a client shows for a login the server refused. */
const ACCESS_DENIED = 1045;
const INVALID_AUTHORIZATION = '28000';

export class InjectMysqlCredential implements ClientPreamble {
  readonly #policy: ResourcePolicy;
  readonly #credential: DatabaseCredential;
  readonly #tunnel: PreambleContext;
  #handshake: Buffer = NOTHING;

  constructor(policy: ResourcePolicy, credential: DatabaseCredential, tunnel: PreambleContext) {
    this.#policy = policy;
    this.#credential = credential;
    this.#tunnel = tunnel;
  }

  take(chunk: Buffer): PreambleStep {
    // Copied: the relay's chunk is not ours to keep past this call.
    this.#handshake = Buffer.concat([this.#handshake, chunk]);
    if (this.#handshake.length < PACKET_HEADER_BYTES) return { forward: NOTHING, done: false };
    const length = this.#handshake.readUIntLE(0, 3);
    const seq = this.#handshake[3] as number;
    if (seq !== 1 || length >= MAX_PACKET_PAYLOAD_BYTES || length > MAX_HANDSHAKE_BYTES) {
      return { refuse: `the client's first packet (sequence id ${seq}, ${length} bytes) is not a MySQL handshake` };
    }
    const end = PACKET_HEADER_BYTES + length;
    if (this.#handshake.length < end) return { forward: NOTHING, done: false };
    // Anything after the handshake (a client that does not wait for the OK) is held until the login is done.
    const rest = this.#handshake.subarray(end);
    const greeting = greetingOf(this.#tunnel.target);
    if (!greeting) return { refuse: "the broker did not keep the server's greeting, so it cannot log in" };
    const body = this.#handshake.subarray(PACKET_HEADER_BYTES, end);
    try {
      const response = decodeHandshakeResponse(body);
      if (response.sslRequest) return { refuse: 'the client asked for TLS, which the broker declines: the tunnel is TLS to the broker already' };
      if (response.capabilities & DECLINED_CAPABILITIES)
        return { refuse: 'the client asked for TLS, compression or query attributes, which the broker declined' };
      if (!(response.capabilities & Capability.secureConnection)) return { refuse: 'the client does not send length-prefixed auth data (a pre-4.1 client)' };
      const { password, user } = this.#credential;
      const proof = passwordProof(greeting.authPlugin, password, greeting.scramble) ?? NOTHING;
      const rewritten = withLogin(body, { user, proof, plugin: greeting.authPlugin, database: this.#policy.database });
      return { forward: packet(seq, rewritten), login: this.#login(greeting.authPlugin, greeting.scramble), rest };
    } catch (error) {
      if (error instanceof MalformedMessage) return { refuse: error.message };
      throw error;
    }
  }

  /** Answers the server until its OK; the client then gets that OK as the answer to its own handshake (seq 2). */
  async #login(plugin: string, scramble: Buffer): Promise<LoginOutcome> {
    const conversation = new Conversation(this.#tunnel.target);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the database did not finish the login within ${LOGIN_TIMEOUT_MS / 1000}s`)), LOGIN_TIMEOUT_MS);
    });
    try {
      const { ok, method } = await Promise.race([conversation.authenticate(this.#credential.password, plugin, scramble), timeout]);
      recordDbLogin(this.#tunnel, this.#credential, method, null);
      return { answer: packet(2, ok.body) };
    } catch (error) {
      const said =
        error instanceof ServerRefused
          ? `the database said: ${error.message.replace(/^the server refused: /, '')}`
          : error instanceof Error
            ? error.message
            : String(error);
      recordDbLogin(this.#tunnel, this.#credential, plugin, said);
      const { name } = this.#policy;
      const { user, source } = this.#credential;
      const message =
        `the access broker's stored login for ${name} (database user ${user}, password from ${source}) did not work — ${said}. ` +
        `This is not your password: tell an administrator of the access broker to fix the stored login for ${name}.`;
      return {
        answer: packet(2, errorPayload(ACCESS_DENIED, INVALID_AUTHORIZATION, message)),
        refused: `the database refused the stored login for ${name} (user ${user}): ${said}`,
      };
    } finally {
      clearTimeout(timer);
      conversation.detach();
    }
  }
}
