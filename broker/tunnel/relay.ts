// One tunnel's hot path: the client's WebSocket and the target's TCP socket, bytes relayed both
// ways unchanged. Each target chunk goes out as one binary frame the moment it arrives; each
// binary frame from the client is written to the target as is. Nothing else is allocated or
// logged per chunk: the byte counts are two number additions.
//
// Backpressure both ways, so neither side can make the broker buffer without bound:
//   client → target: target.write() returns false → stop reading the WebSocket until 'drain'.
//   target → client: a frame that takes ws.bufferedAmount to HIGH_WATER_MARK_BYTES → stop reading the target
//   until that frame (and so everything before it) has been handed to the kernel.
//
// Nagle is off on both sockets: dial.ts sets it on the target, ws on the client's (setSocket).
//
// A protocol that needs the client's first bytes (Postgres answering SSLRequest, tunnel/protocol.ts)
// gives a preamble: it sees the client's chunks until it says it is done, may answer the client, and
// decides what reaches the target; from then on (and from the start for every other kind) it costs
// one null check per frame. A preamble may also log in to the target itself (credential injection):
// then the relay holds — target bytes are the login's, client frames wait — until the login
// settles, sends its answer to the client, and relays from there, or cuts the tunnel when the
// database refused the login (CloseCode.credentialRefused).
//
// Fail closed: an observer (the Postgres query log) sees each client chunk before the target does,
// and a chunk it cannot record, like a chunk the preamble refuses, is never written: the tunnel ends
// with CloseCode.unrecordable instead. A throw from either counts as a refusal.
//
// The first cause of the end wins (the grant expired, then the target went away as a result: the
// session ended because the grant expired); `onEnd` is called once, when the WebSocket has closed.

import type net from 'node:net';
import { WebSocket, type RawData } from 'ws';
import { CLOSE_REASONS, CloseCode } from '../../shared/close-codes.js';
import { formatDuration } from '../../shared/duration.js';
import { retainFreedHeap } from '../../shared/heap-retention.js';
import { CLIENT_CLOSED, type SessionEndReason } from '../store/session-store.js';
import { fitCloseReason } from './close-reason.js';
import { describeSocketError } from './dial.js';
import type { ClientPreamble, LoginOutcome, PreambleStep } from './protocol.js';
import type { TargetReads } from './target-reads.js';

/**
 * Bytes queued towards the client at which the target is paused. A megabyte keeps a fast link busy
 * (several round trips of a few-ms WAN at gigabit rates) while bounding what one tunnel holds in
 * broker memory to this plus one socket read (64 KiB).
 */
export const HIGH_WATER_MARK_BYTES = 1024 * 1024;
/**
 * After the client closes, the target gets this long to take the bytes still queued for it (and
 * answer our FIN) before its socket is destroyed.
 */
export const TARGET_END_GRACE_MS = 5_000;

type CloseCodeName = keyof typeof CloseCode;
/** Code → name, e.g. 4110 → 'grantExpired', for the session's end reason. Built from CloseCode, so it covers every code. */
const CLOSE_CODE_NAMES = new Map<number, CloseCodeName>((Object.keys(CloseCode) as CloseCodeName[]).map((name) => [CloseCode[name], name]));
/** The session end reason of a close code the broker sends, e.g. 4111 → 'grantRevoked'. */
export function closeCodeName(code: CloseCode): CloseCodeName {
  return CLOSE_CODE_NAMES.get(code) as CloseCodeName;
}
/**
 * Client bytes held while a preamble's login runs. A Postgres client sends nothing between its
 * StartupMessage and the server's answer, a pipelining one its first few queries; more than this
 * is not a client waiting for its login. (The WebSocket is paused meanwhile: this bounds only
 * what it had already read.)
 */
export const MAX_HELD_BYTES = 64 * 1024;
/** Shared by every send: ws reads the options, so one object serves all frames. */
const BINARY = { binary: true } as const;

export interface TunnelEnd {
  reason: SessionEndReason;
  /** The close code the broker sent, or the client's when it closed. */
  code: number | null;
  /** The close reason sent, the target's error, or what the client said. */
  detail: string | null;
  /** When the first cause happened (ms). */
  at: number;
}

