// What every statement log of a tunnel shares (Postgres: postgres/session-capture.ts, MySQL:
// mysql/session-capture.ts), whatever protocol it reads. The relay hands it each client chunk
// before writing it (`up`) and each server chunk before sending it (`beforeDown`); the protocol's
// capture reads them and adds audit entries through the batched appender. The guarantees live here,
// once:
//
//   Fail closed: anything the capture cannot read — bytes that are not the protocol, a message whose
//   fields do not fit, a bug in the capture — refuses the chunk: `up` returns the reason, the relay
//   ends the session (CloseCode.unrecordable) and writes none of it. Logged and recorded once (the
//   protocol's own "unrecordable" entry); every later chunk is refused the same.
//
//   Statement before answer: before the server's bytes reach the client, what the client sent so
//   far is written to the log (one transaction for everything buffered; usually already written by
//   the group commit `up` asked for, batch-appender.ts flushSoon). When it cannot be, the
//   answer is not passed on and the session ends (4114): a SIGKILL can lose only statements whose
//   answers nobody has seen.

import type { Logger } from '../log.js';
import type { NewAuditEntry } from '../audit/entry.js';
import type { NewSession } from '../store/session-store.js';
import type { TunnelObserver } from './protocol.js';
import { setBounded } from '../../shared/bounded-map.js';

/**
 * Prepared statements (and portals) remembered per session. Enough for an ORM's statement cache
 * (pgx keeps 512, pgJDBC 256, mysql2 16000 by default but rarely near it) while bounding memory to a
 * few MiB per session; beyond it the oldest is forgotten, and an execute of it is logged with
 * `sql: null` and its name or id.
 */
export const MAX_TRACKED_STATEMENTS = 512;

/** Sets `key` as the newest entry, forgetting the oldest beyond MAX_TRACKED_STATEMENTS. */
export function remember<K, T>(map: Map<K, T>, key: K, value: T): void {
  setBounded(map, key, value, MAX_TRACKED_STATEMENTS);
}

/** Where the entries go: the audit log's batched appender. */
export interface CaptureSink {
  add(entry: NewAuditEntry): void;
  /** Writes what is buffered soon, with whatever other sessions add meanwhile (group commit; never later than the next `flush`). */
  flushSoon(): void;
  /** Writes what is buffered: called when the session ends, so its entries come before `session.closed`. */
  flush(): void;
  /** Entries still buffered: after a flush, those the log could not write (a full disk, a failed store). */
  readonly pending: number;
}

export interface CaptureOptions {
  sink: CaptureSink;
  log: Logger;
  now: () => number;
}

/** Who and where an entry of the session is about; every session entry starts with it. */
export interface EntrySubject {
  sessionId: string;
  user: NewSession['user'];
  resource: string;
  at: number;
}

export abstract class StatementCapture implements TunnelObserver {
  protected readonly session: NewSession;
  protected readonly options: CaptureOptions;
  /** Why the capture refused the stream, once it has (every later chunk is refused the same). */
  #refused: string | null = null;
  #wrote = false;
  /** Entries added since the last flush this capture asked for. */
  #unflushed = false;

  constructor(session: NewSession, options: CaptureOptions) {
    this.session = session;
    this.options = options;
  }

  /** Why the capture refused the stream, or null while it records it. */
  get refused(): string | null {
    return this.#refused;
  }

  up(chunk: Buffer): string | null {
    if (this.#refused !== null) return this.#refused;
    try {
      this.readUp(chunk);
      // Committed after the relay wrote the chunk, while the server runs it (one transaction for
      // the statements every session sent meanwhile): by the time its answer arrives (beforeDown)
      // there is usually nothing left to write.
      if (this.#unflushed) this.options.sink.flushSoon();
      return null;
    } catch (error) {
      return this.#refuse(error);
    }
  }

  /**
   * The target is about to answer: the capture reads the answer if its protocol needs to (a MySQL
   * statement id), then what the client sent is written first.
   */
  beforeDown(chunk: Buffer): string | null {
    if (this.#refused !== null) return this.#refused;
    try {
      this.readDown(chunk);
    } catch (error) {
      return this.#refuse(error);
    }
    if (!this.#unflushed) return null;
    this.options.sink.flush();
    if (this.options.sink.pending > 0) return 'the audit log could not record what the client sent, so the answer was not passed on';
    this.#unflushed = false;
    return null;
  }

  end(): void {
    this.finish();
    if (this.#wrote) this.options.sink.flush();
  }

  /** An entry about the session from elsewhere (the broker ended its query at a cut): written at once. */
  record(entry: NewAuditEntry): void {
    this.options.sink.add(entry);
    this.options.sink.flush();
  }

  /** Reads one client chunk; throws on what it cannot record. */
  protected abstract readUp(chunk: Buffer): void;
  /** Whether `error` is about the bytes (the client's fault) rather than a bug in the capture. */
  protected abstract aboutTheBytes(error: unknown): boolean;
  /** The protocol's entry saying the session ended at bytes it could not record. */
  protected abstract unrecordableEntry(subject: EntrySubject, reason: string, atByte: number): NewAuditEntry;
  /** Where in the client → server stream reading stopped. */
  protected abstract get atByte(): number;

  /** Reads one server chunk before the client gets it; throws on what it cannot read. */
  protected readDown(_chunk: Buffer): void {}

  /** The session ended: entries for what was still open. */
  protected finish(): void {}

  protected subject(): EntrySubject {
    return { sessionId: this.session.id, user: this.session.user, resource: this.session.resource, at: this.options.now() };
  }

  protected add(entry: NewAuditEntry): void {
    this.#wrote = true;
    this.#unflushed = true;
    this.options.sink.add(entry);
  }

  /** Refuses the stream for good: logged and recorded once; returns the reason the relay closes with. */
  #refuse(error: unknown): string {
    const expected = this.aboutTheBytes(error);
    const message = error instanceof Error ? error.message : String(error);
    // Not the client's bytes but this code: said so, with the stack for whoever fixes it.
    const reason = expected ? message : `the capture failed: ${message}`;
    this.#refused = reason;
    const fields = { session: this.session.id, resource: this.session.resource, atByte: this.atByte };
    try {
      this.options.log.warn(
        `ended the session at bytes it cannot record: ${reason}`,
        expected ? fields : { ...fields, error: error instanceof Error ? error.stack : message },
      );
      this.add(this.unrecordableEntry(this.subject(), reason, this.atByte));
    } catch {
      // Logging and the audit buffer do not throw; if they ever do, the session still ends.
    }
    return reason;
  }
}
