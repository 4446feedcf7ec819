// The Postgres preamble of a resource with stored logins (`credentials`, credential injection):
// after declining the client's encryption requests (ssl-decline.ts), it reads the client's
// StartupMessage, replaces its `user` with the chosen credential's (the database the client asked
// for stays; none asked: the resource's `database`), and logs in to the server itself (login.ts).
// The client is never asked for a password: the first thing it receives is the server's
// AuthenticationOk, then the session as usual.
//
// The login is audited (db.login: the database user, where the password came from, accepted or
// refused). A refused login reaches the client as a FATAL ErrorResponse naming the resource's
// stored login (psql prints it), and the tunnel is cut with CloseCode.credentialRefused: a wrong
// stored password is an administrator's to fix, said at once, not a hang.
//
// A CancelRequest (a client cancelling its running query over a new connection) needs no login:
// it is passed on as it is, with the key the server gave the session.

import type { DatabaseCredential, ResourcePolicy } from '../../config/types.js';
import { recordDbLogin } from '../database-credential.js';
import type { ClientPreamble, LoginOutcome, PreambleContext, PreambleStep } from '../protocol.js';
import { CANCEL_REQUEST_CODE, MAX_STARTUP_BYTES, PROTOCOL_MAJOR_3 } from './codes.js';
import { MalformedMessage } from '../message-reader.js';
import { startupParameters } from './frontend-messages.js';
import { fatalError, loginToPostgres, type LoginResult } from './login.js';
import { DeclineEncryption } from './ssl-decline.js';

const STARTUP_HEADER_BYTES = 8;
const NOTHING = Buffer.alloc(0);
/** SQLSTATE invalid_authorization_specification: what a client shows for a login the server refused. */
const INVALID_AUTHORIZATION = '28000';

export class InjectCredential implements ClientPreamble {
  readonly #policy: ResourcePolicy;
  readonly #credential: DatabaseCredential;
  readonly #tunnel: PreambleContext;
  #decline: DeclineEncryption | null = new DeclineEncryption();
  #startup: Buffer = NOTHING;

  constructor(policy: ResourcePolicy, credential: DatabaseCredential, tunnel: PreambleContext) {
    this.#policy = policy;
    this.#credential = credential;
    this.#tunnel = tunnel;
  }

  take(chunk: Buffer, answer: (bytes: Buffer) => void): PreambleStep {
    let data = chunk;
    if (this.#decline) {
      const step = this.#decline.take(chunk, answer);
      if (!('done' in step)) return step;
      if (!step.done) return step;
      this.#decline = null;
      data = step.forward;
    }
    // Copied: the relay's chunk is not ours to keep past this call.
    this.#startup = Buffer.concat([this.#startup, data]);
    if (this.#startup.length < STARTUP_HEADER_BYTES) return { forward: NOTHING, done: false };
    const length = this.#startup.readInt32BE(0);
    const code = this.#startup.readInt32BE(4);
    if (length < STARTUP_HEADER_BYTES || length > MAX_STARTUP_BYTES) {
      return { refuse: `the client's first message claims ${length} bytes, which is not a Postgres StartupMessage` };
    }
    if (this.#startup.length < length) return { forward: NOTHING, done: false };
    // A pipelining client's next messages: they wait for the login (the relay holds them).
    const rest = this.#startup.subarray(length);
    if (code === CANCEL_REQUEST_CODE) return { forward: this.#startup, done: true };
    if (code >>> 16 !== PROTOCOL_MAJOR_3) {
      return { refuse: `the client speaks Postgres protocol ${code >>> 16}.${code & 0xffff}; the broker logs in with protocol 3 only` };
    }
    let params: Map<string, string>;
    try {
      params = startupParameters(this.#startup.subarray(STARTUP_HEADER_BYTES, length));
    } catch (error) {
      if (error instanceof MalformedMessage) return { refuse: error.message };
      throw error;
    }
    const rewritten = startupMessage(code, withCredential(params, this.#credential.user, this.#policy.database));
    return { forward: rewritten, login: this.#login(), rest };
  }

  async #login(): Promise<LoginOutcome> {
    const result = await loginToPostgres(this.#tunnel.target, this.#credential);
    this.#audit(result);
    if (result.ok) return { answer: result.toClient };
    const { name } = this.#policy;
    const { user, source } = this.#credential;
    const said = result.serverError ? `the database said: ${result.serverError.message}` : result.reason;
    return {
      answer: fatalError(
        INVALID_AUTHORIZATION,
        `the access broker's stored login for ${name} (database user ${user}, password from ${source}) did not work — ${said}`,
        `This is not your password: tell an administrator of the access broker to fix the stored login for ${name}.`,
      ),
      refused: `the database refused the stored login for ${name} (user ${user}): ${said}`,
    };
  }

  #audit(result: LoginResult): void {
    const refused = result.ok ? null : result.serverError ? `${result.serverError.code ?? '?'}: ${result.serverError.message}` : result.reason;
    recordDbLogin(this.#tunnel, this.#credential, result.method, refused);
  }
}

/** The client's parameters with the credential's user, and the resource's database when the client named none. */
function withCredential(params: ReadonlyMap<string, string>, user: string, database: string | null): Map<string, string> {
  const result = new Map(params);
  result.set('user', user);
  if (!result.has('database') && database !== null) result.set('database', database);
  return result;
}

/** A StartupMessage: length, protocol version, then NUL-terminated name/value pairs and a final NUL. */
function startupMessage(version: number, params: ReadonlyMap<string, string>): Buffer {
  const pairs = [...params].flatMap(([key, value]) => [Buffer.from(`${key}\0`, 'utf8'), Buffer.from(`${value}\0`, 'utf8')]);
  const body = Buffer.concat([...pairs, Buffer.from([0])]);
  const header = Buffer.alloc(STARTUP_HEADER_BYTES);
  header.writeInt32BE(STARTUP_HEADER_BYTES + body.length, 0);
  header.writeInt32BE(version, 4);
  return Buffer.concat([header, body]);
}