export interface RelayOptions {
  /** Closes the tunnel after this long without a byte either way. */
  idleTimeoutMs: number;
  now: () => number;
  /** Called once, after the WebSocket has closed, with the first cause. */
  onEnd: (end: TunnelEnd) => void;
  /**
   * Sees every client → target chunk, in order, before it is written (e.g. the Postgres query log),
   * and returns null to let it through or why not (the tunnel is then cut, the chunk not written).
   * It must not keep the buffer past the call or change it.
   */
  observeUp?: ((chunk: Buffer) => string | null) | null;
  /**
   * Runs before each target → client chunk is sent (the query log writing what it holds first), and
   * returns null when it could, or why not: the tunnel is then cut and the chunk not sent, so a client
   * never sees the answer to a statement the log does not hold.
   */
  beforeDown?: ((chunk: Buffer) => string | null) | null;
  /** Runs on the client's first chunks before the plain relay (tunnel/protocol.ts); null for plain bytes. */
  preamble?: ClientPreamble | null;
  /** Called once when the broker cuts the tunnel (`cut`), right after the target socket was destroyed. */
  onCut?: ((code: CloseCode) => void) | null;
  /**
   * The target was dialled reading into reused slabs (target-reads.ts, plain-bytes kinds only):
   * its chunks come from there instead of 'data' events, and the relay resumes the socket.
   */
  reads?: TargetReads | null;
}

export class Relay {
  /** Client → target bytes written. */
  bytesUp = 0;
  /** Target → client bytes sent. */
  bytesDown = 0;
  /** Resolves once the WebSocket has closed and onEnd has run. */
  readonly closed: Promise<TunnelEnd>;

  readonly #ws: WebSocket;
  readonly #target: net.Socket;
  readonly #options: RelayOptions;
  readonly #observeUp: ((chunk: Buffer) => string | null) | null;
  #preamble: ClientPreamble | null;
  /** While a preamble's login runs: the client frames that arrived meanwhile; null otherwise. */
  #held: Buffer[] | null = null;
  #heldBytes = 0;
  #end: TunnelEnd | null = null;
  #resolveClosed!: (end: TunnelEnd) => void;

