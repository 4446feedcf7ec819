// The broker's side of a `grpc` resource's tunnel: HTTP/2 in cleartext (h2c, prior knowledge, as a
// gRPC client speaks to a plaintext channel), spoken by Node's `http2` module on both legs. As for
// http (gateway.ts), the relay's "target" is an in-memory pipe whose other end is a connection of
// an in-process `http2` server; each call (one HTTP/2 stream) is forwarded as a stream of ONE
// upstream HTTP/2 session per tunnel to the target, whose first connection is the socket the
// endpoint dialled.
//
// Per call, in order:
//   1. `grpc.call` written before anything goes to the target (fail closed: a call the audit log
//      cannot hold is answered at once with grpc-status 14 UNAVAILABLE and never forwarded);
//   2. metadata: the client's, less every `x-access-*` it sent, then the identity (headers.ts) and
//      the signed token, as lower-case metadata (`x-access-user`, `x-access-token`…);
//   3. messages streamed both ways as they come (unary, server, client and bidi streaming alike);
//   4. `grpc.status` when the call ends: the `grpc-status`/`grpc-message` trailer, bytes each way,
//      duration. A call the tunnel's cut ends is recorded with outcome connectionClosed.

import http2 from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { grpcCallEntry, grpcStatusEntry, type GrpcStatus } from '../../audit/http-entries.js';
import { formatTarget } from '../../config/target.js';
import type { ResourcePolicy } from '../../config/types.js';
import type { NewSession } from '../../store/session-store.js';
import { describeSocketError } from '../dial.js';
import { forwardedGrpcHeaders, hostHeaderRule } from './headers.js';
import type { IdentityTokens } from './identity-token.js';
import { ExchangeRecorder, signedIdentity, type GatewayOptions } from './recorder.js';

/**
 * Calls in flight at once on one tunnel (SETTINGS_MAX_CONCURRENT_STREAMS). gRPC channels multiplex
 * every call of a client on one connection; a hundred is what grpc-go and nginx advertise.
 */
export const GRPC_MAX_CONCURRENT_STREAMS = 100;
/** Largest header block (metadata) of one call: the same bound as an http request head. */
export const GRPC_MAX_HEADER_LIST_BYTES = 16 * 1024;

/** gRPC status codes the broker itself answers with. */
const UNAVAILABLE = '14';
const INTERNAL = '13';

export class GrpcTunnel {
  readonly #policy: ResourcePolicy;
  readonly #tokens: IdentityTokens;
  readonly #recorder: ExchangeRecorder;
  readonly #server: http2.Http2Server;
  /** Ends every call in flight (the tunnel closed). */
  readonly #open = new Set<() => void>();
  #upstream: http2.ClientHttp2Session | null = null;
  /** The socket the endpoint dialled, until the first upstream session takes it. */
  #dialled: net.Socket | null;
  #closed = false;

