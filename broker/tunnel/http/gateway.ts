// The broker's side of an `http` resource's tunnel: the broker speaks HTTP/1.1 there instead of
// relaying bytes, so it can say who is asking and record every request.
//
// Design: the tunnel's relay (tunnel/relay.ts) is unchanged; its "target" is one end of an
// in-memory pipe (pipe.ts) whose other end is handed to ONE in-process `http.Server` as a
// connection (`server.emit('connection', end)`), never listening on a port. Node's own parser reads
// the requests (keep-alive, pipelining, chunked bodies, header limits, upgrades), and each request
// is forwarded with `http.request` to the target over a per-tunnel keep-alive Agent whose first
// connection is the socket the endpoint dialled (so an unreachable target is still a 502 before
// the WebSocket exists). Bodies stream both ways with backpressure (`pipe`), never buffered whole.
// So the relay's guarantees hold as they are: a cut (revoke, expiry, membership) destroys its end
// of the pipe, the server drops the connection, and every in-flight exchange is destroyed with it.
//
// Per request, in order:
//   1. `http.request` entry appended AND written (flushed) before anything goes to the target:
//      fail closed, a request the audit log cannot hold is answered 503 and never forwarded;
//   2. headers: the client's, less hop-by-hop ones and less EVERY `X-Access-*` the client sent,
//      then Host rewritten (resource `hostHeader`), then the identity (headers.ts) and a signed
//      token (identity-token.ts);
//   3. `http.response` entry when the exchange ends: status, body bytes each way, duration, outcome.
// A WebSocket upgrade is forwarded the same way, then both streams are piped as they are; its
// response entry comes when the upgraded connection closes.

import http from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { httpRequestEntry, httpResponseEntry, type HttpResponse } from '../../audit/http-entries.js';
import type { NewAuditEntry } from '../../audit/entry.js';
import { formatTarget } from '../../config/target.js';
import type { ResourcePolicy } from '../../config/types.js';
import type { NewSession } from '../../store/session-store.js';
import { describeSocketError } from '../dial.js';
import { forwardedRequestHeaders, forwardedResponseHeaders, headerValue, hostHeaderRule, isOriginForm, isWebSocketUpgrade } from './headers.js';
import type { IdentityTokens } from './identity-token.js';
import { pipePair } from './pipe.js';
import { GrpcTunnel } from './grpc-gateway.js';
import { ExchangeRecorder, signedIdentity, type GatewayOptions } from './recorder.js';

/**
 * Largest request or response head (request line or status line plus headers). Node's default, as
 * most servers use (nginx 8–16 KiB): a bigger head is a 431 to the client, never forwarded.
 */
export const MAX_HEADER_BYTES = 16 * 1024;
/** Most header lines in one request; beyond it the rest are dropped by Node's parser. */
export const MAX_HEADERS_COUNT = 200;
/**
 * An idle keep-alive connection between requests is closed after this. Each open connection holds one
 * of the resource's tunnel slots (maxConnections), and browsers keep up to six per site open.
 */
export const KEEP_ALIVE_TIMEOUT_MS = 60_000;
/** Idle keep-alive connections to the target per tunnel (one client connection: one at a time). */
const UPSTREAM_SOCKETS = 1;

/** What the endpoint holds of a served tunnel (endpoint.ts `serve`). */
export interface ServedTunnel {
  /** What the relay writes the client's bytes into and reads the answers from. */
  stream: net.Socket;
  /** The tunnel ended: exchanges still open are recorded as ended and the audit buffer written. */
  end(): void;
}

/** One exchange in flight, so the end of the tunnel can end it. */
interface Exchange {
  abort(): void;
}

export class HttpGateway {
  readonly #options: GatewayOptions;
  readonly #server: http.Server;
  readonly #tunnels = new WeakMap<Duplex, HttpTunnel>();

