// The local end of `access connect NAME`: a TCP listener where every accepted connection gets its
// own tunnel (its own WebSocket, with a fresh token), relayed until either side ends. One line per
// connection opened, refused or closed goes to the log (stderr), never one per chunk.
//
// The listener ends (its `ended` promise resolves) when:
//   - the broker ends the grant on a tunnel (expiry, revoke, lost membership): every tunnel of the
//     grant goes at once, and no new one could open;
//   - a new tunnel is refused in a way another attempt cannot fix (no live grant any more, signed
//     out);
//   - `expire()` was called (the grant's end on our clock) and the last open tunnel has closed;
//   - `shutdown()` was called (Ctrl-C, CMD exited).
// It stops accepting at that moment; `shutdown()` then closes whatever is still open.
//
// With `localTls` (postgres and mysql resources), a client that asks for TLS gets it here, on the
// loopback, and its plaintext goes into the tunnel (local-tls.ts, mysql-local-end.ts): the broker
// still reads every query.

import net from 'node:net';
import type WebSocket from 'ws';
import { CloseCode } from '../../shared/close-codes.js';
import { AccessError, ExitCode } from '../../shared/errors.js';
import { closeWords, grantEndingExit, isBrokerGone, isNormalEnd, type TunnelClose, type TunnelSubject } from './close-words.js';
import { closedLine, openLine, refusedLine } from './connection-log.js';
import { dialHost, type LocalAddress } from './environment.js';
import { type LocalTls, postgresLocalEnd } from './local-tls.js';
import { mysqlLocalEnd } from './mysql-local-end.js';
import { LOCAL_CLOSE, socketEnd, startRelay, type LocalEnd, type Relay, type RelayResult } from './relay.js';

export type ListenerEnd =
  /** The broker ended the grant (close 4110/4111/4112), or it reached its end on our clock (`expire()`). */
  | { kind: 'grant'; close: TunnelClose }
  /** A new tunnel was refused for good: the broker's error (no_live_grant, not signed in). */
  | { kind: 'refused'; error: AccessError }
  /** `shutdown()` was called. */
  | { kind: 'stopped' };

export interface ListenerOptions {
  /** Local address to listen on, e.g. 127.0.0.1 (an IPv6 address without brackets). */
  bind: string;
  /** Local port; 0 picks a free one. */
  port: number;
  /** Opens a new tunnel (paused, see openTunnel); rejects with the broker's AccessError. */
  open: () => Promise<WebSocket>;
  subject: TunnelSubject;
  /** Where the per-connection lines go (stderr). */
  log: (line: string) => void;
  /** Whether to log connections that open and close normally; refusals and failures are always logged. */
  logEveryConnection: boolean;
  now: () => number;
  /** Postgres and MySQL (subject.kind): terminate the client's TLS here with this certificate (local-tls.ts); null or absent: bytes as they come. */
  localTls?: LocalTls | null;
}

/** Refusals no later connection can get past: the grant is gone, or the person must sign in again. */
function isFinalRefusal(error: AccessError): boolean {
  return error.exitCode === ExitCode.denied || error.exitCode === ExitCode.notSignedIn;
}

