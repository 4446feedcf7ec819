// The audit entries of an `http` session (broker/tunnel/http/gateway.ts), in its timeline beside
// `session.opened` and `session.closed` (subject: the session id):
//
//   http.request   before the request is forwarded, written at once (fail closed: a request the
//                  log cannot hold never reaches the target): method, path, number in the session;
//   http.response  when the exchange ends: status (101 for a WebSocket), body bytes each way, how
//                  long it took, and how it ended (complete, or cut/failed with why).

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
