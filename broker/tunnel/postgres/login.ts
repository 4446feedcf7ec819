// The broker's own login to a Postgres server with a stored credential (credential injection):
// after the StartupMessage (the client's, with the credential's user), it answers whatever the
// server asks — SCRAM-SHA-256 (scram.ts), MD5, or a cleartext password (over TLS only) — and ends at the server's
// AuthenticationOk, which the client then receives as if it had logged in itself. Everything the
// server sends from AuthenticationOk on (ParameterStatus, BackendKeyData, ReadyForQuery) is the
// client's, untouched, so cancel requests and the cancel on cuts work as without injection.
//
// The password goes to the server only, in the form it asked for; it is never in a result, a
// reason, or anything the client receives.

import { createHash } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { DatabaseCredential } from '../../config/types.js';
import { LOGIN_TIMEOUT_MS } from '../database-credential.js';
import { MAX_STARTUP_MESSAGE_BYTES } from './backend-key.js';
import { serverEndPoint } from './channel-binding.js';
import {
  type ChannelBinding,
  chooseMechanism,
  SCRAM_SHA_256_PLUS,
  ScramError,
  scramContinue,
  scramFinish,
  scramStart,
  type ScramContinue,
  type ScramStart,
} from './scram.js';

/** Backend message types the login reads. */
const Backend = {
  authentication: 0x52, // 'R'
  errorResponse: 0x45, // 'E'
  negotiateProtocolVersion: 0x76, // 'v'
  noticeResponse: 0x4e, // 'N'
} as const;
/** Authentication request codes (the int32 after 'R'). */
const Auth = {
  ok: 0,
  kerberosV5: 2,
  cleartext: 3,
  md5: 5,
  gss: 7,
  sspi: 9,
  sasl: 10,
  saslContinue: 11,
  saslFinal: 12,
} as const;
const PASSWORD_MESSAGE = 0x70; // 'p': PasswordMessage, SASLInitialResponse, SASLResponse
const HEADER_BYTES = 5;
const MD5_SALT_BYTES = 4;

/** One backend message: its type, body, and its whole bytes (to hand on as they came). */
export interface BackendMessage {
  type: number;
  body: Buffer;
  raw: Buffer;
}

/** What the server said when it refused: its ErrorResponse fields the user needs. */
export interface ServerError {
  severity: string | null;
  /** SQLSTATE, e.g. 28P01 invalid_password. */
  code: string | null;
  message: string;
}

export type LoginResult =
  /** `toClient`: the server's bytes from its AuthenticationOk on (plus any notice before it), for the client as they are. */
  | { ok: true; method: string; toClient: Buffer }
  /** Why the login failed: `serverError` when the server refused it (a wrong password), else a problem of the exchange. */
  | { ok: false; method: string | null; reason: string; serverError: ServerError | null };

