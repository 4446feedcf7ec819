// The CLI end of the broker's events stream (`GET /v1/events`, a WebSocket; the bearer token is
// checked during the HTTP upgrade). A stream is an async iterable of what the broker pushes, and it
// outlives its socket: when the socket drops it reconnects with backoff and tells the reader so it
// can catch up with one GET (events sent while it was away are not replayed).
//
// The stream counts as open only once the broker's `hello` arrives: the broker sends it after it
// has registered the subscription, so anything done after `openEventStream` resolves (such as
// POSTing a request) cannot produce an event this stream misses.

import type WebSocket from 'ws';
import { CLOSE_REASONS, CloseCode } from '../shared/close-codes.js';
import { AccessError, ExitCode } from '../shared/errors.js';
import type { EventMessage } from '../shared/wire.js';
import type { BrokerTrust } from './broker-trust.js';
import { openBrokerSocket } from './broker-socket.js';
import { readUpgradeRefusal } from './upgrade-refusal.js';

/** First reconnect delay; doubled after every failed attempt. */
export const RECONNECT_INITIAL_MS = 500;
/** Longest pause between reconnect attempts: a restarted broker is found within this. */
export const RECONNECT_MAX_MS = 15_000;
/** How long a new socket may take to upgrade and say hello before the attempt counts as failed. */
export const HELLO_TIMEOUT_MS = 10_000;
/**
 * We ping the broker this often and drop the socket when the previous ping got no pong: a laptop
 * that slept or changed networks leaves a half-open TCP connection that would otherwise wait forever.
 */
export const KEEPALIVE_INTERVAL_MS = 30_000;
/** Each event carries one request view; a frame larger than this is not an event. */
const MAX_EVENT_BYTES = 1024 * 1024;
/** After our close frame, how long the broker gets to answer before the socket is cut. */
const CLOSE_GRACE_MS = 1000;

/** What a reader receives: the broker's messages, plus two local notes about the connection. */
export type StreamItem =
  | EventMessage
  /** The socket dropped; another attempt follows in `retryInMs`. */
  | { type: 'disconnected'; reason: string; retryInMs: number }
  /** A new socket is subscribed (right after its `hello`); events in the gap were not delivered. */
  | { type: 'reconnected' };

export interface EventStream extends AsyncIterable<StreamItem> {
  /** Ends the stream: closes the socket, stops reconnecting, and iteration finishes. Idempotent. */
  close(): void;
}

export interface EventStreamOptions {
  /** `ws://` or `wss://` URL of the events endpoint (see `eventsUrl`). */
  url: string;
  /** A valid access token for each (re)connection; throwing `not_signed_in` ends the stream. */
  token: () => Promise<string>;
  /** Reconnect delays in ms. Default: RECONNECT_INITIAL_MS doubling up to RECONNECT_MAX_MS. */
  reconnect?: { initialMs: number; maxMs: number };
  /** Ping interval in ms; a socket whose ping went unanswered for one interval is dropped. Default: KEEPALIVE_INTERVAL_MS. */
  keepaliveMs?: number;
  /** Diagnostics (ACCESS_DEBUG=1). Default: none. */
  debug?: (line: string) => void;
  /** The certificates accepted from a `wss://` broker (a private CA). Default: Node's bundled public roots. */
  trust?: BrokerTrust;
}