  constructor(ws: WebSocket, target: net.Socket, options: RelayOptions) {
    retainFreedHeap();
    this.#ws = ws;
    this.#target = target;
    this.#options = options;
    this.#observeUp = options.observeUp ?? null;
    this.#preamble = options.preamble ?? null;
    this.closed = new Promise((resolve) => {
      this.#resolveClosed = resolve;
    });

    ws.on('message', this.#onClientMessage);
    ws.on('close', this.#onClientClose);
    ws.on('error', this.#onClientError);
    if (options.reads) options.reads.attach(this.#onTargetData);
    else target.on('data', this.#onTargetData);
    target.on('drain', this.#onTargetDrain);
    target.on('end', this.#onTargetEnd);
    target.on('error', this.#onTargetError);
    target.on('close', this.#onTargetClose);
    target.on('timeout', this.#onIdle);
    // Node resets a socket's timeout on every read and write, and every byte of the tunnel passes
    // through the target socket: this is "no bytes either way for idleTimeoutMs".
    target.setTimeout(options.idleTimeoutMs);
    if (options.reads) target.resume();
  }

  /** Bytes the broker holds for each side right now: what backpressure keeps bounded. */
  get queued(): { toClient: number; toTarget: number } {
    return { toClient: this.#ws.bufferedAmount, toTarget: this.#target.writableLength };
  }

  /** Whether a cause of the end has been recorded (the tunnel is closing or closed). */
  get ending(): boolean {
    return this.#end !== null;
  }

  /**
   * Ends the tunnel from the broker's side: the client gets `code` and `reason` in the close frame
   * and the target connection is dropped at once, so not one more byte reaches it.
   */
  cut(code: CloseCode, reason: string): void {
    const fitted = fitCloseReason(reason);
    if (!this.#record(closeCodeName(code), code, fitted)) return;
    this.#target.destroy();
    this.#options.onCut?.(code);
    this.#closeClient(code, fitted);
  }

  /** Drops the client's connection without a close handshake (shutdown, after a grace period). */
  terminate(): void {
    this.#ws.terminate();
  }

  // ---- client → target --------------------------------------------------------------------------

  readonly #onClientMessage = (data: RawData, isBinary: boolean): void => {
    if (this.#end) return;
    if (!isBinary) {
      this.cut(CloseCode.policyViolation, 'a tunnel carries binary frames only');
      return;
    }
    // The server's binaryType is 'nodebuffer': a message, even a fragmented one, is one Buffer.
    let chunk: Buffer | null = data as Buffer;
    if (this.#held) {
      this.#hold(this.#held, chunk);
      return;
    }
    if (this.#preamble) {
      chunk = this.#runPreamble(this.#preamble, chunk);
      if (chunk === null || chunk.length === 0) return;
    }
    // Decided before the write: what the observer cannot record never reaches the target.
    if (this.#observeUp && !this.#observed(this.#observeUp, chunk)) return;
    this.bytesUp += chunk.length;
    if (!this.#target.write(chunk)) this.#ws.pause();
  };

  /** What of `chunk` goes to the target while the preamble runs (its answers go to the client); null once it refused. */
  #runPreamble(preamble: ClientPreamble, chunk: Buffer): Buffer | null {
    let step: PreambleStep;
    try {
      step = preamble.take(chunk, this.#answerClient);
    } catch (error) {
      step = { refuse: `the broker failed reading the client's first bytes: ${error instanceof Error ? error.message : String(error)}` };
    }
    if ('refuse' in step) {
      this.cut(CloseCode.unrecordable, step.refuse);
      return null;
    }
    if ('login' in step) {
      this.#preamble = null;
      // Copied: the relay's chunk is not the preamble's to keep, nor ours past this call.
      this.#held = step.rest.length > 0 ? [Buffer.from(step.rest)] : [];
      this.#heldBytes = step.rest.length;
      this.#ws.pause();
      void step.login.then(this.#loggedIn, (error: unknown) => {
        this.cut(CloseCode.credentialRefused, `the broker's login to the target failed: ${error instanceof Error ? error.message : String(error)}`);
      });
      return step.forward;
    }
    if (step.done) this.#preamble = null;
    return step.forward;
  }

  /** Keeps a client frame that arrived while the login runs, up to MAX_HELD_BYTES. */
  #hold(held: Buffer[], chunk: Buffer): void {
    this.#heldBytes += chunk.length;
    if (this.#heldBytes > MAX_HELD_BYTES) {
      this.cut(CloseCode.policyViolation, `the client sent more than ${MAX_HELD_BYTES} bytes before its login to the target was done`);
      return;
    }
    held.push(chunk);
  }

  /** The preamble's login settled: its answer goes to the client, then the relay runs (or the tunnel is cut). */
  readonly #loggedIn = (outcome: LoginOutcome): void => {
    const held = this.#held ?? [];
    this.#held = null;
    if (this.#end) return;
    if ('refused' in outcome) {
      this.#answerClient(outcome.answer);
      this.cut(CloseCode.credentialRefused, outcome.refused);
      return;
    }
    // The server's own bytes (AuthenticationOk onwards): counted and gated like any it sends.
    if (outcome.answer.length > 0) this.#onTargetData(outcome.answer);
    if (this.#end) return;
    this.#target.resume();
    this.#ws.resume();
    for (const chunk of held) this.#onClientMessage(chunk, true);
  };

  /** Whether the observer lets `chunk` through; when it does not, the tunnel is cut. */
  #observed(observe: (chunk: Buffer) => string | null, chunk: Buffer): boolean {
    let refusal: string | null;
    try {
      refusal = observe(chunk);
    } catch (error) {
      refusal = `the broker failed reading what the client sent: ${error instanceof Error ? error.message : String(error)}`;
    }
    if (refusal === null) return true;
    this.cut(CloseCode.unrecordable, refusal);
    return false;
  }

  readonly #answerClient = (bytes: Buffer): void => {
    if (this.#ws.readyState === WebSocket.OPEN) this.#ws.send(bytes, BINARY);
  };

  readonly #onTargetDrain = (): void => {
    if (!this.#end) this.#ws.resume();
  };

  // ---- target → client --------------------------------------------------------------------------

  readonly #onTargetData = (chunk: Buffer, release: (() => void) | null = null): void => {
    // While a preamble's login runs, what the target sends is the login's (it reads the socket itself).
    if (this.#held || this.#ws.readyState !== WebSocket.OPEN) return;
    const unwritten = this.#options.beforeDown?.(chunk) ?? null;
    if (unwritten !== null) {
      this.cut(CloseCode.unrecordable, unwritten);
      return;
    }
    this.bytesDown += chunk.length;
    // This frame takes the queue past the mark: read no more from the target until it is flushed.
    const overMark = this.#ws.bufferedAmount + chunk.length >= HIGH_WATER_MARK_BYTES;
    if (overMark) this.#target.pause();
    if (release === null) {
      this.#ws.send(chunk, BINARY, overMark ? this.#onClientFlushed : undefined);
      return;
    }
    // The last chunk of a read slab (once per slab, not per chunk): once sent, the slab may be read into again.
    this.#ws.send(chunk, BINARY, (error?: Error) => {
      if (!error) release();
      if (overMark) this.#onClientFlushed(error);
    });
  };

  readonly #onClientFlushed = (error?: Error): void => {
    if (!error && !this.#end) this.#target.resume();
  };

  // ---- endings ----------------------------------------------------------------------------------

  readonly #onTargetEnd = (): void => {
    // Whatever the target sent before its FIN is queued ahead of the close frame, so it arrives.
    const reason = CLOSE_REASONS[CloseCode.targetClosed];
    if (this.#record('targetClosed', CloseCode.targetClosed, reason)) this.#closeClient(CloseCode.targetClosed, reason);
  };

  readonly #onTargetError = (error: Error): void => {
    const reason = fitCloseReason(`the connection to the target failed: ${describeSocketError(error)}`);
    if (this.#record('targetFailed', CloseCode.targetFailed, reason)) this.#closeClient(CloseCode.targetFailed, reason);
  };

  readonly #onTargetClose = (): void => {
    const reason = CLOSE_REASONS[CloseCode.targetClosed];
    if (this.#record('targetClosed', CloseCode.targetClosed, reason)) this.#closeClient(CloseCode.targetClosed, reason);
  };

  readonly #onIdle = (): void => {
    this.cut(CloseCode.idleTimeout, `idle: no bytes either way for ${formatDuration(this.#options.idleTimeoutMs)}`);
  };

  readonly #onClientError = (error: Error): void => {
    // ws closes the connection itself after an error (e.g. a frame above maxPayload: 1009).
    this.#record(CLIENT_CLOSED, null, `protocol error: ${error.message}`);
  };

  readonly #onClientClose = (code: number, reason: Buffer): void => {
    const said = reason.length > 0 ? `: ${reason.toString('utf8')}` : '';
    this.#record(CLIENT_CLOSED, code, `the client closed the tunnel (${code}${said})`);
    if (!this.#target.destroyed) {
      // Let the target take what the client sent last, then make sure the socket goes.
      this.#target.end();
      setTimeout(() => this.#target.destroy(), TARGET_END_GRACE_MS).unref();
    }
    const end = this.#end as TunnelEnd;
    this.#options.onEnd(end);
    this.#resolveClosed(end);
  };

  /** Records the first cause of the end; false when one was recorded already. */
  #record(reason: SessionEndReason, code: number | null, detail: string | null): boolean {
    if (this.#end) return false;
    this.#end = { reason, code, detail, at: this.#options.now() };
    return true;
  }

  #closeClient(code: CloseCode, reason: string): void {
    // A paused socket would never read the client's close frame: the handshake would hang until ws's timeout.
    this.#ws.resume();
    this.#ws.close(code, reason);
  }
}