  constructor(options: GatewayOptions) {
    this.#options = options;
    this.#server = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES, keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS, requestTimeout: 0 }, (req, res) => {
      const tunnel = this.#tunnels.get(req.socket);
      if (tunnel) tunnel.request(req, res);
      else res.destroy();
    });
    this.#server.maxHeadersCount = MAX_HEADERS_COUNT;
    this.#server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      const tunnel = this.#tunnels.get(socket);
      if (tunnel) tunnel.upgrade(req, socket, head);
      else socket.destroy();
    });
    // CONNECT would make the broker a general proxy to wherever the client names.
    this.#server.on('connect', (_req: http.IncomingMessage, socket: Duplex) => {
      socket.end(rawAnswer(405, 'The broker does not tunnel CONNECT.\n'));
    });
  }

  /** The endpoint's `serve` hook: a served tunnel for each http and grpc resource, null for other kinds. */
  serve(session: NewSession, policy: ResourcePolicy, target: net.Socket): ServedTunnel | null {
    if (policy.kind === 'grpc') return this.#serveGrpc(session, policy, target);
    if (policy.kind !== 'http') return null;
    const [relayEnd, serverEnd] = pipePair();
    const tunnel = new HttpTunnel(session, policy, target, this.#options);
    this.#tunnels.set(serverEnd, tunnel);
    serverEnd.once('close', () => tunnel.close());
    this.#server.emit('connection', serverEnd);
    // The relay uses a socket's stream surface only (PipeEnd has setTimeout and the rest); see pipe.ts.
    return { stream: relayEnd as unknown as net.Socket, end: () => tunnel.end() };
  }

  /** A grpc resource: HTTP/2 cleartext, one in-process http2 server per tunnel (grpc-gateway.ts). */
  #serveGrpc(session: NewSession, policy: ResourcePolicy, target: net.Socket): ServedTunnel {
    const [relayEnd, serverEnd] = pipePair();
    const tunnel = new GrpcTunnel(session, policy, target, this.#options);
    serverEnd.once('close', () => tunnel.close());
    tunnel.attach(serverEnd);
    return { stream: relayEnd as unknown as net.Socket, end: () => tunnel.end() };
  }
}

/** One tunnel: one client connection, its requests in order, forwarded over its own Agent. */
class HttpTunnel {
  readonly #policy: ResourcePolicy;
  readonly #tokens: IdentityTokens;
  readonly #recorder: ExchangeRecorder;
  readonly #agent: http.Agent;
  readonly #open = new Set<Exchange>();
  /** The socket the endpoint dialled, until the Agent takes it for the first request. */
  #dialled: net.Socket | null;
  #closed = false;

