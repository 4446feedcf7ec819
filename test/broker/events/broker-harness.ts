// A broker on a real loopback socket (port 0), assembled like every broker (broker/assemble.ts), a fake
// verifier (tokens `good-<oid>`, `app-<oid>`, `short-<oid>` expiring shortly) and the fake directory.

import { WebSocket } from 'ws';
import type { BrokerApp, Verifier } from '../../../broker/app.js';
import { assembleBroker, type AssembledBroker } from '../../../broker/assemble.js';
import { openDatabase, type Database } from '../../../broker/store/database.js';
import type { ResourcePolicy } from '../../../broker/config/types.js';
import { AccessError } from '../../../shared/errors.js';
import type { CallerLimits } from '../../../shared/limits.js';
import type { EventMessage } from '../../../shared/wire.js';
import { serveOnLoopback, TEST_SIGN_IN } from '../../helpers/served-broker.js';
import { FakeDirectory, config, principal, recordingLog } from '../requests/harness.js';

/** Lifetime of a `short-` token: long enough to connect, short enough for a test to wait out. */
export const SHORT_TOKEN_MS = 400;

const verifier: Verifier = {
  async verify(token) {
    const [kind, oid] = token.split(/-(.*)/s);
    if (kind === 'good' && oid) return principal(oid);
    if (kind === 'app' && oid) return principal(oid, 'app');
    if (kind === 'short' && oid) return { ...principal(oid), expiresAt: new Date(Date.now() + SHORT_TOKEN_MS) };
    throw new AccessError('token_signature_invalid', 'the token signature does not verify');
  },
};

export interface TestBroker {
  base: string;
  wsBase: string;
  app: BrokerApp;
  runtime: AssembledBroker;
  directory: FakeDirectory;
  log: ReturnType<typeof recordingLog>;
  call(method: string, path: string, token: string | null, body?: unknown): Promise<{ status: number; headers: Headers; body: unknown }>;
  close(): Promise<void>;
}

export async function startTestBroker(
  /** `db`: the broker's store (another broker's too: several brokers on one PostgreSQL database); default a private in-memory SQLite. */
  options: { resources?: ResourcePolicy[]; pingIntervalMs?: number; limits?: Partial<CallerLimits>; db?: Database } = {},
): Promise<TestBroker> {
  const directory = new FakeDirectory();
  const log = recordingLog();
  let n = 0;
  const runtime = assembleBroker({
    config: { ...config(options.resources), ...(options.limits ? { limits: options.limits } : {}) },
    signIn: TEST_SIGN_IN,
    verifier,
    directory,
    log,
    db: options.db ?? openDatabase(':memory:'),
    // Counted ids are per broker: brokers sharing a store take random ones.
    ...(options.db ? {} : { newId: () => `req${String(++n).padStart(3, '0')}` }),
    ...(options.pingIntervalMs ? { pingIntervalMs: options.pingIntervalMs } : {}),
  });
  const { app } = runtime;
  const { port, lifecycle } = await serveOnLoopback(runtime, log);
  const base = `http://127.0.0.1:${port}`;
  return {
    base,
    wsBase: `ws://127.0.0.1:${port}`,
    app,
    runtime,
    directory,
    log,
    async call(method, path, token, body) {
      const headers: Record<string, string> = {};
      if (token) headers['authorization'] = `Bearer ${token}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const res = await fetch(`${base}${path}`, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
      return { status: res.status, headers: res.headers, body: await res.json() };
    },
    close: () => lifecycle.close(),
  };
}

/** A client on /v1/events that queues what it receives, for `next()` to take in order. */
export class EventsClient {
  readonly ws: WebSocket;
  readonly #queue: EventMessage[] = [];
  readonly #waiting: Array<(m: EventMessage) => void> = [];

  constructor(wsBase: string, token: string) {
    this.ws = new WebSocket(`${wsBase}/v1/events`, { headers: { authorization: `Bearer ${token}` }, perMessageDeflate: false });
    this.ws.on('message', (data) => {
      const message = JSON.parse(String(data)) as EventMessage;
      const waiter = this.#waiting.shift();
      if (waiter) waiter(message);
      else this.#queue.push(message);
    });
  }

  static async connect(wsBase: string, token: string): Promise<EventsClient> {
    const client = new EventsClient(wsBase, token);
    const hello = await client.next();
    if (hello.type !== 'hello') throw new Error(`expected hello, got ${hello.type}`);
    return client;
  }

  next(): Promise<EventMessage> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  /** Messages received and not yet taken. */
  get pending(): number {
    return this.#queue.length;
  }

  close(): void {
    this.ws.close();
  }
}
