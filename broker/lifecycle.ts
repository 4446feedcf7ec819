// What a broker's listener answers in each phase of its life. The port may listen before the
// broker is assembled (`access-broker dev` needs its port to name the dev tenant's URLs, and the
// demo database takes seconds to start): until then every request gets 503 `not_ready` with
// Retry-After instead of a socket that is never answered. While stopping, 503 `shutting_down`.
// `GET /healthz` answers 200 whenever the process is up; `GET /readyz` 200 only when the broker
// serves and the parts it needs answer (readiness.ts). Neither needs a token.
//
// Stopping (SIGTERM, SIGINT) drains: the listeners stop accepting, `/readyz` and every request
// answer 503 `shutting_down`, open tunnels may finish on their own for the drain timeout (their
// grants' expiries and revokes still cut them), then what is left is cut with 1001 "the broker is
// shutting down", batched audit entries are written and the store is closed.

import type http from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { AccessError } from '../shared/errors.js';
import { answerClientError } from './http/client-error.js';
import { errorHeaders, sendError, sendJson } from './http/respond.js';
import { refuseUpgrade, type UpgradeListener } from './http/upgrade.js';
import type { Logger } from './log.js';
import { describeNotReady, type Readiness } from './readiness.js';
import { closeServer, type RequestHandler } from './server.js';

export type Phase = 'starting' | 'serving' | 'stopping';

export interface LifecycleOptions {
  /** How long stopping waits for open tunnels; 0 cuts them at once. Default 0: the commands pass theirs (operations.ts). */
  drainTimeoutMs?: number;
}

/** What the lifecycle hands requests to while serving: an assembled broker (assemble.ts). */
export interface Servable {
  handleRequest: RequestHandler;
  handleUpgrade: UpgradeListener;
  readiness(): Promise<Readiness>;
  /** Waits up to `timeoutMs` for open tunnels to end; resolves with how many are still open. */
  drain?(timeoutMs: number): Promise<{ open: number }>;
  close(): Promise<void>;
}

export class Lifecycle {
  #phase: Phase = 'starting';
  #broker: Servable | null = null;
  #closing: Promise<void> | null = null;
  readonly #servers = new Set<http.Server>();
  readonly #log: Logger;
  readonly #drainTimeoutMs: number;
  /** Ends a drain early (a second Ctrl-C or SIGTERM). */
  readonly #hurry = new AbortController();

  constructor(log: Logger, options: LifecycleOptions = {}) {
    this.#log = log;
    this.#drainTimeoutMs = options.drainTimeoutMs ?? 0;
  }

  get phase(): Phase {
    return this.#phase;
  }

  /**
   * Puts this lifecycle in front of `server`: every request and upgrade goes through it, and what
   * Node's HTTP parser refuses is answered as `{ code, message }` too (http/client-error.ts).
   */
  attach(server: http.Server): void {
    if (this.#servers.has(server)) return;
    this.#servers.add(server);
    server.on('request', this.handleRequest);
    server.on('upgrade', this.handleUpgrade);
    server.on('clientError', answerClientError);
  }

  /** The broker is assembled: from now on it answers. */
  serve(broker: Servable): void {
    if (this.#phase !== 'starting') throw new AccessError('internal', `a broker cannot start serving while ${this.#phase}`);
    this.#broker = broker;
    this.#phase = 'serving';
  }

  /**
   * The first step of stopping: answer new requests with 503 and stop accepting connections, let
   * open tunnels end for the drain timeout, then close the broker (event streams, what is left of
   * the tunnels, scheduler, database), so nothing reaches the store while it closes. Safe to call twice.
   */
  stop(): Promise<void> {
    this.#phase = 'stopping';
    for (const server of this.#servers) {
      server.close();
      server.closeIdleConnections();
    }
    this.#closing ??= this.#broker ? this.#drainThenClose(this.#broker) : Promise.resolve();
    return this.#closing;
  }

  /** Ends the drain now: the tunnels still open are cut (a second signal while stopping). */
  hurry(): void {
    this.#hurry.abort();
  }

  async #drainThenClose(broker: Servable): Promise<void> {
    if (broker.drain && this.#drainTimeoutMs > 0 && !this.#hurry.signal.aborted) {
      const hurried = new Promise<{ open: number } | null>((resolve) => this.#hurry.signal.addEventListener('abort', () => resolve(null), { once: true }));
      this.#log.info('draining: new requests and tunnels are refused, open tunnels may finish', { timeoutSeconds: this.#drainTimeoutMs / 1000 });
      const drained = await Promise.race([broker.drain(this.#drainTimeoutMs), hurried]);
      if (drained === null) this.#log.warn('drain cut short by a second signal: cutting the open tunnels');
      else if (drained.open > 0) this.#log.warn('drain timeout reached: cutting the open tunnels', { tunnels: drained.open });
      else this.#log.info('drained: no tunnel is open');
    }
    await broker.close();
  }

  /** Stops (if not yet), then drops what is left and waits for the servers to close. */
  async close(): Promise<void> {
    await this.stop();
    // Upgraded sockets are no longer the server's: the broker closed them above, or this would wait on them forever.
    await Promise.all([...this.#servers].map((server) => closeServer(server)));
  }

  readonly handleRequest: RequestHandler = (req, res) => {
    const path = new URL(req.url ?? '/', 'http://broker.invalid').pathname;
    if (req.method === 'GET' && path === '/healthz') {
      sendJson(res, 200, { status: 'up', phase: this.#phase });
      return;
    }
    if (req.method === 'GET' && path === '/readyz') {
      void this.#answerReadiness(res);
      return;
    }
    if (this.#phase === 'serving' && this.#broker) {
      this.#broker.handleRequest(req, res);
      return;
    }
    if (this.#phase === 'stopping') res.setHeader('connection', 'close');
    sendError(res, this.#unavailable());
  };

  readonly handleUpgrade: UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (this.#phase === 'serving' && this.#broker) {
      this.#broker.handleUpgrade(req, socket, head);
      return;
    }
    socket.on('error', () => undefined);
    refuseUpgrade(socket, this.#unavailable());
  };

  #unavailable(): AccessError {
    return this.#phase === 'stopping'
      ? new AccessError('shutting_down', 'the broker is shutting down — try again in a moment')
      : new AccessError('not_ready', 'the broker is starting — try again in a moment');
  }

  async #answerReadiness(res: ServerResponse): Promise<void> {
    if (this.#phase !== 'serving' || !this.#broker) {
      sendError(res, this.#unavailable());
      return;
    }
    try {
      const readiness = await this.#broker.readiness();
      if (readiness.ready) {
        sendJson(res, 200, { status: 'ready', checks: readiness.checks });
        return;
      }
      const error = new AccessError('not_ready', describeNotReady(readiness));
      for (const [name, value] of Object.entries(errorHeaders(error))) res.setHeader(name, value);
      sendJson(res, error.status, { ...error.toBody(), checks: readiness.checks });
    } catch (error) {
      this.#log.error('readiness check failed', { error: error instanceof Error ? error.stack : String(error) });
      sendError(res, new AccessError('internal', 'the readiness check failed unexpectedly; it has been logged'));
    }
  }
}
