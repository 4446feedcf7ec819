// What the http and grpc gateways write to a session's audit trail, and how: a request or call is
// written at once, before it is forwarded (fail closed: one the log cannot hold is refused), and how
// it ended is buffered with the session's other entries (flushed by the batched appender, and when
// the tunnel ends, before `session.closed`).

import type { NewAuditEntry } from '../../audit/entry.js';
import type { Logger } from '../../log.js';
import type { NewSession } from '../../store/session-store.js';
import type { CaptureSink } from '../capture.js';
import type { RequestIdentity } from './headers.js';
import type { IdentityClaims, IdentityTokens } from './identity-token.js';

/** What the http and grpc gateways are built with (broker/assemble.ts). */
export interface GatewayOptions {
  /** The audit log's batched appender. */
  sink: CaptureSink;
  log: Logger;
  now: () => number;
  tokens: IdentityTokens;
}

export interface EntrySubject {
  sessionId: string;
  user: NewSession['user'];
  resource: string;
  at: number;
}

export class ExchangeRecorder {
  readonly #session: NewSession;
  readonly #sink: CaptureSink;
  readonly #log: Logger;
  readonly now: () => number;
  #n = 0;

  constructor(session: NewSession, sink: CaptureSink, log: Logger, now: () => number) {
    this.#session = session;
    this.#sink = sink;
    this.#log = log;
    this.now = now;
  }

  /** The next exchange's number in the session: 1, 2, 3… (pairs a request entry with its end). */
  next(): number {
    this.#n += 1;
    return this.#n;
  }

  /** Appends `entry` and writes it now; false when the log could not (what it records must not go on). */
  writeNow(entry: NewAuditEntry): boolean {
    try {
      this.#sink.add(entry);
      this.#sink.flush();
    } catch {
      return false;
    }
    if (this.#sink.pending === 0) return true;
    this.#log.warn(`refused ${entry.type === 'grpc.call' ? 'a grpc call' : 'an http request'} the audit log could not record`, {
      session: this.#session.id,
      resource: this.#session.resource,
    });
    return false;
  }

  /** Buffers `entry` (written within the appender's flush interval, and at the tunnel's end). */
  add(entry: NewAuditEntry): void {
    this.#sink.add(entry);
  }

  flush(): void {
    this.#sink.flush();
  }

  subject(at: number = this.now()): EntrySubject {
    return { sessionId: this.#session.id, user: this.#session.user, resource: this.#session.resource, at };
  }

  /** Who the broker vouches for on this session's requests. */
  claims(): IdentityClaims {
    const s = this.#session;
    return { oid: s.user.oid, upn: s.user.upn, resource: s.resource, session: s.id, grant: s.requestId };
  }

  logError(message: string, error: unknown): void {
    this.#log.error(message, { session: this.#session.id, error: error instanceof Error ? error.message : String(error) });
  }
}

/** The identity of the recorder's session with a token signed now. */
export async function signedIdentity(recorder: ExchangeRecorder, tokens: IdentityTokens): Promise<RequestIdentity> {
  const claims = recorder.claims();
  return { ...claims, token: await tokens.sign(claims, recorder.now()) };
}
