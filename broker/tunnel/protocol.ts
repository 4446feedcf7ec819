// What a tunnel may know about the protocol of a resource kind. The plain relay moves bytes and
// knows none; a kind listed here adds two steps around it, and only these two:
//
//   prepareTarget  after the dial, before the WebSocket exists (a failure is still an HTTP error):
//                  e.g. the broker's own TLS to a Postgres server (`targetTls`).
//   preamble       the client's first bytes, before the plain relay takes over: e.g. answering a
//                  Postgres client's SSLRequest with 'N' so the rest of the stream is plaintext the
//                  query log can read (the client → broker leg is already inside the WebSocket's TLS).
//                  It may refuse a chunk, which ends the tunnel before any of it is forwarded,
//                  and it may log in to the target itself (credential injection: a Postgres login
//                  with the broker's stored credential), holding the relay until that is done.
//   watchTarget    the server's first bytes, read beside the relay (not in its path) until what
//                  the step needs is seen; when the broker itself cuts the tunnel, `afterCut` ends
//                  the session on the server too: e.g. a Postgres CancelRequest for a running query.
//
// The kinds that have steps are listed in protocols.ts; the others (tcp, ssh) get none, and their
// relay is exactly the plain one. MySQL's prepareTarget reads the server's greeting and takes TLS
// out of it (mysql/greeting.ts); its query log ends the server's query at a cut (`afterCut` below).
// Separately, the endpoint's `observe` hook (TunnelObserver) reads what the client sends before it
// is forwarded, and ends the tunnel on what it cannot record (fail closed).

import type net from 'node:net';
import type { NewAuditEntry } from '../audit/entry.js';
import type { DatabaseCredential, ResourcePolicy } from '../config/types.js';
import type { NewSession, SessionEndReason } from '../store/session-store.js';

export interface PrepareTargetOptions {
  /** How long the step may take (the dial's own timeout). */
  timeoutMs: number;
  /** Aborts the step (the client went away meanwhile). */
  signal: AbortSignal;
}

/**
 * What a preamble does with one client chunk: what to write to the target now (may be empty), and
 * whether the preamble is over (later chunks go straight to the target); or a refusal, which ends
 * the tunnel (CloseCode.unrecordable, with the refusal as the reason) with nothing of it forwarded.
 */
export type PreambleStep =
  | { forward: Buffer; done: boolean }
  | { refuse: string }
  /**
   * Write `forward` (observed like any chunk), then hold the tunnel — nothing relayed either way —
   * until `login` settles: the preamble logs in to the target itself over the socket it was given
   * (PreambleContext.target), and has paused that socket when it settles. `rest` (client bytes after
   * what the login needed, e.g. a pipelined query) is held with them and relayed after. The preamble is over.
   */
  | { forward: Buffer; login: Promise<LoginOutcome>; rest: Buffer };

/**
 * How a preamble's login to the target ended. `answer` goes to the client first either way (the
 * server's AuthenticationOk and what followed it; or the protocol's own error, which the client
 * shows). Refused: the tunnel is then cut with CloseCode.credentialRefused and `refused` as the reason.
 */
export type LoginOutcome = { answer: Buffer } | { answer: Buffer; refused: string };

/** What a preamble may use besides the client's chunks: the tunnel's target and who it is for. */
export interface PreambleContext {
  /** The prepared target socket (its TLS already set up); the relay listens to it too, but holds while a login runs. */
  target: net.Socket;
  /** The stored database login for this tunnel (tunnel/database-credential.ts), or null: the client logs in itself. */
  credential: DatabaseCredential | null;
  session: NewSession;
  /** Appends to the session's audit trail (the observer's `record`; a no-op without one). */
  record(entry: NewAuditEntry): void;
  now(): number;
}

/**
 * Runs on the client's first chunks, in order, before the plain relay. `answer` sends bytes to the
 * client on the broker's own behalf (not counted as target → client bytes). It must not throw; the
 * relay treats a throw as a refusal (fail closed: nothing the preamble did not pass reaches the target).
 */
export interface ClientPreamble {
  take(chunk: Buffer, answer: (bytes: Buffer) => void): PreambleStep;
}

/**
 * Watches one tunnel's client → target bytes (the Postgres query log), and decides whether they
 * may go on: it sees each chunk before the target does. Both methods must be cheap; a throw from
 * `up` counts as a refusal.
 */
export interface TunnelObserver {
  /**
   * Every client chunk after the preamble, in order, before it is written. Returns null to let it
   * through, or why it must not be (what it could not record): the relay then ends the tunnel with
   * CloseCode.unrecordable and writes none of the chunk. It must not keep or change the buffer.
   */
  up(chunk: Buffer): string | null;
  /**
   * Runs before each target → client chunk is sent, with that chunk (a MySQL capture reads the
   * statement ids the server assigns; it must not keep or change the buffer): writes what it holds
   * of what the client sent so far, so a client never sees the answer to a statement the log could
   * still lose to a crash. Returns null once written, or why it could not be (the relay then ends
   * the tunnel with CloseCode.unrecordable and sends none of the answer): capture fails closed on
   * the way back too.
   */
  beforeDown?(chunk: Buffer): string | null;
  /** The tunnel ended; called before its session is recorded as closed, so what it writes comes first. */
  end(): void;
  /** Appends an entry to the session's audit trail now, even after `end` (e.g. what a cut did on the server). */
  record?(entry: NewAuditEntry): void;
  /**
   * For protocols whose session on the server is known from the stream the observer reads (MySQL:
   * the connection id from the greeting, the user from the handshake): what TargetWatch.afterCut
   * does, when the kind has no watch of its own.
   */
  afterCut?(session: NewSession, cut: SessionEndReason, at: number): Promise<ServerSideEnd | null>;
}

/** What a TargetWatch did on the server after a cut, for the log and the audit. */
export interface ServerSideEnd {
  /** The log line, e.g. "cancelled the running query of backend 4242 on cut". */
  message: string;
  fields: Record<string, unknown>;
  entry: NewAuditEntry;
}

/** Reads a tunnel's target stream beside the relay (see watchTarget). */
export interface TargetWatch {
  /**
   * Runs once when the broker itself cut the tunnel (its target socket already closed): ends the
   * session on the server too. Resolves with what it did, null when there was nothing to do;
   * rejects with the cause.
   */
  afterCut(session: NewSession, cut: SessionEndReason, at: number): Promise<ServerSideEnd | null>;
  /** Stops reading (the tunnel ended). Safe to call twice. */
  stop(): void;
}

export interface TunnelProtocol {
  /** Returns the socket to relay over (the dialled one, or a TLS socket over it); rejects with an AccessError. */
  prepareTarget?(socket: net.Socket, policy: ResourcePolicy, options: PrepareTargetOptions): Promise<net.Socket>;
  /** A fresh preamble for one tunnel, or null when this resource needs none. */
  preamble?(policy: ResourcePolicy, tunnel: PreambleContext): ClientPreamble | null;
  /** Starts reading the target's bytes beside the relay, right after the relay took the socket. */
  watchTarget?(target: net.Socket, policy: ResourcePolicy): TargetWatch;
}
