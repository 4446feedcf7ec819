// A broker on a real loopback socket (port 0), assembled like every broker (broker/assemble.ts)
// over the real store (':memory:'), a fake verifier (`good-<oid>`, `app-<oid>`), the
// fake directory of the requests harness, and real TCP targets on port 0. Grants are made the way
// people make them: a request by the requester, an approval by an approver.

import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { WebSocket } from 'ws';
import type { BrokerApp, Verifier } from '../../../broker/app.js';
import { assembleBroker, type AssembleOptions, type AssembledBroker } from '../../../broker/assemble.js';
import { openDatabase } from '../../../broker/store/database.js';
import type { CallerLimits } from '../../../shared/limits.js';
import type { ResourcePolicy } from '../../../broker/config/types.js';
import type { SessionQuery } from '../../../broker/store/audit-queries.js';
import type { SessionRecord } from '../../../broker/store/session-store.js';
import { AccessError } from '../../../shared/errors.js';
import type { RequestView } from '../../../shared/wire.js';
import { serveOnLoopback, TEST_SIGN_IN } from '../../helpers/served-broker.js';
import { FakeDirectory, config, principal, recordingLog } from '../requests/harness.js';

const verifier: Verifier = {
  async verify(token) {
    const [kind, oid] = token.split(/-(.*)/s);
    if (kind === 'good' && oid) return principal(oid);
    // `signedin<ms>-<oid>`: a person who signed in at <ms> (for maxSignInAge).
    const signedIn = /^signedin(\d+)$/.exec(kind ?? '');
    if (signedIn && oid) return { ...principal(oid), signIn: { amr: ['pwd'], acrs: [], authTime: Number(signedIn[1]) } };
    if (kind === 'app' && oid) return principal(oid, 'app');
    throw new AccessError('token_signature_invalid', 'the token signature does not verify');
  },
};

export interface TunnelBroker {
  wsBase: string;
  app: BrokerApp;
  runtime: AssembledBroker;
  directory: FakeDirectory;
  log: ReturnType<typeof recordingLog>;
  /**
   * The sessions recorded, newest first, as the store holds them: found the one way the broker
   * lists sessions (the audit queries), then read by id.
   */
  sessions(query?: SessionQuery): SessionRecord[];
  /** A grant for `requester` on `resource`: requested, then approved by bob. */
  grant(resource: string, options?: { requester?: string; duration?: string }): Promise<RequestView>;
  close(): Promise<void>;
}

export async function startTunnelBroker(
  resources: ResourcePolicy[],
  options: { tunnel?: AssembleOptions['tunnel']; dataFile?: string; limits?: Partial<CallerLimits> } = {},
): Promise<TunnelBroker> {
  const directory = new FakeDirectory();
  const log = recordingLog();
  let n = 0;
  let s = 0;
  const runtime = assembleBroker({
    config: { ...config(resources), ...(options.limits ? { limits: options.limits } : {}) },
    signIn: TEST_SIGN_IN,
    verifier,
    directory,
    log,
    db: openDatabase(options.dataFile ?? ':memory:'),
    newId: () => `req${String(++n).padStart(3, '0')}`,
    tunnel: { newId: () => `ses${String(++s).padStart(3, '0')}`, ...options.tunnel },
  });
  const { app } = runtime;
  const { port, lifecycle } = await serveOnLoopback(runtime, log);
  return {
    wsBase: `ws://127.0.0.1:${port}`,
    app,
    runtime,
    directory,
    log,
    sessions: (query = {}) =>
      runtime.audit.queries.sessions(query).flatMap((view) => {
        const record = runtime.sessions.get(view.id);
        return record ? [record] : [];
      }),
    async grant(resource, grantOptions = {}) {
      const requester = principal(grantOptions.requester ?? 'alice');
      const created = await runtime.service.create(requester, { resource, duration: grantOptions.duration ?? '1h', reason: 'INC-4211' });
      if (created.state === 'approved') return created;
      return runtime.service.review(principal('bob'), created.id, 'approve', null);
    },
    close: () => lifecycle.close(),
  };
}

/** A TCP server on 127.0.0.1:0; `onConnection` decides what the target does. */
export interface Target {
  port: number;
  /** Every accepted socket, in order. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

export async function startTarget(onConnection: (socket: net.Socket) => void): Promise<Target> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sockets,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** The echo service: every byte comes back. */
export function echo(socket: net.Socket): void {
  socket.pipe(socket);
}

/** A port nothing listens on (bound a moment ago, then released). */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface Closed {
  code: number;
  reason: string;
  /** Date.now() when the close event fired. */
  at: number;
}

/** A tunnel client: the raw ws, everything received, and the close when it comes. */
export class TunnelClient {
  readonly ws: WebSocket;
  readonly received: Buffer[] = [];
  receivedBytes = 0;
  readonly closed: Promise<Closed>;
  readonly opened: Promise<void>;

  constructor(wsBase: string, resource: string, token: string) {
    this.ws = new WebSocket(`${wsBase}/v1/tunnel?resource=${encodeURIComponent(resource)}`, {
      headers: { authorization: `Bearer ${token}` },
      perMessageDeflate: false,
    });
    this.ws.on('message', (data: Buffer) => {
      this.received.push(data);
      this.receivedBytes += data.length;
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res: IncomingMessage) => {
        void readBody(res).then((body) => reject(new Error(`refused ${res.statusCode}: ${body}`)));
      });
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8'), at: Date.now() }));
    });
    // A refused upgrade also ends in 'error'; the tests read it through `opened`.
    this.closed.catch(() => undefined);
    this.opened.catch(() => undefined);
  }

  static async open(wsBase: string, resource: string, token = 'good-alice'): Promise<TunnelClient> {
    const client = new TunnelClient(wsBase, resource, token);
    await client.opened;
    return client;
  }

  /** Resolves once at least `bytes` have arrived. */
  async receive(bytes: number): Promise<Buffer> {
    while (this.receivedBytes < bytes) await new Promise((resolve) => this.ws.once('message', resolve));
    return Buffer.concat(this.received);
  }
}

/** Opens a tunnel expecting a refusal: the HTTP status and JSON body, and whether a WebSocket opened. */
export function refusedTunnel(
  wsBase: string,
  resource: string | null,
  token: string | null,
): Promise<{ status: number; body: { code: string; message: string }; opened: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const query = resource === null ? '' : `?resource=${encodeURIComponent(resource)}`;
    const ws = new WebSocket(`${wsBase}/v1/tunnel${query}`, { headers: token ? { authorization: `Bearer ${token}` } : {}, perMessageDeflate: false });
    let opened = false;
    ws.on('open', () => {
      opened = true;
      ws.terminate();
      reject(new Error('the WebSocket opened'));
    });
    ws.on('unexpected-response', (_req, res: IncomingMessage) => {
      void readBody(res).then((text) =>
        resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as { code: string; message: string }, opened, ms: Date.now() - started }),
      );
    });
    ws.on('error', (error) => {
      if (!opened) reject(error);
    });
  });
}

async function readBody(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export function sha256(...parts: Buffer[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/** Polls `read` until it returns the same value `times` times in a row (a plateau), and returns it. */
export async function plateau(read: () => number, times = 6, everyMs = 50): Promise<number> {
  let last = read();
  let same = 0;
  while (same < times) {
    await new Promise((resolve) => setTimeout(resolve, everyMs));
    const now = read();
    same = now === last ? same + 1 : 0;
    last = now;
  }
  return last;
}

/** Waits until `check` holds, polling. */
export async function until(check: () => boolean, everyMs = 10): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, everyMs));
}