function describe(error: unknown): AccessError {
  if (error instanceof AccessError) return error;
  return new AccessError('broker_unreachable', `cannot open a tunnel: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

/** A close the person should hear about even when normal connections are not logged. */
function isTrouble(result: RelayResult): boolean {
  return result.error !== undefined || !isNormalEnd(result);
}

/** The grant's end as seen on our clock (the broker's own close, if any, says the same). */
const EXPIRED_HERE: TunnelClose = { code: CloseCode.grantExpired, reason: '' };

export class TunnelListener {
  readonly ended: Promise<ListenerEnd>;
  /** Where clients dial (loopback when bound to every address). */
  readonly address: LocalAddress;
  readonly #server: net.Server;
  readonly #options: ListenerOptions;
  readonly #relays = new Set<Relay>();
  /** Accepted sockets whose tunnel is still opening. */
  readonly #opening = new Set<net.Socket>();
  #resolveEnded!: (end: ListenerEnd) => void;
  #accepting = true;
  #expired = false;
  #stopped = false;
  #count = 0;

  private constructor(server: net.Server, options: ListenerOptions, bound: net.AddressInfo) {
    this.#server = server;
    this.#options = options;
    // The address actually bound ("localhost" → 127.0.0.1): a client given the name "localhost"
    // may pick a Unix socket instead of TCP (the mysql client does).
    this.address = { host: dialHost(bound.address), port: bound.port };
    this.ended = new Promise((resolve) => (this.#resolveEnded = resolve));
    server.on('connection', (socket) => void this.#accept(socket));
  }

  /** Listens; rejects with `listen_failed` naming the address and what to do. */
  static async listen(options: ListenerOptions): Promise<TunnelListener> {
    // allowHalfOpen: after a client's FIN, what the broker still sends is delivered before we end
    // our side. pauseOnConnect: nothing is read from a client before its tunnel is open.
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(options.port, options.bind, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? String(error);
      const where = `${options.bind.includes(':') ? `[${options.bind}]` : options.bind}:${options.port}`;
      const advice =
        code === 'EADDRINUSE'
          ? 'pick another --port, or leave --port out for a free one'
          : code === 'EADDRNOTAVAIL'
            ? '--bind must be an address of this machine'
            : 'check --bind and --port';
      throw new AccessError('listen_failed', `cannot listen on ${where} (${code}) — ${advice}`, { cause: error });
    }
    server.on('error', (error) => options.log(`listener error: ${error.message}`));
    const bound = server.address();
    // A TCP server's address is always an AddressInfo (a string only for a pipe or Unix socket).
    return new TunnelListener(server, options, bound as net.AddressInfo);
  }

  /**
   * The grant's end on our clock: stop accepting; the listener ends once the tunnels still open are
   * closed (the broker cuts them at the same moment on its clock).
   */
  expire(): void {
    this.#expired = true;
    this.#stopAccepting();
    if (this.#relays.size === 0 && this.#opening.size === 0) this.#end({ kind: 'grant', close: EXPIRED_HERE });
  }

  /** Stops accepting, closes every tunnel, and resolves once all are closed. Idempotent. */
  async shutdown(): Promise<void> {
    this.#stopped = true;
    this.#end({ kind: 'stopped' });
    for (const socket of this.#opening) socket.destroy();
    const closing = [...this.#relays].map((relay) => {
      relay.close();
      return relay.done;
    });
    await Promise.all(closing);
  }

  #stopAccepting(): void {
    if (!this.#accepting) return;
    this.#accepting = false;
    this.#server.close();
  }

  #end(end: ListenerEnd): void {
    this.#stopAccepting();
    this.#resolveEnded(end);
  }

  async #accept(socket: net.Socket): Promise<void> {
    if (!this.#accepting) {
      socket.destroy();
      return;
    }
    const { log, now } = this.#options;
    const id = ++this.#count;
    const from = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const opened = now();
    this.#opening.add(socket);
    // A client that gives up while its tunnel opens must not crash the CLI.
    const ignore = (): void => undefined;
    socket.on('error', ignore);
    let ws: WebSocket;
    try {
      ws = await this.#options.open();
    } catch (error) {
      this.#opening.delete(socket);
      socket.destroy();
      const refusal = describe(error);
      log(refusedLine(now(), id, from, refusal.message));
      if (isFinalRefusal(refusal)) this.#end({ kind: 'refused', error: refusal });
      else this.#afterClose();
      return;
    }
    // Still in #opening while the client negotiates TLS: shutdown() ends that too.
    const negotiated = await this.#localEnd(socket, ws);
    this.#opening.delete(socket);
    socket.off('error', ignore);
    if ('closed' in negotiated) {
      // The broker closed the tunnel while the client was still negotiating (a revoke, the grant's end).
      socket.destroy();
      this.#closed(id, opened, negotiated.closed);
      return;
    }
    const { local } = negotiated;
    if (local === null || socket.destroyed || !this.#accepting) {
      // The client left, or the listener ended, while the tunnel was opening.
      ws.resume();
      ws.close(LOCAL_CLOSE.code, LOCAL_CLOSE.reason);
      socket.destroy();
      this.#afterClose();
      return;
    }
    const relay = startRelay(ws, local);
    this.#relays.add(relay);
    if (this.#options.logEveryConnection) log(openLine(opened, id, from));
    const result = await relay.done;
    this.#relays.delete(relay);
    this.#closed(id, opened, result);
  }

  /**
   * The client's side of the relay: Postgres negotiates TLS before the relay starts; MySQL's server
   * speaks first, so its TLS offer rides on the relay's bytes (mysql-local-end.ts).
   */
  async #localEnd(socket: net.Socket, ws: WebSocket): Promise<{ local: LocalEnd | null } | { closed: RelayResult }> {
    const { localTls, subject } = this.#options;
    if (!localTls) return { local: socketEnd(socket) };
    if (subject.kind === 'mysql') return { local: mysqlLocalEnd(socket, localTls) };
    return negotiate(socket, ws, localTls);
  }

  /** A connection's tunnel closed: its line, and the listener's end when the grant ended. */
  #closed(id: number, opened: number, result: RelayResult): void {
    const { log, now } = this.#options;
    if (this.#options.logEveryConnection || isTrouble(result)) {
      const words = this.#wordsFor(result);
      log(closedLine(now(), id, words, result, now() - opened));
    }
    if (grantEndingExit(result) !== null) this.#end({ kind: 'grant', close: result });
    else this.#afterClose();
  }

  #wordsFor(result: RelayResult): string {
    if (result.endedBy === 'local' && grantEndingExit(result) === null) return this.#stopped ? 'closed by access connect' : 'the client closed the connection';
    const words = closeWords(result, this.#options.subject, this.#options.now());
    // The grant outlives its broker: say that this listener still serves.
    return isBrokerGone(result) && !this.#stopped ? `${words}; still listening: the next connection opens a new tunnel` : words;
  }

  /** After an expiry on our clock, the last tunnel closing ends the listener. */
  #afterClose(): void {
    if (this.#expired && this.#relays.size === 0 && this.#opening.size === 0) this.#end({ kind: 'grant', close: EXPIRED_HERE });
  }
}

/**
 * The client's TLS negotiation (local-tls.ts) while the tunnel waits: the tunnel is read meanwhile,
 * so a close from the broker (a revoke, the grant's end) ends the wait at once instead of after the
 * client's first bytes. A Postgres server never speaks first, so nothing else is expected; what
 * comes anyway is kept and handed to the client before the relay starts.
 */
async function negotiate(socket: net.Socket, ws: WebSocket, localTls: LocalTls): Promise<{ local: LocalEnd | null } | { closed: RelayResult }> {
  const early: Buffer[] = [];
  let closed: RelayResult | null = null;
  const abort = new AbortController();
  const onMessage = (data: WebSocket.RawData): void => {
    early.push(data as Buffer);
  };
  const onClose = (code: number, reason: Buffer): void => {
    closed = { code, reason: reason.toString('utf8'), endedBy: 'broker', bytesUp: 0, bytesDown: 0 };
    abort.abort();
  };
  // Errors come before the close, which says what happened.
  const onError = (): void => undefined;
  ws.on('message', onMessage);
  ws.once('close', onClose);
  ws.on('error', onError);
  ws.resume();
  const local = await postgresLocalEnd(socket, localTls, abort.signal);
  ws.pause();
  ws.off('message', onMessage);
  ws.off('close', onClose);
  ws.off('error', onError);
  if (closed) return { closed };
  if (local) for (const chunk of early) local.writable.write(chunk);
  return { local };
}
