// A PostgreSQL connection that LISTENs on one channel. Unlike the stores' connection it is
// asynchronous and lives on the main thread: a NOTIFY is an event that arrives on its own, not the
// answer to a call. Notifications sent while nobody listens are lost, so when the connection drops
// it reconnects with backoff and calls `onListening` after every (re)connect: the caller reads then
// whatever it may have missed.

// @ts-expect-error -- pg ships no type declarations; the little used here is typed below.
import pg from 'pg';
import { retryDelay } from '../../../shared/backoff.js';
import type { Logger } from '../../log.js';

/** The first wait before reconnecting; doubled after each failed try up to RECONNECT_MAX_MS. */
export const RECONNECT_FIRST_MS = 100;
/** The longest wait between tries: a database back from a restart is listened to again within this. */
export const RECONNECT_MAX_MS = 5_000;
/** Connecting gives up after this long (then it is tried again after the backoff). */
const CONNECT_TIMEOUT_MS = 5_000;
/** TCP keepalive: a connection whose server vanished without a word (a network cut) is noticed. */
const KEEPALIVE_DELAY_MS = 10_000;

interface Notification {
  channel: string;
  payload?: string;
}

interface Client {
  connect(): Promise<void>;
  query(text: string): Promise<unknown>;
  end(): Promise<void>;
  on(event: 'error', listener: (error: Error) => void): void;
  on(event: 'end', listener: () => void): void;
  on(event: 'notification', listener: (message: Notification) => void): void;
}

const { Client } = pg as unknown as {
  Client: new (options: {
    connectionString: string;
    application_name: string;
    connectionTimeoutMillis: number;
    keepAlive: boolean;
    keepAliveInitialDelayMillis: number;
  }) => Client;
};

export interface ChannelListenerOptions {
  /** postgres://… as for PostgresDatabase. */
  url: string;
  /** What to call the database in a log line: the URL without its password. */
  name: string;
  /** A channel name NOTIFY sends to (an identifier: letters, digits, underscores). */
  channel: string;
  /** Each notification's payload. */
  onNotify: (payload: string) => void;
  /** After every connect and reconnect, once LISTEN is in place. */
  onListening: () => void;
  log: Logger;
  /** Shows in pg_stat_activity. */
  applicationName: string;
  /** Default Math.random (the jitter of the reconnect backoff). */
  random?: () => number;
}

export class ChannelListener {
  readonly #options: ChannelListenerOptions;
  readonly #random: () => number;
  #client: Client | null = null;
  #retry: NodeJS.Timeout | null = null;
  /** Failed tries since the connection was last listening (0 while it is). */
  #failures = 0;
  #closed = false;

  constructor(options: ChannelListenerOptions) {
    if (!/^[a-z_][a-z0-9_]*$/.test(options.channel)) throw new TypeError(`not a channel name: ${JSON.stringify(options.channel)}`);
    this.#options = options;
    this.#random = options.random ?? Math.random;
  }

  /** Connects in the background; failures are logged and retried until close(). */
  start(): void {
    if (this.#client || this.#retry || this.#closed) return;
    this.#connect();
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    const client = this.#client;
    this.#client = null;
    await client?.end().catch(() => undefined);
  }

  #connect(): void {
    this.#retry = null;
    const client = new Client({
      connectionString: this.#options.url,
      application_name: this.#options.applicationName,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      keepAlive: true,
      keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    });
    this.#client = client;
    let lost = false;
    const lose = (error: unknown): void => {
      if (lost || this.#client !== client) return;
      lost = true;
      this.#client = null;
      void client.end().catch(() => undefined);
      this.#reconnectLater(error);
    };
    client.on('error', lose);
    client.on('end', () => lose(new Error('the server closed the connection')));
    client.on('notification', (message) => {
      if (message.channel === this.#options.channel) this.#safely(() => this.#options.onNotify(message.payload ?? ''));
    });
    client
      .connect()
      .then(() => client.query(`LISTEN ${this.#options.channel}`))
      .then(() => {
        if (lost || this.#client !== client) return;
        if (this.#failures > 0) this.#options.log.info('listening to the database again', { channel: this.#options.channel, failedTries: this.#failures });
        this.#failures = 0;
        this.#safely(this.#options.onListening);
      }, lose);
  }

  /** The caller's handlers run inside pg's socket events: what they throw is logged, never thrown there. */
  #safely(handler: () => void): void {
    try {
      handler();
    } catch (error) {
      this.#options.log.error('database notification handler failed', {
        channel: this.#options.channel,
        error: error instanceof Error ? error.stack : String(error),
      });
    }
  }

  #reconnectLater(error: unknown): void {
    if (this.#closed) return;
    this.#failures += 1;
    const waitMs = retryDelay(this.#failures, RECONNECT_FIRST_MS, RECONNECT_MAX_MS, this.#random);
    // Once per outage: a database down for minutes must not fill the log.
    if (this.#failures === 1) {
      this.#options.log.warn('lost the database connection that listens for other brokers’ changes; reconnecting', {
        database: this.#options.name,
        channel: this.#options.channel,
        error: error instanceof Error ? error.message : String(error),
        retryInMs: waitMs,
      });
    }
    this.#retry = setTimeout(() => this.#connect(), waitMs);
    // The broker's server keeps the process alive; a retry must not keep a stopping one.
    this.#retry.unref();
  }
}