/** Cuts the server → broker stream into typed messages; throws on bytes that are not Postgres framing. */
export class BackendMessages {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** The next whole message, or null until more bytes come. */
  next(): BackendMessage | null {
    if (this.#buffer.length < HEADER_BYTES) return null;
    const length = this.#buffer.readInt32BE(1);
    if (length < 4 || length > MAX_STARTUP_MESSAGE_BYTES) {
      throw new Error(`the database sent a message of ${length} bytes during the login, which is not Postgres framing`);
    }
    const end = 1 + length;
    if (this.#buffer.length < end) return null;
    const raw = this.#buffer.subarray(0, end);
    this.#buffer = this.#buffer.subarray(end);
    return { type: raw[0] as number, body: raw.subarray(HEADER_BYTES), raw };
  }

  /** The bytes after the last message taken. */
  rest(): Buffer {
    return this.#buffer;
  }
}

/** The fields of an ErrorResponse or NoticeResponse body (type byte, NUL-terminated text, …, NUL). */
export function serverError(body: Buffer): ServerError {
  const fields = new Map<string, string>();
  let at = 0;
  while (at < body.length && body[at] !== 0) {
    const end = body.indexOf(0, at + 1);
    if (end === -1) break;
    fields.set(String.fromCharCode(body[at] as number), body.toString('utf8', at + 1, end));
    at = end + 1;
  }
  return { severity: fields.get('V') ?? fields.get('S') ?? null, code: fields.get('C') ?? null, message: fields.get('M') ?? 'no message' };
}

/** A FATAL ErrorResponse the client shows (psql prints "FATAL:  <message>", then the hint). */
export function fatalError(code: string, message: string, hint: string | null): Buffer {
  const fields: Array<[string, string]> = [
    ['S', 'FATAL'],
    ['V', 'FATAL'],
    ['C', code],
    ['M', message],
  ];
  if (hint !== null) fields.push(['H', hint]);
  const body = Buffer.concat([...fields.map(([key, value]) => Buffer.from(`${key}${value}\0`, 'utf8')), Buffer.from([0])]);
  return typed(Backend.errorResponse, body);
}

function typed(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = type;
  header.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([header, body]);
}

function cstring(text: string): Buffer {
  return Buffer.from(`${text}\0`, 'utf8');
}

/** "md5" + md5(md5(password + user) + salt), as PostgreSQL's MD5 method expects. */
export function md5Password(user: string, password: string, salt: Buffer): string {
  const inner = createHash('md5').update(password, 'utf8').update(user, 'utf8').digest('hex');
  return `md5${createHash('md5').update(inner, 'utf8').update(salt).digest('hex')}`;
}

function saslInitialResponse(mechanism: string, data: string): Buffer {
  const bytes = Buffer.from(data, 'utf8');
  const length = Buffer.alloc(4);
  length.writeInt32BE(bytes.length);
  return typed(PASSWORD_MESSAGE, Buffer.concat([cstring(mechanism), length, bytes]));
}

/** SASL mechanism names in an AuthenticationSASL body (after its code): NUL-terminated, then a NUL. */
function mechanisms(body: Buffer): string[] {
  return body
    .toString('utf8', 4)
    .split('\0')
    .filter((name) => name !== '');
}

/** What an authentication request the broker cannot answer with a password is called. */
const UNANSWERABLE: Record<number, string> = {
  [Auth.kerberosV5]: 'Kerberos V5',
  [Auth.gss]: 'GSSAPI',
  [Auth.sspi]: 'SSPI',
};

/**
 * The exchange itself, message by message: a state machine over the server's messages that says
 * what to send. Separate from the socket so each step reads on its own.
 */
class Exchange {
  method: string | null = null;
  readonly kept: Buffer[] = [];
  #scram: ScramStart | null = null;
  #scramContinue: ScramContinue | null = null;
  #scramFinished = false;

  constructor(
    readonly credential: DatabaseCredential,
    /** tls-server-end-point of the target's certificate when the broker speaks TLS to it; else null. */
    readonly binding: ChannelBinding | null,
    /** Whether the broker speaks TLS to the server: a cleartext password is sent over TLS only. */
    readonly encrypted: boolean,
  ) {}

  /** Bytes to send the server, 'done' at AuthenticationOk; throws LoginFailure when the login cannot go on. */
  async step(message: BackendMessage): Promise<Buffer | 'done' | null> {
    switch (message.type) {
      case Backend.errorResponse: {
        const error = serverError(message.body);
        throw new LoginFailure(error.message, error);
      }
      case Backend.negotiateProtocolVersion:
      case Backend.noticeResponse:
        // The client's to read, as it would have without the broker in between.
        this.kept.push(message.raw);
        return null;
      case Backend.authentication:
        return this.#authentication(message);
      default:
        throw new LoginFailure(`the database sent message type 0x${message.type.toString(16)} before the login was done`, null);
    }
  }

  async #authentication(message: BackendMessage): Promise<Buffer | 'done'> {
    if (message.body.length < 4) throw new LoginFailure('the database sent a malformed authentication request', null);
    const code = message.body.readInt32BE(0);
    const { user, password } = this.credential;
    switch (code) {
      case Auth.ok:
        if (this.#scram && !this.#scramFinished) throw new LoginFailure('the database ended SCRAM without proving it knows the password', null);
        this.method ??= 'trust';
        return 'done';
      case Auth.cleartext:
        this.method = 'password';
        // Anyone between the broker and the database could ask for it this way and read it.
        if (!this.encrypted) {
          throw new LoginFailure(
            'the database asks for the password in cleartext over a connection without TLS, and the broker does not send it so; set targetTls on the resource, or use scram-sha-256 for this user in pg_hba.conf',
            null,
          );
        }
        return typed(PASSWORD_MESSAGE, cstring(password));
      case Auth.md5: {
        if (message.body.length < 4 + MD5_SALT_BYTES) throw new LoginFailure('the database sent an MD5 request without its salt', null);
        this.method = 'md5';
        return typed(PASSWORD_MESSAGE, cstring(md5Password(user, password, message.body.subarray(4, 4 + MD5_SALT_BYTES))));
      }
      case Auth.sasl: {
        const chosen = chooseMechanism(mechanisms(message.body), this.binding !== null);
        if ('problem' in chosen) throw new LoginFailure(chosen.problem, null);
        this.method = chosen.mechanism;
        this.#scram = scramStart(chosen.mechanism === SCRAM_SHA_256_PLUS ? this.binding : null);
        return saslInitialResponse(chosen.mechanism, this.#scram.clientFirst);
      }
      case Auth.saslContinue: {
        if (!this.#scram || this.#scramContinue) throw new LoginFailure('the database sent a SCRAM challenge out of turn', null);
        this.#scramContinue = await scramContinue(this.#scram, password, message.body.toString('utf8', 4));
        return typed(PASSWORD_MESSAGE, Buffer.from(this.#scramContinue.clientFinal, 'utf8'));
      }
      case Auth.saslFinal: {
        if (!this.#scramContinue) throw new LoginFailure('the database ended SCRAM out of turn', null);
        scramFinish(this.#scramContinue, message.body.toString('utf8', 4));
        this.#scramFinished = true;
        return Buffer.alloc(0);
      }
      default: {
        const name = UNANSWERABLE[code] ?? `authentication method ${code}`;
        throw new LoginFailure(
          `the database asks for ${name}, which a stored password cannot answer; use scram-sha-256 or md5 for this user in pg_hba.conf`,
          null,
        );
      }
    }
  }
}

/** The binding data of a TLS target's certificate (targetTls), or null for a plain socket or a certificate whose hash is unknown. */
function channelBinding(target: net.Socket): ChannelBinding | null {
  if (!(target instanceof tls.TLSSocket)) return null;
  const der = target.getPeerCertificate(false)?.raw;
  const data = der ? serverEndPoint(der) : null;
  return data ? { type: 'tls-server-end-point', data } : null;
}

class LoginFailure extends Error {
  constructor(
    message: string,
    readonly serverError: ServerError | null,
  ) {
    super(message);
  }
}

/**
 * Logs in over `target`, whose StartupMessage (with the credential's user) the caller has written
 * or is about to write. Reads the socket itself until the server's AuthenticationOk, then pauses
 * it and stops reading: the bytes after are in `toClient` or still in the socket for the relay.
 * Never rejects.
 */
export function loginToPostgres(target: net.Socket, credential: DatabaseCredential, timeoutMs: number = LOGIN_TIMEOUT_MS): Promise<LoginResult> {
  const exchange = new Exchange(credential, channelBinding(target), target instanceof tls.TLSSocket);
  const messages = new BackendMessages();
  return new Promise<LoginResult>((resolve) => {
    let busy = false;
    let settled = false;
    const settle = (result: LoginResult): void => {
      if (settled) return;
      settled = true;
      target.pause();
      target.off('data', onData);
      target.off('close', onClose);
      clearTimeout(timer);
      resolve(result);
    };
    const fail = (reason: string, error: ServerError | null): void => settle({ ok: false, method: exchange.method, reason, serverError: error });
    // Messages are answered one at a time: SCRAM's proof takes a PBKDF2 before the next is read.
    const drain = async (): Promise<void> => {
      if (busy) return;
      busy = true;
      try {
        for (let message = messages.next(); message !== null && !settled; message = messages.next()) {
          const answer = await exchange.step(message);
          if (answer === 'done') {
            settle({ ok: true, method: exchange.method ?? 'trust', toClient: Buffer.concat([...exchange.kept, message.raw, messages.rest()]) });
            return;
          }
          if (answer !== null && answer.length > 0) target.write(answer);
        }
      } catch (error) {
        if (error instanceof LoginFailure) fail(error.message, error.serverError);
        else if (error instanceof ScramError) fail(`SCRAM: ${error.message}`, null);
        else fail(error instanceof Error ? error.message : String(error), null);
      } finally {
        // Bytes that came while a step was awaited were pushed meanwhile and read by the loop.
        busy = false;
      }
    };
    const onData = (chunk: Buffer): void => {
      messages.push(chunk);
      void drain();
    };
    const onClose = (): void => fail('the database closed the connection during the login', null);
    const timer = setTimeout(() => fail(`the database did not finish the login within ${timeoutMs / 1000}s`, null), timeoutMs);
    timer.unref();
    target.on('data', onData);
    target.on('close', onClose);
  });
}