  constructor(session: NewSession, policy: ResourcePolicy, dialled: net.Socket, options: GatewayOptions) {
    this.#policy = policy;
    this.#tokens = options.tokens;
    this.#recorder = new ExchangeRecorder(session, options.sink, options.log, options.now);
    this.#dialled = dialled;
    this.#agent = new http.Agent({ keepAlive: true, maxSockets: UPSTREAM_SOCKETS, maxFreeSockets: UPSTREAM_SOCKETS });
    // First the connection already open (the dial that admitted the tunnel), then fresh ones.
    this.#agent.createConnection = (): Duplex => {
      const socket = this.#dialled ?? net.connect({ host: policy.target.host, port: policy.target.port });
      this.#dialled = null;
      socket.setNoDelay(true);
      return socket;
    };
  }

  request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const started = this.#recorder.now();
    const n = this.#recorder.next();
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    if (!isOriginForm(method, path)) {
      answer(res, 400, 'The broker forwards requests for paths on this resource only ("/…"), not for other addresses.\n');
      return;
    }
    if (!this.#record(httpRequestEntry({ ...this.#recorder.subject(started), n, method, path }))) {
      answer(res, 503, UNRECORDABLE);
      return;
    }
    let bytesUp = 0;
    let bytesDown = 0;
    let status: number | null = null;
    let upstream: http.ClientRequest | null = null;
    let done = false;
    const finish = (outcome: HttpResponse['outcome'], detail?: string): void => {
      if (done) return;
      done = true;
      this.#open.delete(exchange);
      this.#recorder.add(
        httpResponseEntry({
          ...this.#recorder.subject(),
          n,
          method,
          path,
          status,
          bytesUp,
          bytesDown,
          durationMs: this.#recorder.now() - started,
          outcome,
          ...(detail ? { detail } : {}),
        }),
      );
    };
    const exchange: Exchange = {
      abort: () => {
        upstream?.destroy();
        res.destroy();
        finish('connectionClosed', 'the tunnel closed before the exchange ended');
      },
    };
    this.#open.add(exchange);
    res.once('close', () => {
      if (res.writableFinished) finish('complete');
      else {
        upstream?.destroy();
        finish('connectionClosed', 'the client connection closed before the response ended');
      }
    });
    this.#headers(req, false).then(
      (headers) => {
        if (done) return;
        upstream = this.#forward(req, headers);
        upstream.on('response', (answer) => {
          status = answer.statusCode ?? 502;
          res.writeHead(status, answer.statusMessage, forwardedResponseHeaders(answer.rawHeaders));
          answer.on('data', (chunk: Buffer) => {
            bytesDown += chunk.length;
          });
          answer.on('end', () => {
            if (answer.rawTrailers.length > 0) res.addTrailers(pairs(forwardedResponseHeaders(answer.rawTrailers)));
          });
          answer.pipe(res);
        });
        upstream.on('error', (error) => {
          const why = describeSocketError(error);
          if (res.headersSent) {
            res.destroy();
            finish('targetFailed', why);
            return;
          }
          status = 502;
          answer(res, 502, badGatewayText(this.#policy, why));
          finish('targetFailed', why);
        });
        // Counted as it is piped: a 'data' listener added earlier would start the flow before the pipe.
        req.on('data', (chunk: Buffer) => {
          bytesUp += chunk.length;
        });
        req.pipe(upstream);
      },
      (error: unknown) => {
        status = 500;
        this.#recorder.logError('could not sign the identity of an http request', error);
        res.writeHead(500, { 'content-type': 'text/plain', connection: 'close' }).end('The broker could not sign your identity for this request.\n');
        finish('targetFailed', 'the broker could not sign the identity token');
      },
    );
  }

  upgrade(req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const started = this.#recorder.now();
    const n = this.#recorder.next();
    const method = req.method ?? 'GET';
    const path = req.url ?? '/';
    const kind = headerValue(req.rawHeaders, 'upgrade');
    // After an h2c (or other) upgrade the stream would carry requests the broker cannot read or record.
    if (!isWebSocketUpgrade(kind) || !isOriginForm(method, path)) {
      socket.end(rawAnswer(501, 'The broker passes WebSocket upgrades only.\n'));
      return;
    }
    if (!this.#record(httpRequestEntry({ ...this.#recorder.subject(started), n, method, path, upgrade: kind ?? 'websocket' }))) {
      socket.end(rawAnswer(503, UNRECORDABLE));
      return;
    }
    let bytesUp = head.length;
    let bytesDown = 0;
    let status: number | null = null;
    let upstream: http.ClientRequest | null = null;
    let upstreamSocket: Duplex | null = null;
    let done = false;
    const finish = (outcome: HttpResponse['outcome'], detail?: string): void => {
      if (done) return;
      done = true;
      this.#open.delete(exchange);
      upstream?.destroy();
      upstreamSocket?.destroy();
      socket.destroy();
      const at = this.#recorder.now();
      this.#recorder.add(
        httpResponseEntry({
          ...this.#recorder.subject(at),
          n,
          method,
          path,
          status,
          bytesUp,
          bytesDown,
          durationMs: at - started,
          outcome,
          ...(detail ? { detail } : {}),
        }),
      );
    };
    const exchange: Exchange = { abort: () => finish('connectionClosed', 'the tunnel closed') };
    this.#open.add(exchange);
    socket.on('error', () => undefined);
    socket.once('close', () => finish(status === 101 ? 'complete' : 'connectionClosed'));
    this.#headers(req, true).then(
      (headers) => {
        if (done) return;
        upstream = this.#forward(req, headers);
        upstream.on('upgrade', (answer: http.IncomingMessage, target: Duplex, targetHead: Buffer) => {
          status = answer.statusCode ?? 101;
          upstreamSocket = target;
          target.on('error', () => undefined);
          target.once('close', () => finish('complete'));
          socket.write(statusHead(status, answer.statusMessage, answer.rawHeaders));
          if (targetHead.length > 0) socket.write(targetHead);
          if (head.length > 0) target.write(head);
          bytesDown += targetHead.length;
          socket.on('data', (chunk: Buffer) => {
            bytesUp += chunk.length;
          });
          target.on('data', (chunk: Buffer) => {
            bytesDown += chunk.length;
          });
          socket.pipe(target);
          target.pipe(socket);
        });
        // The target declined the upgrade: its answer goes back as it is, and the connection ends.
        upstream.on('response', (answer: http.IncomingMessage) => {
          status = answer.statusCode ?? 502;
          socket.write(statusHead(status, answer.statusMessage, [...forwardedResponseHeaders(answer.rawHeaders), 'Connection', 'close']));
          answer.on('data', (chunk: Buffer) => {
            bytesDown += chunk.length;
          });
          answer.on('end', () => finish('complete'));
          answer.pipe(socket);
        });
        upstream.on('error', (error) => {
          const why = describeSocketError(error);
          if (status === null) {
            status = 502;
            socket.write(rawAnswer(502, badGatewayText(this.#policy, why)));
          }
          finish('targetFailed', why);
        });
        upstream.end();
      },
      () => finish('targetFailed', 'the broker could not sign the identity token'),
    );
  }

  /** The server's connection ended (the client left, or the tunnel was cut): everything in flight goes. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const exchange of [...this.#open]) exchange.abort();
    this.#dialled?.destroy();
    this.#dialled = null;
    this.#agent.destroy();
  }

  /** The tunnel ended (endpoint): closes what is left and writes the buffered response entries. */
  end(): void {
    this.close();
    this.#recorder.flush();
  }

  #forward(req: http.IncomingMessage, headers: string[]): http.ClientRequest {
    const { host, port } = this.#policy.target;
    return http.request({
      host,
      port,
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers,
      setHost: false,
      agent: this.#agent,
      maxHeaderSize: MAX_HEADER_BYTES,
    });
  }

  async #headers(req: http.IncomingMessage, upgrade: boolean): Promise<string[]> {
    const identity = await signedIdentity(this.#recorder, this.#tokens);
    return forwardedRequestHeaders(req.rawHeaders, identity, {
      host: hostHeaderRule(this.#policy.hostHeader),
      targetHost: formatTarget(this.#policy.target),
      upgrade,
    });
  }

  /** Writes `entry` now; false when the log could not (the request must not go on) or the tunnel is closing. */
  #record(entry: NewAuditEntry): boolean {
    return !this.#closed && this.#recorder.writeNow(entry);
  }
}

const UNRECORDABLE = 'The broker could not record this request in the audit log, so it was not forwarded. Try again shortly.\n';

/** The broker's own answer, and the connection's end (what follows on it is not read). */
function answer(res: http.ServerResponse, status: number, text: string): void {
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text), connection: 'close' }).end(text);
}

/** The same on a raw socket (an upgrade request, which has no ServerResponse). */
function rawAnswer(status: number, text: string): string {
  return `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`;
}

function badGatewayText(policy: ResourcePolicy, why: string): string {
  return `The broker could not reach ${policy.name}'s target ${formatTarget(policy.target)}: ${why}.\n`;
}

/** "HTTP/1.1 101 Switching Protocols\r\nName: value\r\n…\r\n\r\n" for a raw socket. */
function statusHead(status: number, message: string | undefined, rawHeaders: readonly string[]): string {
  let head = `HTTP/1.1 ${status} ${message ?? http.STATUS_CODES[status] ?? ''}\r\n`;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) head += `${rawHeaders[i]}: ${rawHeaders[i + 1]}\r\n`;
  return `${head}\r\n`;
}

/** [name, value, name, value…] → [[name, value]…] (what addTrailers takes). */
function pairs(raw: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string]);
  return out;
}