/** The events endpoint of a broker: `http` → `ws`, `https` → `wss`. */
export function eventsUrl(brokerUrl: string): string {
  const url = new URL(`${brokerUrl.replace(/\/+$/, '')}/v1/events`);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** Opens the stream; resolves once the broker's `hello` confirms the subscription. */
export async function openEventStream(options: EventStreamOptions): Promise<EventStream> {
  const stream = new ReconnectingStream(options);
  await stream.start();
  return stream;
}

/** Refusals a reconnect cannot fix: the person must sign in again or is not allowed. */
function isFatal(error: unknown): boolean {
  return error instanceof AccessError && (error.exitCode === ExitCode.notSignedIn || error.exitCode === ExitCode.denied);
}

/** A close in words: the broker's own close codes are explained once, in shared/close-codes.ts. */
function closeReason(code: number, reason: Buffer): string {
  const words = (CLOSE_REASONS as Partial<Record<number, string>>)[code] ?? (reason.length ? reason.toString('utf8') : 'the connection was lost');
  return `${words} (close code ${code})`;
}

function reasonOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function rawText(data: WebSocket.RawData): string {
  if (Buffer.isBuffer(data)) return data.toString('utf8');
  if (Array.isArray(data)) return Buffer.concat(data).toString('utf8');
  return Buffer.from(data).toString('utf8');
}

function parseMessage(data: WebSocket.RawData): EventMessage | null {
  let value: unknown;
  try {
    value = JSON.parse(rawText(data));
  } catch {
    return null;
  }
  if (!value || typeof value !== 'object') return null;
  const type = (value as { type?: unknown }).type;
  if (type === 'hello') return value as EventMessage;
  // `request` and `expiring` carry a request view; anything else is from a newer broker: skip it.
  if (type !== 'request' && type !== 'expiring') return null;
  const request = (value as { request?: unknown }).request;
  if (!request || typeof request !== 'object' || typeof (request as { id?: unknown }).id !== 'string') return null;
  return value as EventMessage;
}

/**
 * One connection attempt: upgrade with the bearer token, then wait for `hello`. Resolves with the
 * open socket (its error listener stays attached: ws emits errors after a failed handshake too).
 */
async function connectOnce(options: EventStreamOptions): Promise<{ socket: WebSocket; hello: EventMessage }> {
  const bearer = await options.token();
  return new Promise((resolve, reject) => {
    const socket = openBrokerSocket(options.url, bearer, options.trust, {
      maxPayload: MAX_EVENT_BYTES,
      handshakeTimeout: HELLO_TIMEOUT_MS,
    });
    let settled = false;
    const fail = (error: AccessError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.terminate();
      reject(error);
    };
    const timer = setTimeout(
      () =>
        fail(
          new AccessError(
            'broker_response_invalid',
            `the broker accepted the events stream at ${options.url} but sent no hello within ${HELLO_TIMEOUT_MS / 1000}s`,
          ),
        ),
      HELLO_TIMEOUT_MS,
    );
    socket.on('error', (error: NodeJS.ErrnoException) => {
      fail(
        options.trust?.explain(error, options.url) ??
          new AccessError('broker_unreachable', `cannot reach the broker's events stream at ${options.url} (${error.code ?? error.message}) — is it running?`, {
            cause: error,
          }),
      );
    });
    socket.once('unexpected-response', (req, res) => {
      void readUpgradeRefusal('events stream', options.url, res).then((error) => {
        req.destroy();
        fail(error);
      });
    });
    socket.once('close', (code) => {
      fail(new AccessError('broker_unreachable', `the broker closed the events stream at ${options.url} before saying hello (close code ${code})`));
    });
    socket.once('message', (data) => {
      const message = parseMessage(data);
      if (message?.type !== 'hello') {
        fail(new AccessError('broker_response_invalid', `the broker's events stream at ${options.url} did not start with hello`));
        return;
      }
      settled = true;
      clearTimeout(timer);
      socket.removeAllListeners('close');
      resolve({ socket, hello: message });
    });
  });
}

type Waiter = { resolve: (result: IteratorResult<StreamItem>) => void; reject: (error: unknown) => void };

class ReconnectingStream implements EventStream {
  readonly #options: EventStreamOptions;
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #queue: StreamItem[] = [];
  readonly #waiters: Waiter[] = [];
  #socket: WebSocket | null = null;
  #keepalive: NodeJS.Timeout | null = null;
  #retry: NodeJS.Timeout | null = null;
  #delayMs: number;
  #closed = false;
  #failure: { error: unknown } | null = null;

  constructor(options: EventStreamOptions) {
    this.#options = options;
    this.#initialMs = options.reconnect?.initialMs ?? RECONNECT_INITIAL_MS;
    this.#maxMs = options.reconnect?.maxMs ?? RECONNECT_MAX_MS;
    this.#delayMs = this.#initialMs;
  }

  async start(): Promise<void> {
    const { socket, hello } = await connectOnce(this.#options);
    this.#adopt(socket);
    this.#push(hello);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#dropSocket();
    for (const waiter of this.#waiters.splice(0)) waiter.resolve({ done: true, value: undefined });
  }

  [Symbol.asyncIterator](): AsyncIterator<StreamItem> {
    return {
      next: () => this.#next(),
      return: async () => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  #next(): Promise<IteratorResult<StreamItem>> {
    const item = this.#queue.shift();
    if (item) return Promise.resolve({ done: false, value: item });
    if (this.#failure) return Promise.reject(this.#failure.error);
    if (this.#closed) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  #push(item: StreamItem): void {
    if (this.#closed) return;
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve({ done: false, value: item });
    else this.#queue.push(item);
  }

  #fail(error: unknown): void {
    this.#failure = { error };
    this.#closed = true;
    this.#dropSocket();
    for (const waiter of this.#waiters.splice(0)) waiter.reject(error);
  }

  #adopt(socket: WebSocket): void {
    this.#socket = socket;
    let alive = true;
    const markAlive = (): void => {
      alive = true;
    };
    socket.on('pong', markAlive);
    socket.on('ping', markAlive);
    socket.on('message', (data) => {
      markAlive();
      const message = parseMessage(data);
      if (message) this.#push(message);
      else this.#options.debug?.('events: skipped a message that is not a known event');
    });
    socket.on('close', (code, reason) => {
      if (this.#socket !== socket) return;
      this.#stopKeepalive();
      this.#socket = null;
      // An expired token is routine (the broker ends the stream with its token): reconnect at once.
      this.#scheduleReconnect(closeReason(code, reason), code === CloseCode.tokenExpired ? 0 : undefined);
    });
    this.#keepalive = setInterval(() => {
      if (!alive) {
        this.#options.debug?.('events: no pong from the broker; dropping the socket');
        socket.terminate();
        return;
      }
      alive = false;
      socket.ping();
    }, this.#options.keepaliveMs ?? KEEPALIVE_INTERVAL_MS).unref();
  }

  #stopKeepalive(): void {
    if (this.#keepalive) clearInterval(this.#keepalive);
    this.#keepalive = null;
  }

  #dropSocket(): void {
    this.#stopKeepalive();
    const socket = this.#socket;
    this.#socket = null;
    if (!socket) return;
    socket.close(1000, 'done');
    // A polite close, but a broker that never answers must not hold the CLI open.
    setTimeout(() => socket.terminate(), CLOSE_GRACE_MS).unref();
  }

  /** Announces the gap and arms the next attempt: after `waitMs`, else after the backoff delay. */
  #scheduleReconnect(reason: string, waitMs?: number): void {
    if (this.#closed) return;
    // ±20 % jitter so the CLIs of a whole team do not reconnect to a restarted broker in lockstep.
    const wait = waitMs ?? Math.round(this.#delayMs * (0.8 + Math.random() * 0.4));
    if (waitMs === undefined) this.#delayMs = Math.min(this.#delayMs * 2, this.#maxMs);
    this.#options.debug?.(`events: ${reason}; reconnecting in ${wait} ms`);
    this.#push({ type: 'disconnected', reason, retryInMs: wait });
    this.#retry = setTimeout(() => void this.#reconnect(), wait);
  }

  async #reconnect(): Promise<void> {
    this.#retry = null;
    let opened: { socket: WebSocket; hello: EventMessage };
    try {
      opened = await connectOnce(this.#options);
    } catch (error) {
      if (this.#closed) return;
      if (isFatal(error)) this.#fail(error);
      else this.#scheduleReconnect(reasonOf(error));
      return;
    }
    if (this.#closed) {
      opened.socket.terminate();
      return;
    }
    this.#delayMs = this.#initialMs;
    this.#adopt(opened.socket);
    this.#push(opened.hello);
    this.#push({ type: 'reconnected' });
  }
}