  constructor(session: NewSession, policy: ResourcePolicy, dialled: net.Socket, options: GatewayOptions) {
    this.#policy = policy;
    this.#tokens = options.tokens;
    this.#recorder = new ExchangeRecorder(session, options.sink, options.log, options.now);
    this.#dialled = dialled;
    this.#server = http2.createServer({
      maxHeaderListPairs: 256,
      settings: { maxConcurrentStreams: GRPC_MAX_CONCURRENT_STREAMS, maxHeaderListSize: GRPC_MAX_HEADER_LIST_BYTES },
    });
    this.#server.on('stream', (stream, headers) => this.#call(stream, headers));
    // A client that breaks the protocol loses its connection; the session's end says so.
    this.#server.on('sessionError', () => undefined);
  }

  /** Serves the client's connection (the server's end of the pipe). */
  attach(connection: Duplex): void {
    this.#server.emit('connection', connection);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const end of [...this.#open]) end();
    this.#upstream?.destroy();
    this.#upstream = null;
    this.#dialled?.destroy();
    this.#dialled = null;
  }

  end(): void {
    this.close();
    this.#recorder.flush();
  }

  #call(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
    const started = this.#recorder.now();
    const n = this.#recorder.next();
    const method = headers[':path'] ?? '/';
    if (this.#closed || !this.#recorder.writeNow(grpcCallEntry({ ...this.#recorder.subject(started), n, method }))) {
      answerStatus(stream, UNAVAILABLE, 'the broker could not record this call in the audit log, so it was not forwarded; try again shortly');
      return;
    }
    let bytesUp = 0;
    let bytesDown = 0;
    let grpcStatus: number | null = null;
    let grpcMessage: string | undefined;
    let upstream: http2.ClientHttp2Stream | null = null;
    let trailers: http2.OutgoingHttpHeaders | null = null;
    let done = false;
    const finish = (outcome: GrpcStatus['outcome'], detail?: string): void => {
      if (done) return;
      done = true;
      this.#open.delete(cut);
      const at = this.#recorder.now();
      this.#recorder.add(
        grpcStatusEntry({
          ...this.#recorder.subject(at),
          n,
          method,
          grpcStatus,
          ...(grpcMessage ? { grpcMessage } : {}),
          bytesUp,
          bytesDown,
          durationMs: at - started,
          outcome,
          ...(detail ? { detail } : {}),
        }),
      );
    };
    const noteStatus = (from: http2.IncomingHttpHeaders): void => {
      const status = from['grpc-status'];
      if (typeof status === 'string' && /^\d+$/.test(status)) grpcStatus = Number(status);
      const message = from['grpc-message'];
      if (typeof message === 'string') grpcMessage = decodeGrpcMessage(message);
    };
    const cut = (): void => {
      upstream?.close(http2.constants.NGHTTP2_CANCEL);
      if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_CANCEL);
      finish('connectionClosed', 'the tunnel closed before the call ended');
    };
    this.#open.add(cut);
    stream.on('error', () => undefined);
    stream.once('close', () => {
      upstream?.close(http2.constants.NGHTTP2_CANCEL);
      if (grpcStatus !== null) finish('complete');
      else finish('connectionClosed', 'the client connection closed before the call ended');
    });
    stream.on('wantTrailers', () => {
      stream.sendTrailers(trailers ?? { 'grpc-status': INTERNAL, 'grpc-message': 'the target ended the call without a status' });
    });
    signedIdentity(this.#recorder, this.#tokens).then(
      (identity) => {
        if (done) return;
        const forwarded = forwardedGrpcHeaders(headers, identity, {
          host: hostHeaderRule(this.#policy.hostHeader),
          targetHost: formatTarget(this.#policy.target),
          upgrade: false,
        });
        let call: http2.ClientHttp2Stream;
        try {
          call = this.#session().request(forwarded, { endStream: false });
        } catch (error) {
          const why = error instanceof Error ? error.message : String(error);
          grpcStatus = Number(UNAVAILABLE);
          answerStatus(stream, UNAVAILABLE, `the broker could not reach ${this.#policy.name}'s target: ${why}`);
          finish('targetFailed', why);
          return;
        }
        upstream = call;
        call.on('response', (answer) => {
          if (answer['grpc-status'] !== undefined) {
            // Trailers-only: the status came with the headers (an error before any message).
            noteStatus(answer);
            stream.respond(responseHeaders(answer), { endStream: true });
            return;
          }
          stream.respond(responseHeaders(answer), { waitForTrailers: true });
          call.on('data', (chunk: Buffer) => {
            bytesDown += chunk.length;
          });
          call.pipe(stream);
        });
        call.on('trailers', (answer) => {
          noteStatus(answer);
          trailers = responseHeaders(answer);
        });
        call.on('error', (error) => {
          const why = describeSocketError(error);
          if (!stream.headersSent) {
            grpcStatus = Number(UNAVAILABLE);
            answerStatus(stream, UNAVAILABLE, `the broker could not reach ${this.#policy.name}'s target: ${why}`);
          } else if (!stream.destroyed) stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
          finish('targetFailed', why);
        });
        // Counted as it is piped: a 'data' listener added earlier would start the flow before the pipe.
        stream.on('data', (chunk: Buffer) => {
          bytesUp += chunk.length;
        });
        stream.pipe(call);
      },
      (error: unknown) => {
        this.#recorder.logError('could not sign the identity of a grpc call', error);
        grpcStatus = Number(INTERNAL);
        answerStatus(stream, INTERNAL, 'the broker could not sign your identity for this call');
        finish('targetFailed', 'the broker could not sign the identity token');
      },
    );
  }

  /** The upstream HTTP/2 session, opened on first use (over the dialled socket) and again after it ended. */
  #session(): http2.ClientHttp2Session {
    if (this.#upstream && !this.#upstream.closed && !this.#upstream.destroyed) return this.#upstream;
    const { host, port } = this.#policy.target;
    const session = http2.connect(`http://${formatTarget(this.#policy.target)}`, {
      maxHeaderListPairs: 256,
      createConnection: () => {
        const socket = this.#dialled ?? net.connect({ host, port });
        this.#dialled = null;
        socket.setNoDelay(true);
        return socket;
      },
    });
    session.on('error', () => undefined);
    session.once('close', () => {
      if (this.#upstream === session) this.#upstream = null;
    });
    this.#upstream = session;
    return session;
  }
}

/** The target's response headers or trailers for the client: all but connection-specific ones. */
function responseHeaders(answer: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(answer)) {
    if (value === undefined || name === 'connection' || name === 'keep-alive' || name === 'transfer-encoding') continue;
    out[name] = value;
  }
  return out;
}

/** A trailers-only answer from the broker itself. */
function answerStatus(stream: http2.ServerHttp2Stream, status: string, message: string): void {
  if (stream.destroyed || stream.headersSent) return;
  stream.respond(
    { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': status, 'grpc-message': encodeURIComponent(message) },
    { endStream: true },
  );
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec); a malformed one is kept as sent. */
function decodeGrpcMessage(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    return message;
  }
}
