// The audit entries of an `http` session (broker/tunnel/http/gateway.ts), in its timeline beside
// `session.opened` and `session.closed` (subject: the session id):
//
//   http.request   before the request is forwarded, written at once (fail closed: a request the
//                  log cannot hold never reaches the target): method, path, number in the session;
//   http.response  when the exchange ends: status (101 for a WebSocket), body bytes each way, how
//                  long it took, and how it ended (complete, or cut/failed with why);
//   grpc.call / grpc.status  the same for each call of a `grpc` session: its method (`:path`)
//                  before it is forwarded, then its `grpc-status` trailer.

import type { NewAuditEntry } from './entry.js';

/** Longest request target (path and query) kept per entry; a longer one is cut and its length recorded. */
export const MAX_HTTP_PATH_CHARS = 2048;

interface HttpSubject {
  sessionId: string;
  user: { oid: string; upn: string | null };
  resource: string;
  at: number;
}

export interface HttpRequest extends HttpSubject {
  /** 1, 2, 3… within the session: pairs a request with its response entry. */
  n: number;
  method: string;
  path: string;
  /** Set for a WebSocket (or other) upgrade: the Upgrade header's value. */
  upgrade?: string;
}

export interface HttpResponse extends HttpSubject {
  n: number;
  method: string;
  path: string;
  /** The target's status; null when none came (the target failed, or the exchange was cut first). */
  status: number | null;
  /** Body bytes client → target and target → client (for an upgrade: the bytes of the upgraded stream). */
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  /**
   * `complete`; `connectionClosed` when the client's connection or the whole tunnel ended first (the
   * session's `session.closed` says why: a revoke, the expiry…); `targetFailed` with the cause.
   */
  outcome: 'complete' | 'connectionClosed' | 'targetFailed';
  detail?: string;
}

function cutPath(path: string): { path: string; pathChars?: number } {
  return path.length > MAX_HTTP_PATH_CHARS ? { path: path.slice(0, MAX_HTTP_PATH_CHARS), pathChars: path.length } : { path };
}

export function httpRequestEntry(request: HttpRequest): NewAuditEntry {
  return {
    type: 'http.request',
    at: request.at,
    actor: request.user,
    subject: request.sessionId,
    resource: request.resource,
    body: { n: request.n, method: request.method, ...cutPath(request.path), ...(request.upgrade ? { upgrade: request.upgrade } : {}) },
  };
}

export function httpResponseEntry(response: HttpResponse): NewAuditEntry {
  return {
    type: 'http.response',
    at: response.at,
    actor: response.user,
    subject: response.sessionId,
    resource: response.resource,
    body: {
      n: response.n,
      method: response.method,
      ...cutPath(response.path),
      status: response.status,
      bytesUp: response.bytesUp,
      bytesDown: response.bytesDown,
      durationMs: response.durationMs,
      outcome: response.outcome,
      ...(response.detail ? { detail: response.detail } : {}),
    },
  };
}

/** A gRPC call (broker/tunnel/http/grpc-gateway.ts), written before it is forwarded. */
export interface GrpcCall extends HttpSubject {
  n: number;
  /** The call's `:path`: "/package.Service/Method". */
  method: string;
}

export interface GrpcStatus extends HttpSubject {
  n: number;
  method: string;
  /** The `grpc-status` trailer (0 OK, 5 NOT_FOUND…); null when none came (the call was cut or the target failed). */
  grpcStatus: number | null;
  /** The `grpc-message` trailer, when the target sent one. */
  grpcMessage?: string;
  /** Message bytes (length-prefixed frames) client → target and target → client. */
  bytesUp: number;
  bytesDown: number;
  durationMs: number;
  outcome: HttpResponse['outcome'];
  detail?: string;
}

/** Longest grpc-message kept: a status message, not a payload. */
export const MAX_GRPC_MESSAGE_CHARS = 1024;

export function grpcCallEntry(call: GrpcCall): NewAuditEntry {
  return {
    type: 'grpc.call',
    at: call.at,
    actor: call.user,
    subject: call.sessionId,
    resource: call.resource,
    body: { n: call.n, ...renamePath(cutPath(call.method)) },
  };
}

export function grpcStatusEntry(status: GrpcStatus): NewAuditEntry {
  return {
    type: 'grpc.status',
    at: status.at,
    actor: status.user,
    subject: status.sessionId,
    resource: status.resource,
    body: {
      n: status.n,
      ...renamePath(cutPath(status.method)),
      grpcStatus: status.grpcStatus,
      ...(status.grpcMessage ? { grpcMessage: status.grpcMessage.slice(0, MAX_GRPC_MESSAGE_CHARS) } : {}),
      bytesUp: status.bytesUp,
      bytesDown: status.bytesDown,
      durationMs: status.durationMs,
      outcome: status.outcome,
      ...(status.detail ? { detail: status.detail } : {}),
    },
  };
}

function renamePath(cut: { path: string; pathChars?: number }): { method: string; methodChars?: number } {
  return { method: cut.path, ...(cut.pathChars === undefined ? {} : { methodChars: cut.pathChars }) };
}
