// One PostgreSQL connection the broker's main thread uses synchronously, as it uses better-sqlite3:
// node-postgres runs on a worker thread (sync-worker.ts); a call posts the statement on a message
// port and waits on a shared signal until the worker has posted the answer, then takes it off the
// port without the event loop. While it waits nothing else runs on the main thread, exactly as while
// SQLite writes: a store operation and the audit entry it writes stay one uninterrupted transaction.
// A call that gets no answer in time (server gone, network cut) fails as store_unavailable and the
// worker is replaced, so the next call starts on a fresh connection.

import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort, receiveMessageOnPort, Worker } from 'node:worker_threads';
import { AccessError } from '../../../shared/errors.js';
import type { PostgresAnswer, PostgresCall, WorkerSetup } from './sync-protocol.js';

export interface SyncConnectionOptions {
  url: string;
  /** What to call the database in messages (the URL without its password). */
  name: string;
  /** Connecting, each statement and each lock wait give up after this long. */
  timeoutMs: number;
  applicationName: string;
}

/** How much longer than the server-side timeouts the main thread waits before giving the worker up. */
const WAIT_MARGIN_MS = 2_000;

export class PostgresError extends Error {
  /** The SQLSTATE, e.g. 23505 for a unique violation. */
  readonly code: string;
  readonly constraint: string | null;
  readonly detail: string | null;

  constructor(error: { message: string; code: string; constraint: string | null; detail: string | null }) {
    super(error.message);
    this.name = 'PostgresError';
    this.code = error.code;
    this.constraint = error.constraint;
    this.detail = error.detail;
  }
}

interface Running {
  worker: Worker;
  port: MessagePort;
  signal: Int32Array;
}

export class SyncPostgresConnection {
  readonly #options: SyncConnectionOptions;
  #running: Running | null = null;

  constructor(options: SyncConnectionOptions) {
    this.#options = options;
  }

  /** Runs `call` and returns its rows; throws PostgresError for what the server refused, AccessError when it cannot be reached. */
  call(call: PostgresCall): { rows: unknown[]; rowCount: number } {
    const running = this.#running ?? this.#start();
    Atomics.store(running.signal, 0, 0);
    running.port.postMessage(call);
    const waited = Atomics.wait(running.signal, 0, 0, this.#options.timeoutMs + WAIT_MARGIN_MS);
    const received = waited === 'timed-out' ? undefined : receiveMessageOnPort(running.port);
    if (!received) {
      this.#stop();
      throw new AccessError(
        'store_unavailable',
        `the broker's PostgreSQL database ${this.#options.name} did not answer within ${this.#options.timeoutMs / 1000}s; check that it is running and reachable, then try again`,
      );
    }
    const answer = received.message as PostgresAnswer;
    if (answer.ok) return answer;
    throw this.#failure(answer.error);
  }

  /** Ends the pool and the worker. Safe to call twice. */
  close(): void {
    if (!this.#running) return;
    try {
      this.call({ op: 'close' });
    } finally {
      this.#stop();
    }
  }

  #start(): Running {
    const { port1, port2 } = new MessageChannel();
    const signal = new SharedArrayBuffer(4);
    const setup: WorkerSetup = {
      url: this.#options.url,
      signal,
      port: port2,
      timeoutMs: this.#options.timeoutMs,
      applicationName: this.#options.applicationName,
    };
    const worker = new Worker(workerFile(), { workerData: setup, transferList: [port2] });
    // Neither keeps the process alive: the broker closes the connection when it stops.
    worker.unref();
    port1.unref();
    this.#running = { worker, port: port1, signal: new Int32Array(signal) };
    return this.#running;
  }

  #stop(): void {
    const running = this.#running;
    this.#running = null;
    if (!running) return;
    running.port.close();
    // The server rolls back whatever transaction the worker's connection had open when it closes.
    void running.worker.terminate();
  }

  #failure(error: Extract<PostgresAnswer, { ok: false }>['error']): Error {
    if (error.code !== null && SQLSTATE.test(error.code)) {
      return new PostgresError({ message: error.message, code: error.code, constraint: error.constraint, detail: error.detail });
    }
    // No SQLSTATE: the server was never reached or the connection broke (ECONNREFUSED, a timeout).
    return new AccessError(
      'store_unavailable',
      `the broker cannot reach its PostgreSQL database ${this.#options.name}: ${error.message}; check that it is running and reachable, then try again`,
    );
  }
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/**
 * The worker runs compiled JavaScript: next to this module once built, and from the build when this
 * module runs from its TypeScript source (the tests; `npm test` builds first).
 */
function workerFile(): string {
  const here = fileURLToPath(import.meta.url);
  if (here.endsWith('.js')) return path.join(path.dirname(here), 'sync-worker.js');
  const repo = path.resolve(path.dirname(here), '../../..');
  const built = path.join(repo, 'dist/broker/store/postgres/sync-worker.js');
  if (!existsSync(built)) throw new Error(`the PostgreSQL store's worker is not built (${built}): run \`npm run build\` first`);
  return built;
}
